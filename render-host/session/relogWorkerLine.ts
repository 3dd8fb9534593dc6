import type { Logger } from 'pino';

const PINO_LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/**
 * Re-logs one pino JSON line a worker thread wrote, through the main thread's logger, at its own level
 * (workers log to a string sink: the main thread owns the log file and its bindings).
 */
export function relogWorkerLine(log: Logger, line: string, worker: string): void {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    log.warn({ line }, `unparsable log line from the ${worker}`);
    return;
  }
  const { level, msg, ...fields } = record;
  const method = PINO_LEVELS[typeof level === 'number' ? level : 30] ?? 'info';
  log[method](fields, typeof msg === 'string' ? msg : '');
}
