import type { Logger } from 'pino';

/** Longer than any role needs to close cleanly; past it the process exits anyway, with status 1. */
const FORCE_EXIT_MS = 6_000;

/**
 * Closes `handle` once, then exits, on SIGINT or SIGTERM — or when the returned function is called (a parent
 * asking, a parent gone). A close that hangs is cut short after 6 s with exit status 1.
 */
export function stopOnSignals({
  handle,
  log,
  what,
}: {
  handle: { close(): Promise<void> };
  log: Logger;
  what: string;
}): (why: string) => Promise<void> {
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, `${what} shutting down`);
    const force = setTimeout(() => process.exit(1), FORCE_EXIT_MS);
    force.unref();
    try {
      await handle.close();
    } finally {
      log.flush?.();
      process.exit(0);
    }
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  return stop;
}
