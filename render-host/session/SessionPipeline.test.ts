import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import type { GameInputMessage } from '../games/index.js';
import type { MediaSource, SourceVideoFrame } from './MediaSource.js';
import { SessionPipeline } from './SessionPipeline.js';
import { StreamReceiver } from './testing/receiveStream.js';
import type { StreamStats } from './workerMessages.js';

/** A picture source that counts its captures (each one a render + read-out + colour conversion in a real game). */
class CountingSource implements MediaSource {
  readonly hasAudio = false;
  readonly lastInputSeq = 0;
  captures = 0;
  readonly #pixels: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    readonly fps: number,
  ) {
    this.#pixels = new Uint8Array(width * height * 4).fill(96);
  }

  applyInput(_message: GameInputMessage): void {}
  tick(): void {}
  captureVideo(): SourceVideoFrame {
    this.captures += 1;
    // A moving bar: every frame differs.
    const row = (this.captures * 8) % this.height;
    this.#pixels.fill(this.captures & 255, row * this.width * 4, (row + 8) * this.width * 4);
    return { pixels: this.#pixels, layout: 'rgba', width: this.width, height: this.height };
  }
  readAudio(out: Int16Array): void {
    out.fill(0);
  }
  snapshot(): undefined {
    return undefined;
  }
  async close(): Promise<void> {}
}

describe('SessionPipeline', () => {
  test('a frame the encoder cannot take in time is dropped unrendered: every capture is encoded and sent', async () => {
    // 1080p at 240 fps: a tick every 4.2 ms, far quicker than x264 encodes 1080p on any CPU. Above 720p60 x264
    // encodes on the pool: the encoder is busy at most ticks, so most frames are dropped.
    const source = new CountingSource(1920, 1080, 240);
    const stats: Array<{ stats: StreamStats; captures: number }> = [];
    let resolveOffer: (sdp: string) => void = () => undefined;
    const offer = new Promise<string>((resolve) => {
      resolveOffer = resolve;
    });
    const pipeline = new SessionPipeline({
      source,
      encoder: { prefer: 'x264', minBitrateBps: 2_000_000, startBitrateBps: 4_000_000, maxBitrateBps: 4_000_000 },
      audioBitrateBps: 64_000,
      avSync: false,
      ice: {},
      statsIntervalMs: 500,
      connectTimeoutMs: 30_000,
      reconnectGraceMs: 0,
      events: {
        offer: (sdp) => resolveOffer(sdp),
        ice: () => undefined,
        connected: () => undefined,
        // Captured at the same moment: at most the frame in the encoder is captured and not yet sent.
        stats: (s) => stats.push({ stats: s, captures: source.captures }),
        ended: () => undefined,
      },
      log: pino({ level: 'silent' }),
    });
    let receiver: StreamReceiver | undefined;
    try {
      await pipeline.negotiate(['H264']);
      const connected = await StreamReceiver.connect({ offerSdp: await offer, codecs: ['H264'] });
      receiver = connected.receiver;
      await pipeline.acceptAnswer(connected.answerSdp);
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && !stats.some(({ stats: s }) => s.framesSent >= 20 && s.framesDropped >= 20)) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const last = stats.at(-1);
      assert.ok(last, 'no stats');
      const summary = JSON.stringify({
        captures: last.captures,
        framesSent: last.stats.framesSent,
        framesDropped: last.stats.framesDropped,
        framesDroppedEncoderBusy: last.stats.framesDroppedEncoderBusy,
      });
      assert.ok(last.stats.framesDroppedEncoderBusy >= 20, `the encoder was not busy enough: ${summary}`);
      assert.ok(last.captures <= last.stats.framesSent + 1, `dropped frames were rendered: ${summary}`);
      assert.ok(last.stats.framesSent >= 20, summary);
    } finally {
      await pipeline.close();
      await receiver?.close();
    }
  });
});
