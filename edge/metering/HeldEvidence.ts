import type { SignedDeliveryReceipt } from '../../signaling/protocol/index.js';

/**
 * What is known about one session's delivery over the stretch its player disputes (issue 14, hostile review
 * finding 3): the host's signed receipts (cumulative frames it says it sent, on its clock) and the player's own
 * decoder count (cumulative frames decoded, on the meter's clock), each summed over the reports that arrived while
 * the dispute ran. The checkers' probe says how the *host* serves; this says how *this session* was served.
 *
 * A counter that goes backwards (a new transport after a resume restarts the browser's count) adds nothing.
 */
export class HeldEvidence {
  #lastReceipt: SignedDeliveryReceipt | undefined;
  #lastDecoded: { frames: number; atMs: number } | undefined;
  /** The first and the latest signed receipt of the stretch: their difference is what the host claims, signed. */
  #firstHeldReceipt: SignedDeliveryReceipt | undefined;
  #latestHeldReceipt: SignedDeliveryReceipt | undefined;
  #decodedFrames = 0;
  #decodedMs = 0;

  /** A host report's receipt (ignored when it names another session: the hub checked the sender, not the body). */
  onReceipt(signed: SignedDeliveryReceipt, sessionId: string, disputing: boolean): void {
    if (signed.receipt.sessionId !== sessionId) return;
    const last = this.#lastReceipt;
    if (last && signed.receipt.seq <= last.receipt.seq) return;
    this.#lastReceipt = signed;
    if (!disputing) return;
    this.#firstHeldReceipt ??= last ?? signed;
    this.#latestHeldReceipt = signed;
  }

  /** A player report's decoder count, at the meter's time `atMs`. */
  onDecoded(frames: number, atMs: number, disputing: boolean): void {
    const last = this.#lastDecoded;
    this.#lastDecoded = { frames, atMs };
    if (!disputing || !last || frames < last.frames || atMs <= last.atMs) return;
    this.#decodedFrames += frames - last.frames;
    this.#decodedMs += atMs - last.atMs;
  }

  /** The player's decoder rate over the disputed stretch, in milli-fps; undefined when it reported too little. */
  decodedFpsMilli(): number | undefined {
    if (this.#decodedMs < 1000) return undefined;
    return Math.round((this.#decodedFrames * 1_000_000) / this.#decodedMs);
  }

  /** What the host's signed receipts claim over the stretch (milli-fps on its clock), with the two receipts. */
  claimed(): { fpsMilli: number; receipts: SignedDeliveryReceipt[] } | undefined {
    const first = this.#firstHeldReceipt;
    const latest = this.#latestHeldReceipt;
    if (!first || !latest) return undefined;
    const ms = Number(latest.receipt.timestamp - first.receipt.timestamp);
    if (first === latest || ms < 1000) return { fpsMilli: latest.receipt.fpsMilli, receipts: [latest] };
    const frames = Number(latest.receipt.framesSent - first.receipt.framesSent);
    return { fpsMilli: Math.max(0, Math.round((frames * 1_000_000) / ms)), receipts: [first, latest] };
  }

  /** The stretch was decided (billed or dropped): the next dispute starts from nothing. */
  reset(): void {
    this.#firstHeldReceipt = undefined;
    this.#latestHeldReceipt = undefined;
    this.#decodedFrames = 0;
    this.#decodedMs = 0;
  }
}
