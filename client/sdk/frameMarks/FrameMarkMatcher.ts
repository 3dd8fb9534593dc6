/**
 * Joins the host's frame marks (`FrameMarkInput`: input seq N first took effect in the frame with RTP timestamp
 * T) with the frames the browser presents (RTP timestamp from `requestVideoFrameCallback`). A mark resolves on
 * the first presented frame at or after T — the marked frame itself, or the next one shown if the browser
 * skipped it — whichever of the two arrives first: the mark travels on the data channel and may overtake its
 * frame (decode takes longer) or, on a lossy link, fall behind it.
 */

export type FrameMark = { inputSeq: number; rtpTimestamp: number; frame: number };
export type PresentedFrameMark = FrameMark & { presentedAtMs: number };

/** Presented frames remembered for late marks: 4 s at 60 fps. */
const KEEP_PRESENTED = 240;
/** Marks waiting for their frame: at most this many (a stalled stream must not grow memory). */
const KEEP_PENDING = 256;

/** RTP timestamp order (mod 2^32): a at or after b. */
export function rtpAtOrAfter(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

export class FrameMarkMatcher {
  readonly #presented: Array<{ rtpTimestamp: number; presentedAtMs: number }> = [];
  /** Pending marks, in arrival order (the host sends them in RTP order). */
  readonly #pending: FrameMark[] = [];
  /** The newest RTP timestamp dropped from `#presented`: a mark at or before it can no longer be placed. */
  #forgottenRtp: number | undefined;

  /** A frame was presented: returns the marks it resolves (oldest first). */
  onPresented(rtpTimestamp: number, presentedAtMs: number): PresentedFrameMark[] {
    this.#presented.push({ rtpTimestamp, presentedAtMs });
    if (this.#presented.length > KEEP_PRESENTED) this.#forgottenRtp = this.#presented.shift()?.rtpTimestamp;
    let covered = 0;
    while (covered < this.#pending.length && rtpAtOrAfter(rtpTimestamp, this.#pending[covered]?.rtpTimestamp ?? 0)) {
      covered++;
    }
    return this.#pending.splice(0, covered).map((mark) => ({ ...mark, presentedAtMs }));
  }

  /** A mark arrived: resolved at once when its frame (or a later one) was already presented, else kept. */
  onMark(mark: FrameMark): PresentedFrameMark | undefined {
    if (this.#forgottenRtp !== undefined && rtpAtOrAfter(this.#forgottenRtp, mark.rtpTimestamp)) return undefined;
    const shown = this.#presented.find((frame) => rtpAtOrAfter(frame.rtpTimestamp, mark.rtpTimestamp));
    if (shown) return { ...mark, presentedAtMs: shown.presentedAtMs };
    this.#pending.push(mark);
    if (this.#pending.length > KEEP_PENDING) this.#pending.shift();
    return undefined;
  }

  /** A new transport: its RTP timestamps start elsewhere. */
  reset(): void {
    this.#presented.length = 0;
    this.#pending.length = 0;
    this.#forgottenRtp = undefined;
  }

  get pendingCount(): number {
    return this.#pending.length;
  }
}
