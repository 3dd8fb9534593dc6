/** Refill rate and capacity of a token bucket. */
export type RateSettings = { ratePerSec: number; burst: number };

/**
 * A token bucket: `burst` tokens, refilled at `ratePerSec`; each admitted event takes one. `take` answers 0
 * (taken) or the milliseconds until a token will be there.
 */
export class TokenBucket {
  readonly #rate: RateSettings;
  #tokens: number;
  #lastMs: number;

  constructor(rate: RateSettings, nowMs: number) {
    this.#rate = rate;
    this.#tokens = rate.burst;
    this.#lastMs = nowMs;
  }

  take(nowMs: number): number {
    this.#refill(nowMs);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - this.#tokens) / this.#rate.ratePerSec) * 1000));
  }

  /** Puts a token back (the event it was taken for was refused elsewhere). */
  giveBack(): void {
    this.#tokens = Math.min(this.#rate.burst, this.#tokens + 1);
  }

  /** Full again: nothing is remembered about its past. */
  isFull(nowMs: number): boolean {
    this.#refill(nowMs);
    return this.#tokens >= this.#rate.burst;
  }

  #refill(nowMs: number): void {
    const elapsedMs = nowMs - this.#lastMs;
    if (elapsedMs <= 0) return;
    this.#tokens = Math.min(this.#rate.burst, this.#tokens + (elapsedMs / 1000) * this.#rate.ratePerSec);
    this.#lastMs = nowMs;
  }
}
