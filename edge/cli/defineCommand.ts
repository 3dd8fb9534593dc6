/**
 * The shape of an `ath-edge` command: its words, its flags as one table, and what it runs. The parser
 * (`parseCommandLine`, on `node:util` parseArgs), the help text (`formatHelp`) and the flag values' types all
 * come from that table, so adding a flag is one line in it.
 */
import type { EdgeConfig } from '../config/EdgeConfig.js';

export type FlagSpec = {
  type: 'string' | 'boolean';
  /** One line for `--help`. */
  help: string;
  /** The value's placeholder in `--help` (`URL`, `FILE`, `N`); string flags only. */
  value?: string;
  /** May be given more than once; the values arrive as a list, in command-line order. */
  multiple?: boolean;
  /** A one-letter alias (`-h`). */
  short?: string;
  /** Left out of `--help` (internal: set by the dev stack for its child processes). */
  hidden?: boolean;
};

export type FlagTable = Readonly<Record<string, FlagSpec>>;

type FlagValue<S extends FlagSpec> = S['type'] extends 'boolean'
  ? boolean | undefined
  : S['multiple'] extends true
    ? string[] | undefined
    : string | undefined;

/** The parsed values of a flag table: `--dry-run` → `flags['dry-run']`, typed by the table. */
export type FlagValues<F extends FlagTable> = { readonly [K in keyof F]: FlagValue<F[K]> };

export type CommandContext<F extends FlagTable> = {
  flags: FlagValues<F>;
  /**
   * The node's configuration (defaults ← `--config` file or ATH_EDGE_CONFIG ← environment ← configuration
   * flags in command-line order); only for commands with `config: true`. Throws ATH_ERR_CONFIG.
   */
  loadConfig: () => EdgeConfig;
  env: Readonly<Record<string, string | undefined>>;
  /** Standard output, for people (a line at a time). */
  print: (line: string) => void;
};

export type CliCommand<F extends FlagTable = FlagTable> = {
  /** The words after `ath-edge`: `['provider', 'join']`. */
  path: readonly string[];
  /** One line for the command list. */
  summary: string;
  /** A paragraph for the command's `--help`. */
  description?: string;
  flags: F;
  /** Takes the configuration flags (`--config`, `--set`, `--port`, …; `edge/cli/configFlags.ts`). */
  config: boolean;
  /** Resolves once the command has done its work — or, for a server, once it is serving. */
  run: (context: CommandContext<F>) => Promise<void>;
};

/** Keeps a command's flag table as written, so `run` sees `flags` typed by it. */
export function defineCommand<const F extends FlagTable>(command: CliCommand<F>): CliCommand {
  return command as unknown as CliCommand;
}
