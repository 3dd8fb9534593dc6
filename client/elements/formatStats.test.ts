import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StatsSample } from '../sdk/index.js';
import { formatStats } from './formatStats.js';

const SAMPLE: StatsSample = {
  atMs: 0,
  rttMs: 2.5,
  iceRttMs: 1,
  fps: 59.94,
  width: 1280,
  height: 720,
  codec: 'H264',
  bitrateBps: 4_200_000,
  packetsLost: 3,
  packetLossPct: 0.06,
  jitterBufferMs: 1.5,
  decodeMs: 2,
  framesDecoded: 100,
  framesDropped: 0,
  audioPacketsReceived: 50,
  glassToGlassMs: 21.4,
  inputToPhotonMs: undefined,
  hostEncoder: 'libx264',
};

describe('formatStats', () => {
  test('every figure the overlay promises, with units', () => {
    const text = formatStats(SAMPLE).join('\n');
    for (const part of [
      '2.5 ms',
      'ICE 1.0 ms',
      '59.9',
      '1280×720  H264 (libx264)',
      '4.20 Mbit/s',
      '3 (0.1 %)',
      '1.5 ms',
      '≈ 21 ms (estimate)',
    ]) {
      assert.ok(text.includes(part), part);
    }
    assert.ok(!text.includes('input→photon'));
    assert.ok(
      formatStats({ ...SAMPLE, hostEncoder: 'h264_nvenc' })
        .join('\n')
        .includes('H264 (h264_nvenc)'),
    );
    assert.ok(
      formatStats({ ...SAMPLE, inputToPhotonMs: 30 })
        .join('\n')
        .includes('input→photon  30 ms (measured)'),
    );
  });

  test('missing figures show as dashes', () => {
    const text = formatStats({
      ...SAMPLE,
      rttMs: undefined,
      fps: undefined,
      bitrateBps: 300_000,
      width: undefined,
    }).join('\n');
    assert.ok(text.includes('RTT           –'));
    assert.ok(text.includes('300 kbit/s'));
    assert.deepEqual(formatStats(undefined), ['waiting for stats…']);
  });
});
