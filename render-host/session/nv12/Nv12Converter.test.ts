import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { AV_PIX_FMT_NV12, AV_PIX_FMT_RGBA, Frame, SoftwareScaleContext, SWS_POINT } from 'node-av';
import type { PixelLayout } from '../VideoEncoder.js';
import { compileNv12Wasm, nv12WasmSource } from './build/compileNv12Wasm.js';
import { Nv12Converter } from './Nv12Converter.js';

/** Deterministic noise: every byte differs, so a wrong lane, pair or row shows. */
function noise(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 255;
  }
  return out;
}

/** The definition, one pixel at a time: BT.601 limited range, chroma the mean of each 2×2 block. */
function referenceNv12(pixels: Uint8Array, layout: PixelLayout, width: number, height: number) {
  const [ri, bi] = layout === 'rgba' ? [0, 2] : [2, 0];
  const luma = new Uint8Array(width * height);
  const chroma = new Uint8Array((width * height) / 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      const [r, g, b] = [pixels[o + ri] ?? 0, pixels[o + 1] ?? 0, pixels[o + bi] ?? 0];
      luma[y * width + x] = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
    }
  }
  for (let y = 0; y < height; y += 2) {
    for (let x = 0; x < width; x += 2) {
      let [r, g, b] = [0, 0, 0];
      for (const o of [y * width + x, y * width + x + 1, (y + 1) * width + x, (y + 1) * width + x + 1].map(
        (p) => p * 4,
      )) {
        r += pixels[o + ri] ?? 0;
        g += pixels[o + 1] ?? 0;
        b += pixels[o + bi] ?? 0;
      }
      const at = (y / 2) * width + x;
      chroma[at] = ((-38 * r - 74 * g + 112 * b + 512) >> 10) + 128;
      chroma[at + 1] = ((112 * r - 94 * g - 18 * b + 512) >> 10) + 128;
    }
  }
  return { luma, chroma };
}

/** The rows of a strided plane, packed. */
function packed(plane: Uint8Array, width: number, rows: number, stride: number): Uint8Array {
  const out = new Uint8Array(width * rows);
  for (let row = 0; row < rows; row++) out.set(plane.subarray(row * stride, row * stride + width), row * width);
  return out;
}

describe('Nv12Converter (WebAssembly SIMD)', () => {
  test('the committed module matches a fresh build of rgbaToNv12.wat (npm run build:wasm)', async () => {
    const committed = readFileSync(new URL('./rgbaToNv12Wasm.ts', import.meta.url), 'utf8');
    assert.equal(committed, nv12WasmSource(await compileNv12Wasm()));
  });

  test('equals the per-pixel definition for RGBA and BGRA, at several sizes and padded strides, in place or copied', () => {
    for (const [width, height, pad] of [
      [4, 2, 0],
      [12, 6, 20],
      [36, 10, 28],
      [40, 70, 8], // strips of 32, 32 and 6 rows
      [1280, 720, 0],
    ] as const) {
      const converter = new Nv12Converter(width, height);
      for (const [seed, layout, inPlace] of [
        [width * 7 + 1, 'rgba', false],
        [height * 13 + 5, 'bgra', true],
        [width * height, 'rgba', true],
        [width + height, 'bgra', false],
      ] as const) {
        const pixels = noise(width * height * 4, seed);
        if (inPlace) converter.input.set(pixels);
        // Chroma rows padded further than luma rows: a swapped stride shows.
        const stride = width + pad;
        const chromaStride = stride + (pad > 0 ? 16 : 0);
        // Planes prefilled with 0xaa: padding must stay untouched, every sample must be written.
        const planes = [
          new Uint8Array(stride * height).fill(0xaa),
          new Uint8Array((chromaStride * height) / 2).fill(0xaa),
        ];
        converter.convert(inPlace ? converter.input : pixels, layout, planes, [stride, chromaStride]);
        const expected = referenceNv12(pixels, layout, width, height);
        const what = `${width}×${height} ${layout} stride ${stride}${inPlace ? ' in place' : ''}`;
        assert.deepEqual(packed(planes[0] as Uint8Array, width, height, stride), expected.luma, `${what}: Y`);
        assert.deepEqual(
          packed(planes[1] as Uint8Array, width, height / 2, chromaStride),
          expected.chroma,
          `${what}: UV`,
        );
        if (pad > 0) {
          assert.equal(planes[0]?.[width], 0xaa, `${what}: the luma padding is left alone`);
          assert.equal(planes[1]?.[chromaStride - 1], 0xaa, `${what}: the chroma padding is left alone`);
        }
      }
    }
  });

  test('makes the picture swscale made (luma within 1, chroma within 2 where the colour is smooth)', () => {
    const [width, height] = [320, 180];
    const pixels = new Uint8Array(width * height * 4);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const o = (y * width + x) * 4;
        pixels.set([(x * 255) / width, (y * 255) / height, ((x + y) * 255) / (width + height), 255], o);
      }
    }
    const ours = [new Uint8Array(width * height), new Uint8Array((width * height) / 2)];
    new Nv12Converter(width, height).convert(pixels, 'rgba', ours, [width, width]);
    const scaler = new SoftwareScaleContext();
    scaler.getContext(width, height, AV_PIX_FMT_RGBA, width, height, AV_PIX_FMT_NV12, SWS_POINT);
    const frame = new Frame();
    frame.alloc();
    frame.width = width;
    frame.height = height;
    frame.format = AV_PIX_FMT_NV12;
    assert.ok(frame.allocBuffer() >= 0);
    const planes = frame.data ?? [];
    scaler.scaleSync([Buffer.from(pixels)], [width * 4], 0, height, planes, frame.linesize);
    const maxDiff = (a: Uint8Array, b: Uint8Array) =>
      a.reduce((max, v, i) => Math.max(max, Math.abs(v - (b[i] ?? 0))), 0);
    const [lumaStride = 0, chromaStride = 0] = frame.linesize;
    assert.ok(maxDiff(ours[0] as Uint8Array, packed(planes[0] as Buffer, width, height, lumaStride)) <= 1, 'Y');
    assert.ok(maxDiff(ours[1] as Uint8Array, packed(planes[1] as Buffer, width, height / 2, chromaStride)) <= 2, 'UV');
    frame.free();
    scaler.freeContext();
  });

  test('refuses sizes it cannot step through and frames of the wrong size', () => {
    assert.equal(Nv12Converter.supports(1280, 720), true);
    assert.equal(Nv12Converter.supports(1278, 720), false);
    assert.equal(Nv12Converter.supports(1280, 721), false);
    assert.throws(() => new Nv12Converter(6, 4), RangeError);
    const converter = new Nv12Converter(8, 4);
    const planes = [new Uint8Array(32), new Uint8Array(16)];
    assert.throws(() => converter.convert(new Uint8Array(100), 'rgba', planes, [8, 8]), RangeError);
    assert.throws(() => converter.convert(new Uint8Array(128), 'rgba', planes, [4, 8]), RangeError);
  });
});
