/**
 * A running external game as the session's media source (render-host/session/MediaSource.ts): pictures
 * grabbed from its display at each tick of the session's frame clock, sound from its null sink's monitor,
 * input through xdotool. Works in whichever thread opens it (the session worker in production; tests and the
 * benchmark open it on the main thread).
 *
 * `open` resolves only once the game is ready (its readiness check passed and its start keys were pressed),
 * so the first frame a player can ever see is the game's own: no desktop, no black screen.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { AthError } from '../../signaling/protocol/index.js';
import type { GameInputMessage } from '../games/index.js';
import type { MediaSource, SourceVideoFrame } from '../session/index.js';
import { AudioCapture, type AudioCaptureStats } from './AudioCapture.js';
import type { CaptureSourceSpec } from './CaptureSourceSpec.js';
import { AppsErrorCode } from './errors.js';
import { litFraction } from './frameMetrics.js';
import { ScreenCapture, type ScreenCaptureStats } from './ScreenCapture.js';
import { type InputInjectorStats, XdotoolInjector } from './XdotoolInjector.js';

/**
 * Frames handed out in these buffers stay untouched for this many further captures. A frame grabbed into the
 * encoder's input (`captureVideo(into)`) is the encoder's to convert, and holds only until the next capture.
 */
const FRAME_BUFFERS = 4;
const READY_POLL_MS = 50;
const START_KEY_HOLD_MS = 120;
/** After the start keys: time for the game to leave its title card (SuperTux: 0.1 s fade-out, then the level fades in). */
const START_KEYS_SETTLE_MS = 700;

export type OpenX11MediaSourceParameters = {
  spec: CaptureSourceSpec;
  log: Logger;
  /** Stops waiting for readiness (the game crashed meanwhile, the session was closed): rejects with its reason. */
  signal?: AbortSignal;
};

export type X11MediaSourceStats = {
  capture: ScreenCaptureStats;
  audio: AudioCaptureStats | undefined;
  input: InputInjectorStats;
};

