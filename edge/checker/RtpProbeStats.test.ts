import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { judgeProbe, type ProbeMeasurement } from './judgeProbe.js';
import { RtpProbeStats } from './RtpProbeStats.js';

/** `frames` frames of `perFrame` packets at `fps`, sequence numbers from `firstSeq` (wrapping at 2^16). */
function feed(
  stats: RtpProbeStats,
  {
    frames,
    perFrame,
    fps,
    firstSeq,
    drop = new Set<number>(),
    jitterMs = 0,
  }: {
    frames: number;
    perFrame: number;
    fps: number;
    firstSeq: number;
    drop?: Set<number>;
    jitterMs?: number;
  },
): void {
  let seq = firstSeq;
  let index = 0;
  for (let f = 0; f < frames; f++) {
    const timestamp = (1_000 + Math.round((f * 90_000) / fps)) >>> 0;
    const sentAtMs = (f * 1000) / fps;
    for (let p = 0; p < perFrame; p++) {
      const arrivalMs = 50 + sentAtMs + (index % 2 === 0 ? 0 : jitterMs);
      if (!drop.has(index))
        stats.add({ sequenceNumber: seq & 0xffff, timestamp, marker: p === perFrame - 1 }, arrivalMs);
      seq += 1;
      index += 1;
    }
  }
}

describe('RtpProbeStats', () => {
  test('counts complete frames in the window, across a sequence-number wrap, without loss or jitter', () => {
    const stats = new RtpProbeStats();
    stats.openWindow(0);
    feed(stats, { frames: 60, perFrame: 3, fps: 60, firstSeq: 65_500 });
    stats.closeWindow(1050);
    const s = stats.snapshot();
    assert.equal(s.packetsReceived, 180);
    assert.equal(s.packetsLost, 0);
    assert.equal(s.framesComplete, 60);
    assert.equal(s.framesBroken, 0);
    assert.ok(Math.abs(s.windowFps - 60 / 1.05) < 0.01);
    assert.ok(Math.abs(s.windowTimestampFps - 60) < 0.1, String(s.windowTimestampFps));
    // Packets of one frame share a timestamp but arrive together: transit changes once per frame by 0.
    assert.ok(s.jitterMs < 0.1, String(s.jitterMs));
  });

  test('a lost packet is loss and breaks its frame; alternating delay shows as jitter', () => {
    const stats = new RtpProbeStats();
    stats.openWindow(0);
    feed(stats, { frames: 20, perFrame: 5, fps: 10, firstSeq: 10, drop: new Set([7, 42]), jitterMs: 8 });
    stats.closeWindow(2000);
    const s = stats.snapshot();
    assert.equal(s.packetsExpected, 100);
    assert.equal(s.packetsLost, 2);
    assert.equal(s.lossPpm, 20_000);
    assert.equal(s.framesBroken, 2);
    assert.equal(s.framesComplete, 18);
    // |D| is 8 ms on every packet: J converges towards 8 ms.
    assert.ok(s.jitterMs > 6 && s.jitterMs <= 8, String(s.jitterMs));
  });

  test('frames outside the window do not count towards its rate', () => {
    const stats = new RtpProbeStats();
    feed(stats, { frames: 30, perFrame: 1, fps: 30, firstSeq: 0 });
    stats.openWindow(10_000);
    stats.closeWindow(11_000);
    assert.equal(stats.snapshot().windowFps, 0);
  });
});

describe('judgeProbe', () => {
  const healthy: ProbeMeasurement = {
    live: true,
    rttMs: 4,
    pingsSent: 12,
    pongsReceived: 12,
    fps: 58,
    lossPpm: 0,
    jitterMs: 1,
    framesComplete: 200,
    framesBroken: 0,
    packetsReceived: 400,
    width: 1280,
    height: 720,
  };
  const game = { width: 1280, height: 720, fps: 60 };
  test('passes a healthy container and names why a degraded one fails', () => {
    assert.deepEqual(judgeProbe(healthy, game), { ok: true, reasons: [] });
    assert.match(judgeProbe({ ...healthy, fps: 10 }, game).reasons.join(), /fps 10\.0/);
    assert.match(judgeProbe({ ...healthy, rttMs: 205 }, game).reasons.join(), /rtt 205\.0 ms/);
    assert.equal(judgeProbe({ ...healthy, rttMs: Number.NaN }, game).ok, false);
    assert.equal(judgeProbe({ ...healthy, live: false }, game).ok, false);
    assert.equal(judgeProbe({ ...healthy, lossPpm: 100_000 }, game).ok, false);
  });

  test('holds the stream to its game’s manifest: resolution and frame rate, not what the host declares', () => {
    assert.match(
      judgeProbe({ ...healthy, width: 320, height: 180 }, game).reasons.join(),
      /resolution 320×180 < 1280×720/,
    );
    assert.equal(judgeProbe({ ...healthy, width: 0, height: 0 }, game).ok, false, 'no parameter set seen');
    assert.equal(judgeProbe({ ...healthy, fps: 30 }, game).ok, false, '30 of 60 fps');
    assert.equal(judgeProbe({ ...healthy, fps: 30 }, { ...game, fps: 30 }).ok, true);
  });
});
