/**
 * Is the stream alive? What the browser decoded over a window of a few seconds, one stats sample a second (the
 * SDK's sampler), judged as behaviour — frames keep decoding in every second, audio keeps arriving — not as a
 * speed: the frame rate a box reaches is the benches' business (`npm run bench:stream` holds the 58 fps target),
 * and a CI box half as fast as ours decodes ≈ 24 fps of the same stream. The rate is printed as a diagnostic.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright';
import type { StatsSample } from '../../client/index.js';
import { nextStats } from './playerPage.js';

/**
 * The least a live stream decodes in any one second of the window. The host sends 60 fps; a CI box half as
 * fast as ours decodes ≈ 21–24 a second. Below 5 the picture is a slideshow (or a stall that the next second
 * hides), which is broken on any box.
 */
export const MIN_LIVE_FPS = 5;

export type StreamWindow = {
  /** One sample a second, the first at the start of the window. */
  samples: StatsSample[];
  /** Frames decoded in each interval between samples, and the interval's length in seconds. */
  intervals: { frames: number; audioPackets: number; seconds: number }[];
  seconds: number;
  /** Decoded frames a second over the whole window (a diagnostic, never asserted). */
  fps: number;
};

/**
 * Watches the stream for `seconds` seconds of stats samples, from the first sample taken after this call (the
 * sample current at the call may predate the first frame: its interval would hold the stream's set-up).
 */
export async function watchStream(page: Page, seconds = 5): Promise<StreamWindow> {
  const first = await nextStats(page, await page.evaluate(() => performance.now()));
  const samples = [first];
  for (let i = 0; i < seconds; i++) samples.push(await nextStats(page, (samples.at(-1) ?? first).atMs));
  const intervals = samples.slice(1).map((sample, i) => {
    const before = samples[i] ?? first;
    return {
      frames: sample.framesDecoded - before.framesDecoded,
      audioPackets: sample.audioPacketsReceived - before.audioPacketsReceived,
      seconds: (sample.atMs - before.atMs) / 1000,
    };
  });
  const last = samples.at(-1) ?? first;
  const windowSec = (last.atMs - first.atMs) / 1000;
  return { samples, intervals, seconds: windowSec, fps: (last.framesDecoded - first.framesDecoded) / windowSec };
}

/** One line for logs and assertion messages: the overall rate and each second's frames and audio packets. */
export function describeWindow(window: StreamWindow): string {
  const perSecond = window.intervals.map((i) => `${i.frames}/${i.seconds.toFixed(2)}s`).join(' ');
  const audio = window.intervals.map((i) => i.audioPackets).join(' ');
  const last = window.samples.at(-1);
  return (
    `decoded ${window.fps.toFixed(1)} fps over ${window.seconds.toFixed(1)} s ` +
    `(frames per interval: ${perSecond}; audio packets: ${audio}; ${last?.codec} ${last?.width}×${last?.height})`
  );
}

export type AssertStreamFlowsParameters = {
  window: StreamWindow;
  /** What the stream should be, in every sample of the window. */
  codec?: string;
  width?: number;
  height?: number;
  /** Whether an Opus track must keep delivering (every interval). */
  audio?: boolean;
  /** Printed with the figures (e.g. the test's name). */
  label: string;
};

/**
 * The stream flows: every interval of the window decoded frames (≥ MIN_LIVE_FPS a second), at the stated codec
 * and size in every sample, and — when `audio` — Opus packets arrived in every interval. Prints the window's
 * figures either way (the real rate is the diagnostic the old fps floor gave).
 */
export function assertStreamFlows({
  window,
  codec,
  width,
  height,
  audio = false,
  label,
}: AssertStreamFlowsParameters): void {
  const summary = describeWindow(window);
  process.stderr.write(`# ${label}: ${summary}\n`);
  for (const [i, interval] of window.intervals.entries()) {
    assert.ok(
      interval.frames >= MIN_LIVE_FPS * interval.seconds,
      `second ${i + 1} of the window decoded ${interval.frames} frames in ${interval.seconds.toFixed(2)} s: the stream stalled; ${summary}`,
    );
    if (audio) {
      assert.ok(interval.audioPackets > 0, `second ${i + 1} of the window got no Opus packet; ${summary}`);
    }
  }
  // A stalled interval's sample may name no size: the stall is the failure to report, so sizes come second.
  for (const sample of window.samples) {
    if (codec !== undefined) assert.equal(sample.codec, codec, summary);
    if (width !== undefined) assert.equal(sample.width, width, summary);
    if (height !== undefined) assert.equal(sample.height, height, summary);
  }
  if (audio) {
    // Opus sends 50 packets a second (20 ms frames), paced by the clock, not by the CPU.
    const packets = window.intervals.reduce((sum, i) => sum + i.audioPackets, 0);
    assert.ok(packets > 20 * window.seconds, `Opus packets keep arriving: ${packets}; ${summary}`);
  }
}
