/**
 * Reads `ath-edge`'s command line with `node:util` parseArgs, strictly: an unknown command or flag, a flag
 * without its value, a value on a switch or a stray argument is a usage error (ATH_ERR_USAGE, exit status 2).
 */
import { parseArgs } from 'node:util';
import { AthError } from '../../signaling/protocol/index.js';
import type { ConfigSetting } from '../config/loadEdgeConfig.js';
import { EdgeErrorCode } from '../errors.js';
import { CONFIG_FILE_FLAGS, CONFIG_FLAGS, configSettingsFrom, type OptionToken } from './configFlags.js';
import type { CliCommand, FlagTable } from './defineCommand.js';
import { formatCommandHelp, formatGroupHelp, formatOverview, GLOBAL_FLAGS } from './formatHelp.js';

type ParsedFlag = string | boolean | string[] | undefined;

export type CommandLine =
  /** Print `text` on stdout and exit 0 (`--help`, `help`, `--version`). */
  | { kind: 'print'; text: string }
  | {
      kind: 'run';
      command: CliCommand;
      flags: Record<string, ParsedFlag>;
      configFile: string | undefined;
      settings: ConfigSetting[];
    };

export type ParseCommandLineParameters = {
  argv: readonly string[];
  commands: readonly CliCommand[];
  version: string;
};

/** Every configuration flag: `--config`, `--set` and the shorthands. */
export const ALL_CONFIG_FLAGS: FlagTable = { ...CONFIG_FILE_FLAGS, ...CONFIG_FLAGS };

function usageError(shortMessage: string, helpCommand = 'ath-edge --help'): AthError {
  return new AthError({ code: EdgeErrorCode.usage, shortMessage, details: `see \`${helpCommand}\`` });
}

/** Finds the longest command path the arguments start with; a group word (`provider`) alone is `group`. */
function resolve(
  words: readonly string[],
  commands: readonly CliCommand[],
): { command?: CliCommand; group?: string; consumed: number } {
  const first = words[0];
  if (first === undefined) return { consumed: 0 };
  const exact = commands.find((c) => c.path.length === 1 && c.path[0] === first);
  if (exact) return { command: exact, consumed: 1 };
  const members = commands.filter((c) => c.path.length === 2 && c.path[0] === first);
  if (members.length === 0) return { consumed: 0 };
  const second = words[1];
  const sub = members.find((c) => c.path[1] === second);
  return sub ? { command: sub, consumed: 2 } : { group: first, consumed: 1 };
}

function asksFor(flag: '--help' | '--version', args: readonly string[]): boolean {
  const end = args.indexOf('--');
  const before = end < 0 ? args : args.slice(0, end);
  return before.includes(flag) || (flag === '--help' && before.includes('-h'));
}

function toParseArgsOptions(table: FlagTable) {
  return Object.fromEntries(
    Object.entries(table).map(([name, spec]) => [
      name,
      { type: spec.type, ...(spec.multiple ? { multiple: true } : {}), ...(spec.short ? { short: spec.short } : {}) },
    ]),
  );
}

/** What the command line asks for; throws ATH_ERR_USAGE when it is not a valid `ath-edge` command line. */
export function parseCommandLine({ argv, commands, version }: ParseCommandLineParameters): CommandLine {
  const [first] = argv;
  if (first === undefined) {
    throw new AthError({
      code: EdgeErrorCode.usage,
      shortMessage: 'no command given',
      details: formatOverview(commands),
    });
  }
  if (first === '--version') return { kind: 'print', text: `ath-edge ${version}` };
  if (first === '--help' || first === '-h') return { kind: 'print', text: formatOverview(commands) };
  if (first === 'help') {
    const rest = argv.slice(1);
    if (rest.length === 0) return { kind: 'print', text: formatOverview(commands) };
    const { command, group, consumed } = resolve(rest, commands);
    if (consumed < rest.length || (!command && !group)) throw usageError(`no command \`${rest.join(' ')}\``);
    return { kind: 'print', text: helpFor(command, group, commands) };
  }
  if (first.startsWith('-')) throw usageError(`a command comes first, not the flag ${first}`);

  const { command, group, consumed } = resolve(argv, commands);
  const args = argv.slice(consumed);
  if (!command) {
    if (!group) throw usageError(`unknown command \`${first}\``);
    if (asksFor('--help', args)) return { kind: 'print', text: helpFor(undefined, group, commands) };
    const sub = args[0];
    throw usageError(
      sub === undefined || sub.startsWith('-') ? `\`${group}\` needs a command` : `unknown command \`${group} ${sub}\``,
      `ath-edge ${group} --help`,
    );
  }
  if (asksFor('--help', args)) return { kind: 'print', text: helpFor(command, undefined, commands) };
  if (asksFor('--version', args)) return { kind: 'print', text: `ath-edge ${version}` };

  const table: FlagTable = { ...command.flags, ...(command.config ? ALL_CONFIG_FLAGS : {}) };
  const helpCommand = `ath-edge ${command.path.join(' ')} --help`;
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...args],
      options: { ...toParseArgsOptions(table), ...toParseArgsOptions(GLOBAL_FLAGS) },
      strict: true,
      allowPositionals: false,
      tokens: true,
    });
  } catch (error) {
    throw usageError(parseArgsMessage(error), helpCommand);
  }
  const tokens = (parsed.tokens ?? []).filter((t): t is OptionToken & typeof t => t.kind === 'option');
  const flags: Record<string, ParsedFlag> = {};
  for (const name of Object.keys(command.flags)) flags[name] = parsed.values[name] as ParsedFlag;
  let settings: ConfigSetting[] = [];
  if (command.config) {
    try {
      settings = configSettingsFrom(tokens);
    } catch (error) {
      throw error instanceof AthError ? usageError(error.shortMessage, helpCommand) : error;
    }
  }
  const configFile = command.config ? (parsed.values.config as string | undefined) : undefined;
  return { kind: 'run', command, flags, configFile, settings };
}

function helpFor(command: CliCommand | undefined, group: string | undefined, commands: readonly CliCommand[]): string {
  if (command) return formatCommandHelp({ command, configFlags: ALL_CONFIG_FLAGS });
  const members = commands.filter((c) => c.path[0] === group && c.path.length === 2);
  return formatGroupHelp(group ?? '', members);
}

/** parseArgs' own messages, in this CLI's words (`--port` rather than `'--port <value>'`). */
function parseArgsMessage(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const option = /'(-[^' ]+)/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${option ?? message}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument \`${/'([^']*)'/.exec(message)?.[1] ?? message}\``;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /does not take an argument/.test(message)
        ? `${option ?? 'a switch'} takes no value`
        : `${option ?? 'a flag'} needs a value`;
    default:
      return message;
  }
}
