import type { GameInputMessage } from '../games/index.js';
import type { MediaSource, SourceVideoFrame } from './MediaSource.js';

export type TestCardSourceParameters = { width: number; height: number; fps: number };

const BAR_WIDTH_PX = 16;
const BACKGROUND_RGBA = 0xff403020; // little-endian ABGR: a dark blue-grey
const BAR_RGBA = 0xff30c0f0; // an amber bar

/**
 * What a checker's probe stream shows: a small test card (a bar sweeping across a flat background) drawn straight into RGBA memory, no Skia, no game, no audio. It moves
 * every frame so the encoder sends real P-frames, at a fraction of a game session's cost. Input is ignored.
 */
export class TestCardSource implements MediaSource {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly hasAudio = false;
  readonly lastInputSeq = 0;
  /** Two buffers, used in turn: the encoder may still be reading the previous picture when the next is drawn. */
  readonly #buffers: [Uint8Array, Uint8Array];
  #next = 0;
  #ticks = 0;

  constructor({ width, height, fps }: TestCardSourceParameters) {
    this.width = width;
    this.height = height;
    this.fps = fps;
    this.#buffers = [new Uint8Array(width * height * 4), new Uint8Array(width * height * 4)];
  }

  applyInput(_message: GameInputMessage): void {}

  tick(): void {
    this.#ticks += 1;
  }

  captureVideo(): SourceVideoFrame {
    const pixels = this.#buffers[this.#next] as Uint8Array;
    this.#next = 1 - this.#next;
    const words = new Uint32Array(pixels.buffer, pixels.byteOffset, this.width * this.height);
    words.fill(BACKGROUND_RGBA);
    // One sweep across the card per second, whatever the frame rate.
    const x0 = Math.floor(((this.#ticks % this.fps) / this.fps) * (this.width - BAR_WIDTH_PX));
    for (let y = 0; y < this.height; y++) {
      const row = y * this.width + x0;
      words.fill(BAR_RGBA, row, row + BAR_WIDTH_PX);
    }
    return { pixels, layout: 'rgba', width: this.width, height: this.height };
  }

  readAudio(out: Int16Array, _startSample: number): void {
    out.fill(0);
  }

  snapshot(): undefined {
    return undefined;
  }

  async close(): Promise<void> {}
}
