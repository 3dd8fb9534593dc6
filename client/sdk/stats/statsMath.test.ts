import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  computeStatsSample,
  estimateGlassToGlassMs,
  extractRawStats,
  percentile,
  playerReportFields,
} from './statsMath.js';

type Counters = {
  atMs: number;
  frames: number;
  bytes: number;
  packets: number;
  lost: number;
  jbDelay: number;
  jbCount: number;
  decode: number;
};

function report({ atMs, frames, bytes, packets, lost, jbDelay, jbCount, decode }: Counters) {
  return {
    atMs,
    entries: [
      { id: 'T1', type: 'transport', selectedCandidatePairId: 'CP1' },
      { id: 'CP1', type: 'candidate-pair', state: 'succeeded', nominated: true, currentRoundTripTime: 0.004 },
      { id: 'CP2', type: 'candidate-pair', state: 'failed', nominated: false, currentRoundTripTime: 0.5 },
      { id: 'C1', type: 'codec', mimeType: 'video/H264' },
      {
        id: 'IV',
        type: 'inbound-rtp',
        kind: 'video',
        codecId: 'C1',
        framesDecoded: frames,
        framesDropped: 1,
        framesPerSecond: 59,
        frameWidth: 1280,
        frameHeight: 720,
        bytesReceived: bytes,
        packetsReceived: packets,
        packetsLost: lost,
        jitterBufferDelay: jbDelay,
        jitterBufferEmittedCount: jbCount,
        totalDecodeTime: decode,
      },
      { id: 'IA', type: 'inbound-rtp', kind: 'audio', packetsReceived: 250, packetsLost: 0, bytesReceived: 20000 },
      'garbage',
      null,
    ],
  };
}

describe('stats', () => {
  const a = report({
    atMs: 10_000,
    frames: 600,
    bytes: 5_000_000,
    packets: 5000,
    lost: 2,
    jbDelay: 1.2,
    jbCount: 600,
    decode: 1.8,
  });
  const b = report({
    atMs: 11_000,
    frames: 660,
    bytes: 5_500_000,
    packets: 5500,
    lost: 7,
    jbDelay: 1.26,
    jbCount: 660,
    decode: 1.98,
  });
  const rawA = extractRawStats(a.entries, a.atMs);
  const rawB = extractRawStats(b.entries, b.atMs);

  test('reads video, audio, codec and the selected pair RTT from a report', () => {
    assert.equal(rawB.video?.codec, 'H264');
    assert.equal(rawB.video?.frameWidth, 1280);
    assert.equal(rawB.audio?.packetsReceived, 250);
    assert.equal(rawB.iceRttMs, 4);
  });

  test('per-interval fps, bitrate, loss, jitter buffer and decode time', () => {
    const s = computeStatsSample({ previous: rawA, current: rawB, pingRttMs: 2, inputToPhotonMs: 30 });
    assert.equal(s.fps, 60);
    assert.equal(s.bitrateBps, 4_000_000);
    assert.equal(s.packetsLost, 7);
    assert.ok(Math.abs((s.packetLossPct ?? 0) - (5 / 505) * 100) < 1e-9);
    assert.ok(Math.abs((s.jitterBufferMs ?? 0) - 1) < 1e-9);
    assert.ok(Math.abs((s.decodeMs ?? 0) - 3) < 1e-9);
    assert.equal(s.rttMs, 2);
    assert.equal(s.iceRttMs, 4);
    assert.equal(s.audioPacketsReceived, 250);
    assert.ok(Math.abs((s.glassToGlassMs ?? 0) - (1 + 1 + 3 + 1000 / 60)) < 1e-9);
    assert.equal(s.inputToPhotonMs, 30);
  });

  test('the first sample uses the browser fps and lifetime averages; ICE RTT when no ping answered', () => {
    const s = computeStatsSample({
      previous: undefined,
      current: rawA,
      pingRttMs: undefined,
      inputToPhotonMs: undefined,
    });
    assert.equal(s.fps, 59);
    assert.equal(s.bitrateBps, undefined);
    assert.ok(Math.abs((s.jitterBufferMs ?? 0) - 2) < 1e-9);
    assert.equal(s.rttMs, 4);
  });

  test('a new receiver (counters reset) does not give negative rates', () => {
    const reset = extractRawStats(
      report({ atMs: 12_000, frames: 10, bytes: 1000, packets: 10, lost: 0, jbDelay: 0, jbCount: 10, decode: 0.01 })
        .entries,
      12_000,
    );
    const s = computeStatsSample({ previous: rawB, current: reset, pingRttMs: undefined, inputToPhotonMs: undefined });
    assert.equal(s.bitrateBps, undefined);
    assert.equal(s.fps, 59);
  });

  test('no video yet: an empty sample', () => {
    const s = computeStatsSample({
      previous: undefined,
      current: extractRawStats([], 1),
      pingRttMs: undefined,
      inputToPhotonMs: undefined,
    });
    assert.equal(s.framesDecoded, 0);
    assert.equal(s.glassToGlassMs, undefined);
  });

  test('glass-to-glass estimate needs RTT and fps', () => {
    assert.equal(estimateGlassToGlassMs({ rttMs: undefined, jitterBufferMs: 1, decodeMs: 1, fps: 60 }), undefined);
    assert.equal(estimateGlassToGlassMs({ rttMs: 10, jitterBufferMs: undefined, decodeMs: undefined, fps: 50 }), 25);
  });

  test('percentiles and player-report clamping', () => {
    assert.equal(percentile([5, 1, 3, 2, 4], 50), 3);
    assert.equal(percentile([5, 1, 3, 2, 4], 95), 5);
    assert.equal(percentile([], 50), undefined);
    const s = computeStatsSample({ previous: rawA, current: rawB, pingRttMs: 2.5, inputToPhotonMs: undefined });
    assert.deepEqual(playerReportFields(s), { fpsMilli: 60_000, rttMicros: 2500, framesDecoded: 660, packetsLost: 7 });
    assert.equal(playerReportFields({ ...s, fps: 5000, rttMs: 1e9 }).fpsMilli, 1_000_000);
  });
});
