/**
 * Turns werift's transport-wide-cc feedback into an encoder target within configured bounds.
 *
 * werift's `senderBWE.onAvailableBitrate` is not a capacity estimate: it is min(send rate, receive rate) of
 * the packets acknowledged since the last report, i.e. the throughput the receiver saw. Following it directly
 * spirals down (a quiet scene sends less → "available" falls → the encoder gets less …). So:
 * - the receiver getting clearly less than we sent over about the same window (twice in a row), werift's
 *   congestion flag, or RTCP-reported loss → cut to just under what got through (multiplicative decrease);
 * - otherwise probe up ~8 %/s towards the maximum (the encoder only spends what the picture needs);
 * - after a cut, hold for 2 s before probing again.
 */
import { AthError } from '../../signaling/protocol/index.js';
import { RenderHostErrorCode } from '../errors.js';

export type BitrateBounds = { minBitrateBps: number; startBitrateBps: number; maxBitrateBps: number };

export type BitrateControllerParameters = BitrateBounds & {
  /** Called when the target changes (rounded to 10 kbit/s to avoid reconfiguring on noise). */
  onTarget?: (bitrateBps: number) => void;
};

const INCREASE_FACTOR = 1.08;
const INCREASE_INTERVAL_MS = 1000;
const HOLD_AFTER_DECREASE_MS = 2000;
const DECREASE_FACTOR = 0.85;
/** Receiver got less than this share of what we sent over the same window: the path is saturated. */
const DELIVERY_RATIO_CONGESTED = 0.8;
const LOSS_CONGESTED = 0.1;
const LOSS_HOLD = 0.02;

export class BitrateController {
  readonly bounds: BitrateBounds;
  readonly #onTarget: ((bitrateBps: number) => void) | undefined;
  #targetBps: number;
  #lastDecreaseMs = Number.NEGATIVE_INFINITY;
  #lastIncreaseMs = Number.NEGATIVE_INFINITY;
  #congested = false;
  #lossFraction = 0;
  #lastEstimateBps: number | undefined;
  #saturatedReports = 0;

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

  get lastEstimateBps(): number | undefined {
    return this.#lastEstimateBps;
  }

  /**
   * A werift throughput report (`onAvailableBitrate`), with what we sent over about the same recent window
   * (so the two rates are comparable).
   */
  onEstimate(estimateBps: number, sentBps: number, nowMs: number): void {
    this.#lastEstimateBps = estimateBps;
    // Two reports in a row: the send-rate window only approximates werift's, a single short one is noise.
    const saturated = sentBps > 0 && estimateBps < sentBps * DELIVERY_RATIO_CONGESTED;
    this.#saturatedReports = saturated ? this.#saturatedReports + 1 : 0;
    if (this.#saturatedReports >= 2 || this.#congested || this.#lossFraction >= LOSS_CONGESTED) {
      this.#decrease(Math.min(this.#targetBps, estimateBps) * DECREASE_FACTOR, nowMs);
      return;
    }
    if (saturated || this.#lossFraction >= LOSS_HOLD) return;
    if (nowMs - this.#lastDecreaseMs < HOLD_AFTER_DECREASE_MS) return;
    if (nowMs - this.#lastIncreaseMs < INCREASE_INTERVAL_MS) return;
    this.#lastIncreaseMs = nowMs;
    this.#set(this.#targetBps * INCREASE_FACTOR);
  }

  /** werift's congestion flag (feedback starved for over a second). */
  onCongestion(congested: boolean, nowMs: number): void {
    this.#congested = congested;
    if (congested) this.#decrease(this.#targetBps * DECREASE_FACTOR, nowMs);
  }

  /** Fraction lost (0..1) from the receiver's RTCP report for the video stream. */
  onLoss(fractionLost: number, nowMs: number): void {
    this.#lossFraction = fractionLost;
    if (fractionLost >= LOSS_CONGESTED) this.#decrease(this.#targetBps * (1 - fractionLost / 2), nowMs);
  }

  #decrease(bitrateBps: number, nowMs: number): void {
    // One cut per feedback round is enough: several signals usually report the same event.
    if (nowMs - this.#lastDecreaseMs < 200) return;
    this.#lastDecreaseMs = nowMs;
    this.#set(bitrateBps);
  }

  #set(bitrateBps: number): void {
    const clamped = Math.min(this.bounds.maxBitrateBps, Math.max(this.bounds.minBitrateBps, bitrateBps));
    const rounded = Math.round(clamped / 10_000) * 10_000;
    const next = Math.min(this.bounds.maxBitrateBps, Math.max(this.bounds.minBitrateBps, rounded));
    if (next === this.#targetBps) return;
    this.#targetBps = next;
    this.#onTarget?.(next);
  }
}
