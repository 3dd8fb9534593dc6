/**
 * RGBA/BGRA → NV12 for the encoders that take NV12 (x264, NVENC), in WebAssembly SIMD (rgbaToNv12.wat).
 * Every streamed frame is converted: at 720p this takes ≈0.45 ms of CPU a frame with the copies in and out when
 * the picture is in cache, ≈0.75 ms when it is not, against ≈1.3 / 1.7 ms for swscale (RGBA → NV12, point
 * sampling) on this machine. Same BT.601 limited-range matrix as swscale's default, so luma matches it to ±1;
 * chroma is the mean of each 2×2 block (swscale with point sampling averages the upper row's pair only).
 *
 * A source can put the picture straight into the module's memory (`input`: X11 capture and file sources do),
 * sparing the copy in (≈0.35 ms a 720p frame in the pipeline). Otherwise each strip of rows is copied in,
 * converted and copied out while it is still in cache (a whole frame at a time costs ≈0.15 ms more: the picture
 * read from memory twice). The output always goes through a strip: the frame's planes are FFmpeg's memory.
 */
import type { PixelLayout } from '../VideoEncoder.js';
import { RGBA_TO_NV12_WASM_BASE64 } from './rgbaToNv12Wasm.js';

const WASM_PAGE_BYTES = 65_536;
/** Rows converted at a time (even): 32 rows of 1080p RGBA and their NV12 are ≈340 KB, within a core's L2. */
const STRIP_ROWS = 32;

/** The coefficient pairs toNv12 takes, packed low | high << 16: (R, B) and (G, 0) for Y, U and V. */
type Coefficients = readonly [number, number, number, number, number, number];

const pack = (low: number, high: number) => (low & 0xffff) | (high << 16);
/** BT.601 limited range in 8-bit fixed point (the weights of R, G, B, /256). */
const RGBA_COEFFICIENTS: Coefficients = [
  pack(66, 25),
  pack(129, 0),
  pack(-38, 112),
  pack(-74, 0),
  pack(112, -18),
  pack(-94, 0),
];
/** BGRA holds blue where RGBA holds red: the pairs swap. */
const BGRA_COEFFICIENTS: Coefficients = [
  pack(25, 66),
  pack(129, 0),
  pack(112, -38),
  pack(-74, 0),
  pack(-18, 112),
  pack(-94, 0),
];

type Nv12Exports = {
  memory: WebAssembly.Memory;
  toNv12(src: number, width: number, height: number, dstY: number, dstUV: number, ...k: Coefficients): void;
};

let compiled: WebAssembly.Module | undefined;

export class Nv12Converter {
  readonly width: number;
  readonly height: number;
  readonly #toNv12: Nv12Exports['toNv12'];
  /**
   * Where a source may put the next picture (width × height × 4 bytes, RGBA or BGRA) so that `convert` reads it in
   * place. The converter writes here only to copy in pixels it was given from elsewhere: a picture a source left
   * here stays until the next one is encoded (X11 capture repeats it after a failed grab).
   */
  readonly input: Uint8Array;
  /** One strip of output rows each. Views of the module's memory, which never grows after this: they stay valid. */
  readonly #luma: Uint8Array;
  readonly #chroma: Uint8Array;

  /** The sizes toNv12 handles: whole 4-pixel steps across, row pairs down. */
  static supports(width: number, height: number): boolean {
    return (
      Number.isInteger(width) &&
      Number.isInteger(height) &&
      width >= 4 &&
      width % 4 === 0 &&
      height >= 2 &&
      height % 2 === 0
    );
  }

  constructor(width: number, height: number) {
    if (!Nv12Converter.supports(width, height)) throw new RangeError(`no NV12 conversion for ${width}×${height}`);
    this.width = width;
    this.height = height;
    compiled ??= new WebAssembly.Module(Buffer.from(RGBA_TO_NV12_WASM_BASE64, 'base64'));
    const exports = new WebAssembly.Instance(compiled).exports as unknown as Nv12Exports;
    const inputBytes = width * height * 4;
    const lumaBytes = width * Math.min(STRIP_ROWS, height);
    const total = inputBytes + lumaBytes + lumaBytes / 2;
    const have = exports.memory.buffer.byteLength;
    if (total > have) exports.memory.grow(Math.ceil((total - have) / WASM_PAGE_BYTES));
    const { buffer } = exports.memory;
    this.input = new Uint8Array(buffer, 0, inputBytes);
    this.#luma = new Uint8Array(buffer, inputBytes, lumaBytes);
    this.#chroma = new Uint8Array(buffer, inputBytes + lumaBytes, lumaBytes / 2);
    this.#toNv12 = exports.toNv12;
  }

  /**
   * Converts `pixels` (width × height × 4 bytes; `input` itself, or any other buffer) into an NV12 frame's two
   * planes, each row at its plane's stride (`linesize`, ≥ width: FFmpeg pads rows for alignment).
   */
  convert(pixels: Uint8Array, layout: PixelLayout, planes: readonly Uint8Array[], linesize: readonly number[]): void {
    const { width, height } = this;
    const [lumaPlane, chromaPlane] = planes;
    const [lumaStride = 0, chromaStride = 0] = linesize;
    if (pixels.byteLength !== width * height * 4 || !lumaPlane || !chromaPlane) {
      throw new RangeError(`NV12 conversion of ${pixels.byteLength} bytes into ${planes.length} planes`);
    }
    if (lumaStride < width || chromaStride < width) throw new RangeError(`NV12 strides ${linesize.join(', ')}`);
    const k = layout === 'rgba' ? RGBA_COEFFICIENTS : BGRA_COEFFICIENTS;
    const inPlace = pixels.buffer === this.input.buffer && pixels.byteOffset === this.input.byteOffset;
    const stripRows = this.#luma.byteLength / width;
    const rowBytes = width * 4;
    for (let top = 0; top < height; top += stripRows) {
      const rows = Math.min(stripRows, height - top);
      if (!inPlace) this.input.set(pixels.subarray(top * rowBytes, (top + rows) * rowBytes), top * rowBytes);
      const from = this.input.byteOffset + top * rowBytes;
      this.#toNv12(from, width, rows, this.#luma.byteOffset, this.#chroma.byteOffset, ...k);
      copyRows(this.#luma, lumaPlane, width, rows, top, lumaStride);
      copyRows(this.#chroma, chromaPlane, width, rows / 2, top / 2, chromaStride);
    }
  }
}

/** `rows` packed rows into a plane with stride `stride`, from row `at` (one copy when the plane is packed too). */
function copyRows(from: Uint8Array, to: Uint8Array, width: number, rows: number, at: number, stride: number): void {
  if (stride === width) {
    to.set(from.subarray(0, width * rows), at * width);
    return;
  }
  for (let row = 0; row < rows; row++) to.set(from.subarray(row * width, (row + 1) * width), (at + row) * stride);
}
