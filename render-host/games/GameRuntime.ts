import type { SKRSContext2D } from '@napi-rs/canvas';
import type {
  FrameMarkInput,
  GameInfoRecord,
  InputMessage,
  PingInput,
  PongInput,
  StreamInfoInput,
} from '../../signaling/protocol/index.js';

/** Input a game sees: everything on the data channels except the RTT probes, which the session answers. */
/** What a game takes: player input, not the RTT probe nor the host → player messages (frame marks, stream info). */
export type GameInputMessage = Exclude<InputMessage, PingInput | PongInput | FrameMarkInput | StreamInfoInput>;

/** Audio a game renders: 48 kHz, stereo, interleaved signed 16-bit (what the Opus encoder takes). */
export const GAME_AUDIO_SAMPLE_RATE = 48_000;
export const GAME_AUDIO_CHANNELS = 2;

/**
 * A game's whole state as JSON-safe data, tagged with the game id and a format version, so a session can be
 * resumed (player reconnects, or the session moves to another worker) with exactly the same game.
 */
export type GameSnapshot = { game: string; version: number; state: unknown };

/**
 * A built-in game: a deterministic fixed-step simulation plus a renderer, kept separable so that the same
 * inputs give the same state (tests hash it) and so that rendering and audio never feed back into the state.
 *
 * The session worker drives it: `applyInput` as messages arrive, `step()` once per tick (1/fps s),
 * `render(ctx)` for each frame it encodes (frames can be dropped; steps never are), `renderAudio` for each
 * 20 ms of sound. External games (captured from a display) do not implement this: they plug in one level
 * down, as a `MediaSource` (render-host/session/MediaSource.ts).
 */
export interface GameRuntime {
  readonly info: GameInfoRecord;
  /** Steps taken since the game (re)started; the simulation clock in ticks. */
  readonly tick: number;
  /** Seq of the last input message applied to the game state (0 before any). */
  readonly lastInputSeq: number;
  applyInput(message: GameInputMessage): void;
  /** Advances the simulation by exactly one fixed step (1/fps s). */
  step(): void;
  /** Draws the current state (the whole frame is the game's: nothing is drawn over it). */
  render(ctx: SKRSContext2D): void;
  /**
   * Fills `out` (interleaved stereo s16 at 48 kHz) with the next chunk of sound; `startSample` counts samples on
   * the session's audio clock and is continuous between calls. The session renders audio at most one chunk
   * ahead of the ticks, so an event's sound starts at the next sample rendered (≤ 20 ms after its step).
   */
  renderAudio(out: Int16Array, startSample: number): void;
  snapshot(): GameSnapshot;
  /** Replaces the whole state; throws AthError ATH_ERR_BAD_SNAPSHOT when it is not this game's. */
  restore(snapshot: GameSnapshot): void;
  /** A hash of the simulation state (not of pixels): equal inputs at equal ticks give equal hashes. */
  stateHash(): string;
}

export type CreateGameRuntimeParameters = { seed: number };
