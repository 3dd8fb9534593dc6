/**
 * Runs one `ath-edge` command line and says how it ended: 0 done (a server: serving), 1 failed while
 * running, 2 the command line or the configuration is wrong (nothing was started).
 */
import { readFileSync } from 'node:fs';
import { isAthError } from '../../signaling/protocol/index.js';
import { loadEdgeConfig } from '../config/loadEdgeConfig.js';
import { EdgeErrorCode } from '../errors.js';
import type { CliCommand, FlagTable, FlagValues } from './defineCommand.js';
import { parseCommandLine } from './parseCommandLine.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const USAGE_CODES: ReadonlySet<string> = new Set([EdgeErrorCode.usage, EdgeErrorCode.config]);

/** The version in package.json, what `--version` prints. */
export const ATH_EDGE_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export type RunCliParameters = {
  /** The words after `ath-edge`. */
  argv: readonly string[];
  commands: readonly CliCommand[];
  env: Readonly<Record<string, string | undefined>>;
  print?: (line: string) => void;
  printError?: (line: string) => void;
};

export async function runCli({
  argv,
  commands,
  env,
  print = (line) => console.log(line),
  printError = (line) => console.error(line),
}: RunCliParameters): Promise<number> {
  let name = 'ath-edge';
  try {
    const line = parseCommandLine({ argv, commands, version: ATH_EDGE_VERSION });
    if (line.kind === 'print') {
      print(line.text);
      return EXIT_OK;
    }
    name = `ath-edge ${line.command.path.join(' ')}`;
    await line.command.run({
      // The parser built these from the same table the command's `flags` type comes from.
      flags: line.flags as FlagValues<FlagTable>,
      loadConfig: () => loadEdgeConfig({ configFile: line.configFile, settings: line.settings, env }),
      env,
      print,
    });
    return EXIT_OK;
  } catch (error) {
    if (!isAthError(error)) {
      printError(`${name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      return EXIT_FAILED;
    }
    printError(`${name}: ${error.message} [${error.code}]`);
    return USAGE_CODES.has(error.code) ? EXIT_USAGE : EXIT_FAILED;
  }
}
