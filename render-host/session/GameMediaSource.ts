import { type Canvas, createCanvas, type SKRSContext2D } from '@napi-rs/canvas';
import type { VideoFormat } from '../../signaling/protocol/index.js';
import type { GameInputMessage, GameRuntime, GameSnapshot } from '../games/index.js';
import type { MediaSource, SourceVideoFrame } from './MediaSource.js';

/**
 * A built-in game as a media source: rendered with @napi-rs/canvas (Skia), read out as RGBA. With a `format`
 * (the player's quality rung) the game's picture is drawn scaled to that size, and at a higher frame rate than
 * the game's own the simulation still steps at its own rate (every other tick at 120 fps for a 60 Hz game) while
 * every tick is rendered.
 */
export class GameMediaSource implements MediaSource {
  readonly #game: GameRuntime;
  readonly #canvas: Canvas;
  readonly #ctx: SKRSContext2D;
  readonly #format: VideoFormat;
  #renderedInputSeq = 0;
  #ticks = 0;

  constructor(game: GameRuntime, format?: VideoFormat) {
    this.#game = game;
    this.#format = format ?? { width: game.info.width, height: game.info.height, fps: game.info.fps };
    this.#canvas = createCanvas(this.#format.width, this.#format.height);
    this.#ctx = this.#canvas.getContext('2d');
    const sx = this.#format.width / game.info.width;
    const sy = this.#format.height / game.info.height;
    if (sx !== 1 || sy !== 1) this.#ctx.setTransform(sx, 0, 0, sy, 0, 0);
  }

  get game(): GameRuntime {
    return this.#game;
  }

  get width(): number {
    return this.#format.width;
  }

  get height(): number {
    return this.#format.height;
  }

  get fps(): number {
    return this.#format.fps;
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
    // The game's clock: step when its own tick falls in this one (always, at the game's own rate).
    const before = Math.floor((this.#ticks * this.#game.info.fps) / this.#format.fps);
    this.#ticks += 1;
    const after = Math.floor((this.#ticks * this.#game.info.fps) / this.#format.fps);
    for (let i = before; i < after; i++) this.#game.step();
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
