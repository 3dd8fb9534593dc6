import type { GameInputMessage, GameSnapshot } from '../games/index.js';
import type { PixelLayout } from './VideoEncoder.js';

/** One picture to encode. The encoder reads `pixels` as they are (nothing is drawn over them); they stay the
 * source's until its next `captureVideo()`. */
export type SourceVideoFrame = { pixels: Uint8Array; layout: PixelLayout; width: number; height: number };

/**
 * What a session streams from: the seam between "where pictures, sound and input handling come from" and
 * everything the session does with them (pacing, encoding, frame marks, WebRTC).
 *
 * - A built-in game (`GameMediaSource`): `tick()` steps the simulation, `captureVideo()` renders it.
 * - An external game (`render-host/apps/X11MediaSource`): a display captured by node-av (x11grab) and a
 *   PulseAudio monitor; `tick()` does nothing (the game runs on its own clock), `captureVideo()` grabs the
 *   display now (BGRA), `readAudio()` drains captured PCM, `applyInput()` writes xdotool commands.
 *
 * All calls come from the session worker's thread, at most one at a time.
 */
export interface MediaSource {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly hasAudio: boolean;
  /** Seq of the last input the source applied before the most recent `captureVideo()`: what frame marks report. */
  readonly lastInputSeq: number;
  /** Player input, already decoded and validated; pings never reach here (the session answers them). */
  applyInput(message: GameInputMessage): void;
  /**
   * The player's connection went away: let go of whatever they held (an external game would otherwise keep
   * running right with a key nobody releases). Built-in games reset their input on their own.
   */
  releaseInput?(): void;
  /** One tick of the session clock (1/fps s). Called for every tick, including those whose frame is dropped. */
  tick(): void;
  /**
   * The picture now. `into`, when given, is the encoder's own input (width × height × 4 bytes): a source that
   * can write its picture there (a grab, a file read) and returns it as `pixels` spares the encoder a copy of
   * every frame; a source that draws elsewhere ignores it.
   */
  captureVideo(into?: Uint8Array): SourceVideoFrame;
  /** Fills 20 ms of 48 kHz interleaved stereo s16; `startSample` is the session's continuous audio clock. */
  readAudio(out: Int16Array, startSample: number): void;
  /** State to resume from elsewhere, when the source has any (a captured game has none). */
  snapshot(): GameSnapshot | undefined;
  close(): Promise<void>;
}
