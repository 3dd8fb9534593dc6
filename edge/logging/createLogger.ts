import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type LevelWithSilent, type Logger, pino } from 'pino';

/** Paths pino must never print: tokens and signatures are credentials (or look like them in logs). */
export const REDACTED_PATHS = [
  'token',
  '*.token',
  'req.headers.authorization',
  'req.headers["sec-websocket-protocol"]',
  'signature',
  '*.signature',
  'privateKey',
  '*.privateKey',
  'apiKey',
  '*.apiKey',
  // TURN: per-session credentials (in session / start-session / check-assignment) and coturn's shared secret.
  'credential',
  '*.credential',
  'iceServers[*].credential',
  '*.iceServers[*].credential',
  '*.*.iceServers[*].credential',
  'secret',
  '*.secret',
  '*.*.secret',
];

export type CreateLoggerParameters = {
  level: LevelWithSilent;
  /** Role name, on every line. */
  role: string;
  /** Write JSON lines to this file instead of stdout (the dev stack keeps one file per role). */
  file?: string;
};

export function createLogger({ level, role, file }: CreateLoggerParameters): Logger {
  const options = { level, base: { role, pid: process.pid }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  if (!file) return pino(options);
  mkdirSync(dirname(file), { recursive: true });
  return pino(options, pino.destination({ dest: file, sync: false, mkdir: true }));
}
