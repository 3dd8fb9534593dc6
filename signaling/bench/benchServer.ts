/**
 * The signaling process under load for `bench:indexer`: one process, the chosen transport, a secret the
 * bench shares so it can mint player tokens. Prints one JSON line with its URLs, then serves until stdin
 * closes (the bench ends) or a signal arrives.
 */
import { pino } from 'pino';
import { DEFAULT_SIGNALING_SETTINGS } from '../SignalingSettings.js';
import { startSignaling } from '../startSignaling.js';

const transport = process.argv[2] === 'fastify-ws' ? 'fastify-ws' : 'uws';
const secretHex = process.argv[3] ?? '';
const server = await startSignaling({
  transport,
  settings: {
    ...DEFAULT_SIGNALING_SETTINGS,
    tokenSecret: Buffer.from(secretHex, 'hex'),
    // The bench's scripted hosts do not heartbeat on the product's schedule.
    heartbeatIntervalMs: 600_000,
  },
  log: pino({ level: 'silent' }),
});
console.log(JSON.stringify({ wsPlayerUrl: server.wsPlayerUrl, wsNodeUrl: server.wsNodeUrl, pid: process.pid }));
const stop = () => void server.close().finally(() => process.exit(0));
process.stdin.on('end', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
