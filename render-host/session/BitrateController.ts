/**
 * The encoder's target bitrate, from transport-wide-cc feedback (DeliveryMonitor), within configured bounds:
 * - a queue building up on the path (one-way delay > 50 ms above its recent minimum) or loss ≥ 10 % → cut to
 *   85 % of what got through (multiplicative decrease, at most every half second);
 * - no queue (< 15 ms) and loss < 2 % → probe up towards the maximum (the encoder only spends what the picture
 *   needs, so a quiet scene does not drag the target down): 8 % per second within 4 s of the last cut (near the
 *   rate the path just refused), then 15 % every half second — so a limit that went away is noticed and the
 *   target is back at full rate within a few seconds, while a limit that stays is approached gently;
 * - after a cut, hold for 2 s before probing again; in between, keep.
 */
import { AthError } from '../../signaling/protocol/index.js';
import { RenderHostErrorCode } from '../errors.js';
import type { DeliveryReport } from './DeliveryMonitor.js';

export type BitrateBounds = { minBitrateBps: number; startBitrateBps: number; maxBitrateBps: number };

export type BitrateControllerParameters = BitrateBounds & {
  /** Called when the target changes (rounded to 10 kbit/s so noise does not reconfigure the encoder). */
  onTarget?: (bitrateBps: number) => void;
};

const INCREASE_FACTOR = 1.08;
const INCREASE_INTERVAL_MS = 1000;
/** Long after the last cut: nothing has pushed back for a while, climb fast. */
const FAST_AFTER_DECREASE_MS = 4000;
const FAST_INCREASE_FACTOR = 1.15;
const FAST_INCREASE_INTERVAL_MS = 500;
const HOLD_AFTER_DECREASE_MS = 2000;
const DECREASE_INTERVAL_MS = 500;
const DECREASE_FACTOR = 0.85;
const QUEUE_CONGESTED_MS = 50;
const QUEUE_CLEAR_MS = 15;
const LOSS_CONGESTED = 0.1;
const LOSS_CLEAR = 0.02;

export class BitrateController {
  readonly bounds: BitrateBounds;
  readonly #onTarget: ((bitrateBps: number) => void) | undefined;
  #targetBps: number;
  #lastDecreaseMs = Number.NEGATIVE_INFINITY;
  #lastIncreaseMs = Number.NEGATIVE_INFINITY;
  #lastReport: DeliveryReport | undefined;

  constructor({ onTarget, ...bounds }: BitrateControllerParameters) {
    if (!(bounds.minBitrateBps <= bounds.startBitrateBps && bounds.startBitrateBps <= bounds.maxBitrateBps)) {
      throw new AthError({
        code: RenderHostErrorCode.badParameters,
        shortMessage: 'bitrate bounds must satisfy min ≤ start ≤ max',
        details: JSON.stringify(bounds),
      });
    }
    this.bounds = bounds;
    this.#onTarget = onTarget;
    this.#targetBps = bounds.startBitrateBps;
  }

  get targetBps(): number {
    return this.#targetBps;
  }

  get lastReport(): DeliveryReport | undefined {
    return this.#lastReport;
  }

  onDelivery(report: DeliveryReport, nowMs: number): void {
    this.#lastReport = report;
    if (report.queueDelayMs > QUEUE_CONGESTED_MS || report.lossFraction >= LOSS_CONGESTED) {
      if (nowMs - this.#lastDecreaseMs < DECREASE_INTERVAL_MS) return;
      this.#lastDecreaseMs = nowMs;
      const through = report.deliveredBps ?? this.#targetBps;
      this.#set(Math.min(this.#targetBps, through) * DECREASE_FACTOR);
      return;
    }
    if (report.queueDelayMs >= QUEUE_CLEAR_MS || report.lossFraction >= LOSS_CLEAR) return;
    const sinceDecreaseMs = nowMs - this.#lastDecreaseMs;
    if (sinceDecreaseMs < HOLD_AFTER_DECREASE_MS) return;
    const fast = sinceDecreaseMs >= FAST_AFTER_DECREASE_MS;
    if (nowMs - this.#lastIncreaseMs < (fast ? FAST_INCREASE_INTERVAL_MS : INCREASE_INTERVAL_MS)) return;
    this.#lastIncreaseMs = nowMs;
    this.#set(this.#targetBps * (fast ? FAST_INCREASE_FACTOR : INCREASE_FACTOR));
  }

  #set(bitrateBps: number): void {
    const rounded = Math.round(bitrateBps / 10_000) * 10_000;
    const next = Math.min(this.bounds.maxBitrateBps, Math.max(this.bounds.minBitrateBps, rounded));
    if (next === this.#targetBps) return;
    this.#targetBps = next;
    this.#onTarget?.(next);
  }
}
