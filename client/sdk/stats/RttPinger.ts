/**
 * RTT on the input path itself: a `PingInput` on the reliable `input` channel, echoed by the render host
 * as a `PongInput` with the same id and the sender's clock, so RTT is measured on one clock.
 */
import { PingInput, type PongInput } from '../../../signaling/protocol/index.js';
import { median } from './statsMath.js';

const KEEP_SAMPLES = 10;
/** A ping unanswered for this long is forgotten (a pong after it is ignored). */
const PING_TIMEOUT_MS = 10_000;

export class RttPinger {
  readonly #outstanding = new Map<number, number>();
  readonly #rttsMs: number[] = [];
  #nextId = 1;

  /** The next ping to send. */
  ping(nowMs: number): Uint8Array {
    for (const [id, sentAtMs] of this.#outstanding) {
      if (nowMs - sentAtMs > PING_TIMEOUT_MS) this.#outstanding.delete(id);
    }
    const id = this.#nextId++ >>> 0;
    this.#outstanding.set(id, nowMs);
    return new PingInput(id, nowMs).serialize();
  }

  /** A pong arrived: its RTT, or undefined for a pong we did not ask for (or asked too long ago). */
  pong(pong: PongInput, nowMs: number): number | undefined {
    const sentAtMs = this.#outstanding.get(pong.id);
    if (sentAtMs === undefined || sentAtMs !== pong.sentAtMs) return undefined;
    this.#outstanding.delete(pong.id);
    const rttMs = Math.max(0, nowMs - sentAtMs);
    this.#rttsMs.push(rttMs);
    if (this.#rttsMs.length > KEEP_SAMPLES) this.#rttsMs.shift();
    return rttMs;
  }

  /** Median of the recent RTTs. */
  get rttMs(): number | undefined {
    return median(this.#rttsMs);
  }

  reset(): void {
    this.#outstanding.clear();
    this.#rttsMs.length = 0;
  }
}
