/**
 * Stopping session workers while FFmpeg work of theirs is on the thread pool. node-av's async calls
 * (sendFrame/receivePacket) complete on the worker's event loop; a worker torn down with one in flight runs
 * that completion inside FreeEnvironment, node-av throws into the dead environment and the whole process
 * aborts (`FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw`) — every other session with it. On a
 * loaded machine a worker that takes longer than the close timeout to close on its own is stopped from
 * outside; `closeTimeoutMs: 0` makes that happen every time, mid-stream. If this file's process survives, the
 * teardown waited for the native work. No timing assertions.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import type { CodecName } from '../../signaling/protocol/index.js';
import { SessionWorkerPool, StreamSession } from './index.js';
import { StreamReceiver } from './testing/receiveStream.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const encoder = {
  prefer: 'auto',
  minBitrateBps: 500_000,
  startBitrateBps: 3_000_000,
  maxBitrateBps: 6_000_000,
} as const;
let nextId = 1;
const sessionId = () => `0x${(0x7ea4d000 + nextId++).toString(16).padStart(64, '0')}`;
const CYCLES = 8;

describe('session workers stopped mid-encode', () => {
  const pool = new SessionWorkerPool({ size: 1, log });
  const receivers: StreamReceiver[] = [];
  after(async () => {
    for (const receiver of receivers) await receiver.close();
    await pool.close();
  });

  test(`${CYCLES} streaming sessions stopped from outside with no grace: the process lives on`, async () => {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const codec: CodecName = cycle % 2 === 0 ? 'H264' : 'VP8';
      const session = await StreamSession.start({
        sessionId: sessionId(),
        game: 'neon-drift',
        codecs: [codec],
        encoder,
        pool,
        closeTimeoutMs: 0,
        log,
      });
      const offer = await new Promise<string>((resolve) => session.once('offer', resolve));
      const { receiver, answerSdp } = await StreamReceiver.connect({ offerSdp: offer, codecs: [codec] });
      receivers.push(receiver);
      await session.acceptAnswer(answerSdp);
      await receiver.waitFor('frames', () => receiver.video.framesComplete >= 10, 30_000);
      // Encoding (video every frame, audio every 20 ms) right now: stop it.
      await session.close();
      assert.equal(session.closed, true);
      await receiver.close();
    }
    // Stopped from outside, never closed cleanly: none of them went back to the pool for another session.
    assert.equal(pool.reused, 0);
  });

  test('sessions stopped while their worker starts, and a pool closed while it boots', async () => {
    for (let cycle = 0; cycle < 3; cycle++) {
      const session = await StreamSession.start({
        sessionId: sessionId(),
        game: 'neon-drift',
        codecs: ['H264'],
        encoder,
        pool,
        closeTimeoutMs: 0,
        log,
      });
      await session.close();
      assert.equal(session.closed, true);
    }
    const booting = new SessionWorkerPool({ size: 2, log });
    await booting.close();
    assert.equal(booting.idle, 0);
  });
});
