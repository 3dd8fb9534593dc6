import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openVideoEncoder } from '../../render-host/session/VideoEncoder.js';
import { h264RtpSize, h264SpsSize, vp8RtpSize } from './videoSize.js';

/** Real encoder output at sizes that need cropping (720 and 180 are not multiples of 16 · 2 in every case). */
async function firstFrame(codec: 'H264' | 'VP8', width: number, height: number): Promise<Buffer> {
  const { encoder } = openVideoEncoder({ codec, width, height, fps: 60, bitrateBps: 1_000_000, prefer: 'x264' });
  try {
    const pixels = new Uint8Array(width * height * 4).fill(128);
    const frame = await encoder.encode({ pixels, layout: 'rgba', pts90k: 0, keyframe: true });
    assert.ok(frame);
    return frame.data;
  } finally {
    await encoder.close();
  }
}

function annexBNals(data: Buffer): Buffer[] {
  const starts: number[] = [];
  for (let i = 0; i + 3 < data.length; i++)
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) starts.push(i + 3);
  return starts.map((start, k) => {
    let end = (starts[k + 1] ?? data.length + 3) - 3;
    while (end > start && data[end - 1] === 0) end -= 1;
    return data.subarray(start, end);
  });
}

for (const [width, height] of [
  [1280, 720],
  [320, 180],
  [1920, 1080],
] as const) {
  test(`H.264 SPS from a real encoder gives ${width}×${height}, alone and in a STAP-A`, async () => {
    const sps = annexBNals(await firstFrame('H264', width, height)).find((nal) => ((nal[0] ?? 0) & 0x1f) === 7);
    assert.ok(sps);
    assert.deepEqual(h264SpsSize(sps), { width, height });
    assert.deepEqual(h264RtpSize(sps), { width, height });
    const stapA = Buffer.concat([Buffer.from([24, sps.length >> 8, sps.length & 0xff]), sps]);
    assert.deepEqual(h264RtpSize(stapA), { width, height });
  });

  test(`VP8 key frame header from a real encoder gives ${width}×${height}`, async () => {
    const frame = await firstFrame('VP8', width, height);
    // RTP payload descriptor: S = 1, partition 0, with a 15-bit picture id.
    const payload = Buffer.concat([Buffer.from([0x90, 0x80, 0x80, 0x01]), frame]);
    assert.deepEqual(vp8RtpSize(payload), { width, height });
    assert.equal(vp8RtpSize(Buffer.concat([Buffer.from([0x00]), frame])), undefined, 'not the start of a frame');
  });
}

test('anything else is not a size', () => {
  assert.equal(h264RtpSize(Buffer.from([0x65, 1, 2, 3])), undefined);
  assert.equal(h264SpsSize(Buffer.from([0x67])), undefined);
  assert.equal(vp8RtpSize(Buffer.alloc(0)), undefined);
});