export class X11MediaSource implements MediaSource {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly #spec: CaptureSourceSpec;
  readonly #log: Logger;
  readonly #capture: ScreenCapture;
  readonly #injector: XdotoolInjector;
  readonly #audio: AudioCapture | undefined;
  readonly #buffers: Uint8Array[];
  #next = 0;
  #lastGood: Uint8Array | undefined;
  #taggedInputSeq = 0;
  #readyAtWallMs: number | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(
    spec: CaptureSourceSpec,
    parts: { capture: ScreenCapture; injector: XdotoolInjector; audio: AudioCapture | undefined },
    log: Logger,
  ) {
    this.#spec = spec;
    this.width = spec.width;
    this.height = spec.height;
    this.fps = spec.fps;
    this.#log = log;
    this.#capture = parts.capture;
    this.#injector = parts.injector;
    this.#audio = parts.audio;
    this.#buffers = Array.from({ length: FRAME_BUFFERS }, () => new Uint8Array(spec.width * spec.height * 4));
  }

  /**
   * Connects to the workload (display, audio, input) and waits until the game is ready. Throws
   * ATH_ERR_CAPTURE / ATH_ERR_INPUT_INJECTOR / ATH_ERR_AUDIO_CAPTURE when a part fails to open, and
   * ATH_ERR_GAME_NOT_READY when the readiness check times out; everything opened is closed again.
   */
  static async open({ spec, log: parentLog, signal }: OpenX11MediaSourceParameters): Promise<X11MediaSource> {
    const log = parentLog.child({ mod: 'render-host/apps/source', game: spec.game, display: spec.display });
    const env = { ATH_APP_SESSION: spec.marker };
    const opened: { close(): Promise<void> }[] = [];
    try {
      const capture = await ScreenCapture.open({ display: spec.display, width: spec.width, height: spec.height });
      opened.push(capture);
      const injector = await XdotoolInjector.start({
        display: spec.display,
        width: spec.width,
        height: spec.height,
        inputMode: spec.inputMode,
        gamepad: spec.gamepad,
        env,
        log,
      });
      opened.push(injector);
      const audio = spec.audio
        ? await AudioCapture.start({ pulseServer: spec.audio.pulseServer, source: spec.audio.source, env, log })
        : undefined;
      if (audio) opened.push(audio);
      const source = new X11MediaSource(spec, { capture, injector, audio }, log);
      await source.#waitReady(signal);
      return source;
    } catch (error) {
      await Promise.allSettled(opened.map((part) => part.close()));
      throw error;
    }
  }

  async #waitReady(signal: AbortSignal | undefined): Promise<void> {
    const { readiness } = this.#spec;
    const startedMs = performance.now();
    signal?.throwIfAborted();
    if (readiness.kind === 'delay') {
      await sleep(readiness.delayMs, undefined, signal ? { signal } : {});
    } else {
      const frame = this.#buffers[0] as Uint8Array;
      for (;;) {
        const grabbed = this.#capture.grab(frame);
        const lit = grabbed ? litFraction({ pixels: frame, width: this.width, height: this.height }) : 0;
        if (lit * 100 >= readiness.minLitPercent) break;
        if (performance.now() - startedMs > readiness.timeoutMs) {
          throw new AthError({
            code: AppsErrorCode.gameNotReady,
            shortMessage: `${this.#spec.game} showed nothing within ${readiness.timeoutMs} ms`,
            details: `lit ${(lit * 100).toFixed(3)} % < ${readiness.minLitPercent} %`,
          });
        }
        await sleep(READY_POLL_MS);
        signal?.throwIfAborted();
      }
    }
    for (const key of this.#spec.startKeys) await this.#injector.tapKey(key, START_KEY_HOLD_MS);
    if (this.#spec.startKeys.length > 0) await sleep(START_KEYS_SETTLE_MS);
    this.#readyAtWallMs = Date.now();
    this.#log.info({ waitedMs: Math.round(performance.now() - startedMs) }, 'game ready');
  }

  get hasAudio(): boolean {
    return this.#audio !== undefined;
  }

  get lastInputSeq(): number {
    return this.#taggedInputSeq;
  }

  /** Unix ms at which the game passed its readiness check (and its start keys were pressed). */
  get readyAtWallMs(): number | undefined {
    return this.#readyAtWallMs;
  }

  /** The injector, for holding keys outside player input (tests, the benchmark). */
  get injector(): XdotoolInjector {
    return this.#injector;
  }

  applyInput(message: GameInputMessage): void {
    this.#injector.apply(message);
  }

  releaseInput(): void {
    this.#injector.releaseAll();
  }

  tick(): void {
    // The game runs on its own clock.
  }

  /**
   * What the display shows now (BGRA): grabbed straight into the encoder's input when it offers one (`into`), else
   * into one of four rotating buffers. A failed grab repeats the last good picture (the workload reports a dead
   * display or game on its own).
   */
  captureVideo(into?: Uint8Array): SourceVideoFrame {
    const buffer = into?.byteLength === this.width * this.height * 4 ? into : this.#nextBuffer();
    // Input written before the grab is what the picture can reflect.
    this.#taggedInputSeq = this.#injector.lastInputSeq;
    if (this.#capture.grab(buffer)) this.#lastGood = buffer;
    else if (this.#lastGood && this.#lastGood !== buffer) buffer.set(this.#lastGood);
    return { pixels: buffer, layout: 'bgra', width: this.width, height: this.height };
  }

  #nextBuffer(): Uint8Array {
    const buffer = this.#buffers[this.#next] as Uint8Array;
    this.#next = (this.#next + 1) % FRAME_BUFFERS;
    return buffer;
  }

  readAudio(out: Int16Array, _startSample: number): void {
    if (this.#audio) this.#audio.read(out);
    else out.fill(0);
  }

  snapshot(): undefined {
    return undefined;
  }

  stats(): X11MediaSourceStats {
    return { capture: this.#capture.stats(), audio: this.#audio?.stats(), input: this.#injector.stats() };
  }

  /** Closes input, audio capture and screen capture. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    await Promise.all([this.#injector.close(), this.#audio?.close(), this.#capture.close()]);
  }

  get closed(): boolean {
    return this.#closed;
  }
}
