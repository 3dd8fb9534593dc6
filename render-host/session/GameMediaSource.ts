import { type Canvas, createCanvas, type SKRSContext2D } from '@napi-rs/canvas';
import type { GameInputMessage, GameRuntime, GameSnapshot } from '../games/index.js';
import type { MediaSource, SourceVideoFrame } from './MediaSource.js';

/** A built-in game as a media source: rendered with @napi-rs/canvas (Skia), read out as RGBA. */
export class GameMediaSource implements MediaSource {
  readonly #game: GameRuntime;
  readonly #canvas: Canvas;
  readonly #ctx: SKRSContext2D;
  #renderedInputSeq = 0;

  constructor(game: GameRuntime) {
    this.#game = game;
    this.#canvas = createCanvas(game.info.width, game.info.height);
    this.#ctx = this.#canvas.getContext('2d');
  }

  get game(): GameRuntime {
    return this.#game;
  }

  get width(): number {
    return this.#game.info.width;
  }

  get height(): number {
    return this.#game.info.height;
  }

  get fps(): number {
    return this.#game.info.fps;
  }

  get hasAudio(): boolean {
    return this.#game.info.audio;
  }

  get lastInputSeq(): number {
    return this.#renderedInputSeq;
  }

  applyInput(message: GameInputMessage): void {
    this.#game.applyInput(message);
  }

  tick(): void {
    this.#game.step();
  }

  captureVideo(): SourceVideoFrame {
    // Input applied after the last step is not in this picture yet: frame marks report what the state reflects.
    this.#renderedInputSeq = this.#game.lastInputSeq;
    this.#game.render(this.#ctx);
    return { pixels: this.#canvas.data(), layout: 'rgba', width: this.width, height: this.height };
  }

  readAudio(out: Int16Array, startSample: number): void {
    this.#game.renderAudio(out, startSample);
  }

  snapshot(): GameSnapshot {
    return this.#game.snapshot();
  }

  async close(): Promise<void> {
    // Skia frees the canvas with the object; nothing else is held.
  }
}
