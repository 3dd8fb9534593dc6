/**
 * Spreads each video frame's RTP packets over part of the frame interval instead of sending them in one burst
 * (a burst of a whole frame fills a shallow router queue at once and loses its tail on a thin link).
 *
 * A token bucket at the pacing rate — the larger of `pacingFactor` × the encoder's target bitrate and what
 * empties the queue within `spreadMs` — drained every millisecond (Node's timer resolution). Nothing waits
 * longer than `spreadMs` after it was queued: a packet past that deadline leaves at once, so pacing never adds
 * more than `spreadMs` of latency, and the next frame never finds the previous one still queued.
 *
 * The bucket holds `burstMs` at `pacingFactor` × the target (default: two spreads, half a frame interval): a
 * frame up to ≈1.25× the average frame size (target / fps) leaves in one burst, as soon as it is encoded;
 * larger ones — keyframes, scene cuts, the frames that overflow a shallow queue — are spread. Spreading every
 * ordinary frame over the window cost each one ≈3 ms before its last packet left (bench:peer send→display
 * p50 5.1 ms against 1.x with a burst), for no gain: an average frame is what the link carries anyway.
 */

export type PacketPacerParameters<T> = {
  /** Sends one item now (synchronously: the pacer counts it as gone). */
  send: (item: T) => void;
  /** The longest a packet may wait in the pacer, ms (e.g. a quarter of the frame interval). */
  spreadMs: number;
  /** Pacing rate as a multiple of the target bitrate (WebRTC's pacers use ≈2.5). */
  pacingFactor?: number;
  /** The encoder's target bitrate to start with. */
  targetBitrateBps: number;
  /** How much leaves at once after an idle spell: this long at `pacingFactor` × the target (default 2 × spreadMs). */
  burstMs?: number;
  /** Clock (tests); performance.now by default. */
  now?: () => number;
};

type Queued<T> = { item: T; bytes: number; deadlineMs: number };

const DEFAULT_PACING_FACTOR = 2.5;
/** While draining a queue, the bucket refills at most this long at the drain rate (or two full packets). */
const BURST_MS = 1;
/** Default `burstMs` in spreads: half a frame interval when the spread is a quarter of it. */
const BURST_SPREADS = 2;
const MIN_BURST_BYTES = 2 * 1200;
const TICK_MS = 1;

export class PacketPacer<T> {
  readonly #send: (item: T) => void;
  readonly #spreadMs: number;
  readonly #burstMs: number;
  readonly #pacingFactor: number;
  readonly #now: () => number;
  #targetBps: number;
  readonly #queue: Queued<T>[] = [];
  #queuedBytes = 0;
  /** Bytes the pacing rate allows now; refilled by elapsed time, capped at one burst. An idle pacer is full. */
  #tokens: number;
  #lastRefillMs: number;
  /** The rate of the current drain: set on enqueue so the queue empties within `spreadMs`. */
  #rateBps: number;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #maxQueueMs = 0;

  constructor({ send, spreadMs, pacingFactor, targetBitrateBps, burstMs, now }: PacketPacerParameters<T>) {
    this.#send = send;
    this.#spreadMs = spreadMs;
    this.#burstMs = burstMs ?? BURST_SPREADS * spreadMs;
    this.#pacingFactor = pacingFactor ?? DEFAULT_PACING_FACTOR;
    this.#now = now ?? (() => performance.now());
    this.#targetBps = targetBitrateBps;
    this.#rateBps = this.#pacingFactor * targetBitrateBps;
    this.#lastRefillMs = this.#now();
    this.#tokens = this.#burstBytes();
  }

  /** The bucket's size: a frame's worth at the pacing rate, or one tick at a faster drain, or two packets. */
  #burstBytes(): number {
    const frameBurst = ((this.#pacingFactor * this.#targetBps) / 8) * (this.#burstMs / 1000);
    return Math.max(MIN_BURST_BYTES, frameBurst, (this.#rateBps / 8) * (BURST_MS / 1000));
  }

  /** The encoder's target changed (the pacing rate follows it). */
  setTargetBitrate(bitrateBps: number): void {
    this.#targetBps = bitrateBps;
  }

  get queuedPackets(): number {
    return this.#queue.length;
  }

  /** The longest any packet waited in the pacer, ms (since the last read). */
  takeMaxQueueMs(): number {
    const max = this.#maxQueueMs;
    this.#maxQueueMs = 0;
    return max;
  }

  /** Queues one frame's packets (with their sizes) and sends what the rate allows now. */
  enqueue(packets: ReadonlyArray<{ item: T; bytes: number }>): void {
    if (this.#closed) return;
    const now = this.#now();
    for (const { item, bytes } of packets) {
      this.#queue.push({ item, bytes, deadlineMs: now + this.#spreadMs });
      this.#queuedBytes += bytes;
    }
    const emptyWithinSpread = (this.#queuedBytes * 8) / Math.max(0.001, this.#spreadMs / 1000);
    this.#rateBps = Math.max(this.#pacingFactor * this.#targetBps, emptyWithinSpread);
    this.#drain();
  }

  #drain(): void {
    if (this.#closed) return;
    const now = this.#now();
    const burst = this.#burstBytes();
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#lastRefillMs) * this.#rateBps) / 8000);
    this.#lastRefillMs = now;
    for (;;) {
      const head = this.#queue[0];
      if (!head) break;
      if (this.#tokens <= 0 && head.deadlineMs > now) break;
      this.#queue.shift();
      this.#queuedBytes -= head.bytes;
      this.#tokens -= head.bytes;
      const waitedMs = now - (head.deadlineMs - this.#spreadMs);
      if (waitedMs > this.#maxQueueMs) this.#maxQueueMs = waitedMs;
      this.#send(head.item);
    }
    if (this.#queue.length === 0) {
      // An idle pacer starts the next frame with one burst's worth, not with debt.
      this.#tokens = Math.max(this.#tokens, 0);
      return;
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#drain();
    }, TICK_MS);
  }

  /** Sends nothing more; what is queued is dropped. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
  }
}
