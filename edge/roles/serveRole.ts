import type { Logger } from 'pino';
import type { EdgeConfig } from '../config/EdgeConfig.js';
import { createLogger } from '../logging/createLogger.js';
import type { RoleProcessMessage } from '../stack/RoleProcess.js';
import type { RoleHandle } from './RoleHandle.js';
import { stopOnSignals } from './stopOnSignals.js';

export type RoleRunner = (params: {
  config: EdgeConfig;
  log: Logger;
  clientDir: string | undefined;
}) => Promise<RoleHandle<unknown>>;

export type ServeRoleParameters = {
  role: string;
  runner: RoleRunner;
  config: EdgeConfig;
  /** The JSON log goes there instead of stdout. */
  logFile: string | undefined;
  /** signaling: serve this client build (the dev stack builds it once for all roles). */
  clientDir: string | undefined;
  print: (line: string) => void;
};

/**
 * Starts one role in this process and keeps it serving until SIGINT/SIGTERM, the parent's `shutdown`, or the
 * parent going away. Under the dev stack (an IPC channel to the parent) it reports `ready` or `failed` there.
 */
export async function serveRole({
  role,
  runner,
  config,
  logFile,
  clientDir,
  print,
}: ServeRoleParameters): Promise<void> {
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
  else print(`${role} ready: ${JSON.stringify(handle.info)}`);

  const stop = stopOnSignals({ handle, log, what: role });
  process.on('message', (message: { type?: string }) => {
    if (message?.type === 'shutdown') void stop('asked by parent');
  });
  // The parent is gone (crashed or killed): do not linger as an orphan.
  process.on('disconnect', () => void stop('parent went away'));
}
