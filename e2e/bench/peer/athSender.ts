/**
 * bench:peer's ath-edge sender, a process of its own (its CPU is what is measured): the recorded clip as a
 * MediaSource through the render host's SessionPipeline — the product's path: 60 Hz clock, RGBA → NV12
 * (WebAssembly SIMD, the clip read straight into the converter's input as the X11 capture grabs into it) and
 * libx264 (node-av), werift packetizer, pacer, SRTP. Driven over stdio as JSON lines, like gstSender.py:
 * out `{type:'offer'|'ice'|'sent'}`, in `{type:'answer'|'ice'|'close'}`. `sent` also carries this process's GC
 * pauses (Unix ms, duration ms), which the bench counts over its window.
 *
 *   node --import tsx e2e/bench/peer/athSender.ts <frame pattern dir> <frames> <bitrate bps>
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import type { GameInputMessage } from '../../../render-host/games/index.js';
import type { MediaSource, SourceVideoFrame } from '../../../render-host/session/MediaSource.js';
import { SessionPipeline } from '../../../render-host/session/SessionPipeline.js';
import type { IceCandidateInit } from '../../../signaling/protocol/index.js';

const [directory = '', framesArg = '120', bitrateArg = '4000000'] = process.argv.slice(2);
const FRAMES = Number(framesArg);
const BITRATE_BPS = Number(bitrateArg);
const WIDTH = 1280;
const HEIGHT = 720;
const FPS = 60;

/** Reads frame i of the clip from its file at each capture (as GStreamer's multifilesrc does), in a loop. */
class ClipMediaSource implements MediaSource {
  readonly width = WIDTH;
  readonly height = HEIGHT;
  readonly fps = FPS;
  readonly hasAudio = false;
  readonly lastInputSeq = 0;
  readonly #buffers = [new Uint8Array(WIDTH * HEIGHT * 4), new Uint8Array(WIDTH * HEIGHT * 4)];
  #next = 0;
  #tick = 0;
  applyInput(_message: GameInputMessage): void {}
  tick(): void {
    this.#tick += 1;
  }
  /** Into the encoder's input when it offers one, as the X11 capture does. */
  captureVideo(into?: Uint8Array): SourceVideoFrame {
    const pixels = into ?? (this.#buffers[this.#next] as Uint8Array);
    this.#next = 1 - this.#next;
    const fd = openSync(join(directory, `frame${String(this.#tick % FRAMES).padStart(5, '0')}.rgba`), 'r');
    try {
      readSync(fd, pixels, 0, pixels.byteLength, 0);
    } finally {
      closeSync(fd);
    }
    return { pixels, layout: 'rgba', width: WIDTH, height: HEIGHT };
  }
  readAudio(out: Int16Array): void {
    out.fill(0);
  }
  snapshot(): undefined {
    return undefined;
  }
  async close(): Promise<void> {}
}

const send = (message: unknown) => process.stdout.write(`${JSON.stringify(message)}\n`);
const sent: Array<[number, number]> = [];
const gcPauses: Array<[number, number]> = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcPauses.push([performance.timeOrigin + entry.startTime, entry.duration]);
  }
});
gcObserver.observe({ entryTypes: ['gc'] });
const pipeline = new SessionPipeline({
  source: new ClipMediaSource(),
  // A fixed rate, as x264enc's bitrate= on the GStreamer side.
  encoder: { prefer: 'x264', minBitrateBps: BITRATE_BPS, startBitrateBps: BITRATE_BPS, maxBitrateBps: BITRATE_BPS },
  audioBitrateBps: 64_000,
  avSync: false,
  ice: {},
  statsIntervalMs: 1000,
  connectTimeoutMs: 30_000,
  reconnectGraceMs: 0,
  events: {
    offer: (sdp) => send({ type: 'offer', sdp }),
    ice: (candidate) => {
      if (candidate) send({ type: 'ice', candidate });
    },
    connected: () => undefined,
    stats: () => undefined,
    ended: (reason) => send({ type: 'ended', reason }),
    frameSent: (rtpTimestamp, atMs) => {
      sent.push([rtpTimestamp, atMs]);
    },
  },
  log: pino({ level: 'warn' }, pino.destination(2)),
});
await pipeline.negotiate(['H264']);

for await (const line of createInterface({ input: process.stdin })) {
  const message = JSON.parse(line) as { type: string; sdp?: string; candidate?: IceCandidateInit };
  if (message.type === 'answer' && message.sdp) await pipeline.acceptAnswer(message.sdp);
  else if (message.type === 'ice' && message.candidate) await pipeline.addIceCandidate(message.candidate);
  else if (message.type === 'close') break;
}
gcObserver.disconnect();
send({ type: 'sent', frames: sent, gcPauses });
await pipeline.close();
process.exit(0);
