/**
 * Every `ath-edge` command, in the order `ath-edge --help` lists them. A command's own flags are one table
 * in its definition; the configuration flags every node command takes are in `configFlags.ts`.
 */
import { DEPLOY_COMMAND } from '../chain/deployCommand.js';
import { PROVIDER_COMMANDS } from '../provider/providerCommands.js';
import { runChecker } from '../roles/runChecker.js';
import { runRenderHost } from '../roles/runRenderHost.js';
import { runSignaling } from '../roles/runSignaling.js';
import { type RoleRunner, serveRole } from '../roles/serveRole.js';
import { runStackCommand } from '../stack/runStackCommand.js';
import { type CliCommand, defineCommand } from './defineCommand.js';

/** The flags of a single role process (the dev stack passes them to its children). */
const ROLE_FLAGS = {
  'log-file': { type: 'string', value: 'FILE', help: 'write the JSON log there instead of stdout' },
  'client-dir': { type: 'string', value: 'DIR', hidden: true, help: 'serve this client build (the dev stack)' },
} as const;

function roleCommand(role: string, runner: RoleRunner, summary: string, description: string): CliCommand {
  return defineCommand({
    path: [role],
    summary,
    description,
    flags: ROLE_FLAGS,
    config: true,
    run: ({ flags, loadConfig, print }) =>
      serveRole({
        role,
        runner,
        config: loadConfig(),
        logFile: flags['log-file'],
        clientDir: flags['client-dir'],
        print,
      }),
  });
}

export const COMMANDS: readonly CliCommand[] = [
  defineCommand({
    path: ['all'],
    summary: 'run the whole network on this machine and print where to play',
    description: `Runs the whole network on this machine, each role in its own process: an anvil chain with the
contracts, the signaling server with the economy, render host(s) (\`--render-hosts N\`), checker nodes, and
the player page. Prints where to play, the metrics and the logs; Ctrl-C stops everything.`,
    flags: {},
    config: true,
    run: ({ loadConfig }) => runStackCommand({ config: loadConfig() }),
  }),
  roleCommand(
    'signaling',
    runSignaling,
    'run the indexer (signaling WebSocket + HTTP API, with the economy)',
    'Runs the indexer: WebSocket signaling, the HTTP API, matchmaking and, unless --network none, the economy.',
  ),
  roleCommand(
    'render-host',
    runRenderHost,
    'run a render host and join a signaling server (--signaling URL)',
    'Runs a render host (the container) and registers it with the signaling server named by --signaling.',
  ),
  roleCommand(
    'checker',
    runChecker,
    'run a checker node that probes containers and signs reports (--signaling URL)',
    'Runs a checker node with its own wallet (.ath-edge/keys/) that probes containers and signs CheckReports.',
  ),
  ...PROVIDER_COMMANDS,
  DEPLOY_COMMAND,
];
