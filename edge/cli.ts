/**
 * `ath-edge` — the node you run. One command per role; `all` runs the whole network on this machine.
 * Console output is for people (what runs, where to look); the roles' structured logs go to pino.
 */
// First: sets the native allocators' options, which they read once, when they load.
import '../render-host/nativeAllocatorDefaults.js';
import type { Logger } from 'pino';
import { isAthError } from '../signaling/protocol/index.js';
import { runDeployCommand } from './chain/runDeployCommand.js';
import type { EdgeConfig } from './config/EdgeConfig.js';
import { loadEdgeConfig } from './config/loadEdgeConfig.js';
import { createLogger } from './logging/createLogger.js';
import { runProviderCommand } from './provider/runProviderCommand.js';
import type { RoleHandle } from './roles/RoleHandle.js';
import { runChecker } from './roles/runChecker.js';
import { runRenderHost } from './roles/runRenderHost.js';
import { runSignaling } from './roles/runSignaling.js';
import { stopOnSignals } from './roles/stopOnSignals.js';
import type { RoleProcessMessage } from './stack/RoleProcess.js';
import { runStackCommand } from './stack/runStackCommand.js';

const USAGE = `ath-edge <command> [flags]

Commands:
  all            run the whole network on this machine: signaling, render host(s), and print where to play
  signaling      run the indexer (signaling WebSocket + HTTP API)
  render-host    run a render host and join a signaling server (--signaling http://host:port)
  provider join  become a paid provider: key, stake for the GPU tier, a render host serving (--signaling URL)
  provider status  slots, sessions, quality score, earnings, stake and slashes (\`provider help\` for flags)
  checker        run a checker node (own wallet) that probes and reports on containers (--signaling URL)
  deploy         deploy the escrow and staking contracts (--network arbitrum-sepolia|arbitrum-one|anvil
                 --rpc URL --key FILE [--token ADDRESS]) and print them as config (\`deploy --help\`)
  help           this text

Flags (any command):
  --config FILE          JSON config (see README); env ATH_EDGE_CONFIG
  --set path=value       any setting, e.g. --set renderHost.slots=4
  --port N               signaling HTTP port (default 8080)
  --slots N              render host slots (default 2)
  --signaling URL        signaling server to join (render-host)
  --log-level LEVEL      fatal|error|warn|info|debug|trace|silent
  --log-file FILE        write the JSON log there instead of stdout
  --data-dir DIR         keys, logs and the embedded ledger (default .ath-edge)
Environment: ATH_EDGE_<SECTION>__<SETTING>=value (e.g. ATH_EDGE_SIGNALING__HTTP_PORT=9000).`;

type RoleRunner = (params: {
  config: EdgeConfig;
  log: Logger;
  clientDir: string | undefined;
}) => Promise<RoleHandle<unknown>>;

const ROLES: Record<string, RoleRunner> = {
  signaling: runSignaling,
  'render-host': runRenderHost,
  checker: runChecker,
};

/** Removes a CLI-only flag (not part of EdgeConfig) from argv and returns its value. */
function takeFlag(args: string[], name: string): string | undefined {
  const index = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (index < 0) return undefined;
  const [flag] = args.splice(index, 1);
  if (flag?.includes('=')) return flag.slice(name.length + 1);
  return args.splice(index, 1)[0];
}

async function runRole(role: string, runner: RoleRunner, args: string[]): Promise<void> {
  const logFile = takeFlag(args, '--log-file');
  const clientDir = takeFlag(args, '--client-dir');
  const config = loadEdgeConfig({ flags: args, env: process.env });
  const log = createLogger({ level: config.logLevel, role, ...(logFile ? { file: logFile } : {}) });
  let handle: RoleHandle<unknown>;
  try {
    handle = await runner({ config, log, clientDir });
  } catch (error) {
    log.fatal({ err: error }, `${role} failed to start`);
    process.send?.({
      type: 'failed',
      message: error instanceof Error ? error.message : String(error),
    } satisfies RoleProcessMessage);
    throw error;
  }
  log.info({ info: handle.info }, `${role} ready`);
  if (process.send) process.send({ type: 'ready', info: handle.info } satisfies RoleProcessMessage);
  else console.log(`${role} ready: ${JSON.stringify(handle.info)}`);

  const stop = stopOnSignals({ handle, log, what: role });
  process.on('message', (message: { type?: string }) => {
    if (message?.type === 'shutdown') void stop('asked by parent');
  });
  // The parent is gone (crashed or killed): do not linger as an orphan.
  process.on('disconnect', () => void stop('parent went away'));
}

async function main(argv: string[]): Promise<void> {
  const [command = 'help', ...args] = argv;
  if (command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return;
  }
  if (command === 'provider') {
    await runProviderCommand(args);
    return;
  }
  if (command === 'all') {
    await runStackCommand(args);
    return;
  }
  if (command === 'deploy') {
    await runDeployCommand(args);
    return;
  }
  const runner = ROLES[command];
  if (!runner) {
    console.error(`unknown command \`${command}\`\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  await runRole(command, runner, args);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (isAthError(error)) console.error(`ath-edge: ${error.message}${error.code ? ` [${error.code}]` : ''}`);
  else console.error(error);
  process.exit(1);
});
