/**
 * One StreamSession (Neon Drift, H.264), driven over stdio as JSON lines — run by runShapedStream.ts inside the
 * sender's network namespace of a shaped link. Out: `{type:'offer',sdp}`, `{type:'stats',stats}`,
 * `{type:'ended',reason}`. In: `{type:'answer',sdp}`, `{type:'close'}`.
 */
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { StreamSession } from '../StreamSession.js';

const log = pino({ level: 'warn' }, pino.destination(2));
const send = (message: unknown) => process.stdout.write(`${JSON.stringify(message)}\n`);

const session = await StreamSession.start({
  sessionId: `0x${'7'.repeat(64)}`,
  game: 'neon-drift',
  codecs: ['H264'],
  encoder: { prefer: 'x264', minBitrateBps: 300_000, startBitrateBps: 4_000_000, maxBitrateBps: 4_000_000 },
  avSync: false,
  reconnectGraceMs: 0,
  log,
});
session.on('offer', (sdp) => send({ type: 'offer', sdp }));
session.on('stats', (stats) => send({ type: 'stats', atMs: Date.now(), stats }));
session.on('ended', (reason) => send({ type: 'ended', reason }));

let closing = false;
const close = async () => {
  if (closing) return;
  closing = true;
  await session.close('player-quit');
  process.exit(0);
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void close());
process.stdin.on('end', () => void close());

for await (const line of createInterface({ input: process.stdin })) {
  const message = JSON.parse(line) as { type: string; sdp?: string };
  if (message.type === 'answer' && message.sdp) {
    await session.acceptAnswer(message.sdp);
  } else if (message.type === 'close') {
    await close();
  }
}
