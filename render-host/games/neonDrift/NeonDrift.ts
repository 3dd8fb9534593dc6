import { createHash } from 'node:crypto';
import type { SKRSContext2D } from '@napi-rs/canvas';
import { Value } from '@sinclair/typebox/value';
import { AthError, type GameInfoRecord } from '../../../signaling/protocol/index.js';
import { RenderHostErrorCode } from '../../errors.js';
import type { GameInputMessage, GameRuntime, GameSnapshot } from '../GameRuntime.js';
import { drawNeonDrift, NeonDriftHud } from './drawNeonDrift.js';
import { NeonDriftSynth } from './NeonDriftSynth.js';
import {
  applyNeonDriftInput,
  createNeonDriftState,
  NEON_DRIFT_HEIGHT,
  NEON_DRIFT_WIDTH,
  type NeonDriftState,
  NeonDriftStateSchema,
  stepNeonDrift,
} from './neonDriftState.js';

export const NEON_DRIFT_INFO: GameInfoRecord = {
  id: 'neon-drift',
  title: 'Neon Drift',
  description:
    'Steer a neon ship (arrows/WASD, mouse or gamepad), collect orbs for combos, dodge the mines. Space, right click or (A) to boost.',
  width: NEON_DRIFT_WIDTH,
  height: NEON_DRIFT_HEIGHT,
  fps: 60,
  inputMode: 'absolute',
  audio: true,
};

const SNAPSHOT_VERSION = 1;

/** Neon Drift behind the GameRuntime seam: the state machine, its renderer and its synth. */
export class NeonDrift implements GameRuntime {
  readonly info = NEON_DRIFT_INFO;
  #state: NeonDriftState;
  readonly #synth = new NeonDriftSynth();
  /** The HUD's picture for the canvas this game renders to (a game renders to one canvas: its source's). */
  readonly #hud = new NeonDriftHud();
  /** The next sample audio rendering will produce: a step's events start sounding there. */
  #audioCursor = 0;

  constructor({ seed }: { seed: number }) {
    this.#state = createNeonDriftState(seed);
  }

  get tick(): number {
    return this.#state.tick;
  }

  get lastInputSeq(): number {
    return this.#state.lastInputSeq;
  }

  /** Read-only view for tests and diagnostics. */
  get state(): Readonly<NeonDriftState> {
    return this.#state;
  }

  applyInput(message: GameInputMessage): void {
    applyNeonDriftInput(this.#state, message);
  }

  step(): void {
    const events = stepNeonDrift(this.#state);
    if (events.length === 0) return;
    for (const event of events) this.#synth.trigger(event, this.#audioCursor);
  }

  render(ctx: SKRSContext2D): void {
    drawNeonDrift(ctx, this.#state, this.#hud);
  }

  renderAudio(out: Int16Array, startSample: number): void {
    this.#synth.render(out, startSample);
    this.#audioCursor = startSample + out.length / 2;
  }

  snapshot(): GameSnapshot {
    return { game: NEON_DRIFT_INFO.id, version: SNAPSHOT_VERSION, state: structuredClone(this.#state) };
  }

  restore(snapshot: GameSnapshot): void {
    if (
      snapshot.game !== NEON_DRIFT_INFO.id ||
      snapshot.version !== SNAPSHOT_VERSION ||
      !Value.Check(NeonDriftStateSchema, snapshot.state)
    ) {
      throw new AthError({
        code: RenderHostErrorCode.badSnapshot,
        shortMessage: 'not a Neon Drift snapshot',
        details: `game ${snapshot.game}, version ${snapshot.version}`,
      });
    }
    this.#state = structuredClone(snapshot.state);
  }

  stateHash(): string {
    return createHash('sha256').update(JSON.stringify(this.#state)).digest('hex');
  }
}
