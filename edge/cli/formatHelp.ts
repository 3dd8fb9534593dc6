/** The `--help` texts, built from the command tables (so they cannot drift from what the parser accepts). */
import type { CliCommand, FlagSpec, FlagTable } from './defineCommand.js';

/** Flags every command takes. */
export const GLOBAL_FLAGS = {
  help: { type: 'boolean', short: 'h', help: 'show this help and exit' },
  version: { type: 'boolean', help: 'print the version and exit' },
} as const satisfies FlagTable;

const COLUMN = 26;

function flagLine(name: string, spec: FlagSpec): string {
  const left = `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.value ? ` ${spec.value}` : ''}`;
  const help = spec.multiple ? `${spec.help} (repeatable)` : spec.help;
  return left.length + 2 < COLUMN ? `  ${left.padEnd(COLUMN - 2)}${help}` : `  ${left}\n${' '.repeat(COLUMN)}${help}`;
}

function flagLines(table: FlagTable): string[] {
  return Object.entries(table)
    .filter(([, spec]) => !spec.hidden)
    .map(([name, spec]) => flagLine(name, spec));
}

function commandLines(commands: readonly CliCommand[], prefix: readonly string[]): string[] {
  return commands.map((command) => {
    const name = command.path.slice(prefix.length).join(' ');
    return name.length + 2 < COLUMN - 2
      ? `  ${name.padEnd(COLUMN - 2)}${command.summary}`
      : `  ${name}\n${' '.repeat(COLUMN)}${command.summary}`;
  });
}

export type FormatHelpParameters = {
  command: CliCommand;
  /** The configuration flags (--config, --set and the shorthands), shown when the command takes them. */
  configFlags: FlagTable;
};

/** `ath-edge <command> --help`. */
export function formatCommandHelp({ command, configFlags }: FormatHelpParameters): string {
  const own = flagLines(command.flags);
  const lines = [`Usage: ath-edge ${command.path.join(' ')}${own.length > 0 || command.config ? ' [flags]' : ''}`, ''];
  lines.push(command.description ?? command.summary, '');
  if (own.length > 0) lines.push('Flags:', ...own, '');
  if (command.config) {
    lines.push('Configuration (also from a --config file and ATH_EDGE_<SECTION>__<SETTING> env; see README):');
    lines.push(...flagLines(configFlags), '');
  }
  lines.push(...flagLines(GLOBAL_FLAGS));
  return lines.join('\n');
}

/** `ath-edge provider --help`: a group's subcommands. */
export function formatGroupHelp(group: string, commands: readonly CliCommand[]): string {
  return [
    `Usage: ath-edge ${group} <command> [flags]`,
    '',
    'Commands:',
    ...commandLines(commands, [group]),
    '',
    `Run \`ath-edge ${group} <command> --help\` for a command's flags.`,
  ].join('\n');
}

/** `ath-edge --help`. */
export function formatOverview(commands: readonly CliCommand[]): string {
  return [
    'Usage: ath-edge <command> [flags]',
    '',
    'Run a node of the ath-edge network: the whole network on this machine, or one role of it.',
    '',
    'Commands:',
    ...commandLines(commands, []),
    `  ${'help [command]'.padEnd(COLUMN - 2)}this text, or a command's`,
    '',
    ...flagLines(GLOBAL_FLAGS),
    '',
    "Run `ath-edge <command> --help` for a command's flags.",
    'Exit status: 0 done, 1 failed while running, 2 wrong command line or configuration.',
  ].join('\n');
}
