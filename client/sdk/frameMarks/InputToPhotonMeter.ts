/**
 * Input→photon from the video alone: when an input with seq N is sent, note the time; when the first frame
 * whose tag says `inputSeq ≥ N` is presented, the difference is one sample. Every pending input that frame
 * covers is resolved by it (a frame reflects all the inputs up to its seq).
 */
import { percentile } from '../stats/statsMath.js';

export type InputToPhotonSample = { seq: number; sentAtMs: number; presentedAtMs: number; latencyMs: number };

const MAX_PENDING = 512;
const MAX_SAMPLES = 1024;

export class InputToPhotonMeter {
  /** Pending sends, ascending seq. */
  readonly #pending: Array<{ seq: number; sentAtMs: number }> = [];
  readonly #samples: InputToPhotonSample[] = [];

  noteSent(seq: number, sentAtMs: number): void {
    const last = this.#pending.at(-1);
    if (last && seq <= last.seq) return;
    this.#pending.push({ seq, sentAtMs });
    if (this.#pending.length > MAX_PENDING) this.#pending.shift();
  }

  /** A frame reflecting inputs up to `inputSeq` was presented: returns the samples it completed. */
  notePresented(inputSeq: number, presentedAtMs: number): InputToPhotonSample[] {
    let covered = 0;
    while (covered < this.#pending.length && (this.#pending[covered]?.seq ?? Infinity) <= inputSeq) covered++;
    if (covered === 0) return [];
    const done = this.#pending.splice(0, covered).map(({ seq, sentAtMs }) => ({
      seq,
      sentAtMs,
      presentedAtMs,
      latencyMs: Math.max(0, presentedAtMs - sentAtMs),
    }));
    this.#samples.push(...done);
    if (this.#samples.length > MAX_SAMPLES) this.#samples.splice(0, this.#samples.length - MAX_SAMPLES);
    return done;
  }

  /** A new transport or session: pending sends will never be matched against the old stream. */
  reset(): void {
    this.#pending.length = 0;
  }

  get samples(): readonly InputToPhotonSample[] {
    return this.#samples;
  }

  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Median of the last `window` samples. */
  recentMedianMs(window = 30): number | undefined {
    return percentile(
      this.#samples.slice(-window).map((s) => s.latencyMs),
      50,
    );
  }
}
