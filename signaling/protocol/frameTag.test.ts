import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drawFrameTag, FRAME_TAG_WIDTH_PX, frameTagBits, readFrameTag } from './frameTag.js';

function blankImage(width: number, height: number, fill = 90) {
  return { data: new Uint8Array(width * height * 4).fill(fill), width, height };
}

test('a drawn tag reads back', () => {
  const image = blankImage(1280, 720);
  drawFrameTag(image, { frame: 123456, inputSeq: 0xfffffffe });
  assert.deepEqual(readFrameTag(image), { frame: 123456, inputSeq: 0xfffffffe });
});

test('the tag survives noise of ±60 levels (codec ringing)', () => {
  const image = blankImage(1280, 720);
  drawFrameTag(image, { frame: 42, inputSeq: 7 });
  let seed = 1;
  for (let i = 0; i < image.data.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const noise = (seed % 121) - 60;
    image.data[i] = Math.max(0, Math.min(255, (image.data[i] ?? 0) + noise));
  }
  assert.deepEqual(readFrameTag(image), { frame: 42, inputSeq: 7 });
});

test('reads from a frame scaled to half size', () => {
  const full = blankImage(1280, 720);
  drawFrameTag(full, { frame: 9, inputSeq: 3 });
  const half = blankImage(640, 360);
  for (let y = 0; y < 360; y++) {
    for (let x = 0; x < 640; x++) {
      for (let c = 0; c < 4; c++) half.data[(y * 640 + x) * 4 + c] = full.data[(y * 2 * 1280 + x * 2) * 4 + c] ?? 0;
    }
  }
  assert.deepEqual(readFrameTag(half), { frame: 9, inputSeq: 3 });
});

test('no tag, or a corrupted one, reads as null', () => {
  assert.equal(readFrameTag(blankImage(1280, 720)), null);
  const image = blankImage(1280, 720);
  drawFrameTag(image, { frame: 1, inputSeq: 1 });
  // Flip one payload block (bit 20) to the opposite colour: the CRC must catch it.
  const bit = frameTagBits({ frame: 1, inputSeq: 1 })[20];
  const x = 20 * 12 + 6;
  for (let dy = 0; dy < 12; dy++) for (let dx = -6; dx < 6; dx++) image.data[(dy * 1280 + x + dx) * 4] = bit ? 0 : 255;
  for (let dy = 0; dy < 12; dy++)
    for (let dx = -6; dx < 6; dx++) {
      const o = (dy * 1280 + x + dx) * 4;
      image.data[o + 1] = image.data[o] ?? 0;
      image.data[o + 2] = image.data[o] ?? 0;
    }
  assert.equal(readFrameTag(image), null);
  assert.equal(FRAME_TAG_WIDTH_PX, 480);
});
