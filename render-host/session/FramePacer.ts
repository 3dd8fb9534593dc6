/**
 * A drift-corrected frame clock: tick n is due at start + n × period, each timer is armed for the next due
 * time (not "period from now"), so timer lateness never accumulates. When the worker falls behind by whole
 * periods (GC, a slow frame, a loaded machine), the missed ticks are reported in one callback instead of
 * being replayed back to back: the simulation catches up in steps, the encoder gets one frame.
 */
export type FrameTick = {
  /** Index of this tick since `start()` (the first is 0). */
  index: number;
  /** Ticks skipped since the previous callback (0 when on time). */
  missed: number;
  /** When this tick was due, on the pacer's clock (performance.now() by default). */
  dueMs: number;
  /** How late this callback ran after its due time, ms. */
  lateMs: number;
};

export type FramePacerParameters = {
  fps: number;
  onTick: (tick: FrameTick) => void;
  now?: () => number;
};

export class FramePacer {
  readonly periodMs: number;
  readonly #onTick: (tick: FrameTick) => void;
  readonly #now: () => number;
  #startMs = 0;
  #next = 0;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #missedTotal = 0;

  constructor({ fps, onTick, now = () => performance.now() }: FramePacerParameters) {
    this.periodMs = 1000 / fps;
    this.#onTick = onTick;
    this.#now = now;
  }

  get running(): boolean {
    return this.#running;
  }

  /** Ticks the pacer skipped because the worker was late (they still count as steps for the simulation). */
  get missedTotal(): number {
    return this.#missedTotal;
  }

  /** Starts ticking: tick 0 is due at `startMs` (default now; pacers sharing a start share their clock). */
  start(startMs = this.#now()): void {
    if (this.#running) return;
    this.#running = true;
    this.#startMs = startMs;
    this.#next = 0;
    this.#arm();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    const dueMs = this.#startMs + this.#next * this.periodMs;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, dueMs - this.#now()));
  }

  #fire(): void {
    if (!this.#running) return;
    const now = this.#now();
    // The newest tick that is due: everything between the last fired tick and it was missed.
    const due = Math.max(this.#next, Math.floor((now - this.#startMs) / this.periodMs));
    const missed = due - this.#next;
    this.#missedTotal += missed;
    this.#next = due + 1;
    try {
      const dueMs = this.#startMs + due * this.periodMs;
      this.#onTick({ index: due, missed, dueMs, lateMs: now - dueMs });
    } finally {
      if (this.#running) this.#arm();
    }
  }
}
