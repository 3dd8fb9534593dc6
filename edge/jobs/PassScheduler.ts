/**
 * The schedule of a background job that works in passes (settlement, slashes, rewards): a pass on every tick
 * and on demand, never two at once — a pass asked for while one runs starts after it — and a failed pass is
 * logged, not thrown into the timer. Asks that come while a pass waits to start share it: at most one pass waits
 * behind the running one, however many ticks (a slow chain) or on-demand asks (every escrow WithdrawRequested
 * event, which any payer can emit) come meanwhile — they used to queue a whole pass each. After `stop` no pass
 * starts. The job keeps its own lease and state; this only decides when passes run.
 */
import type { Logger } from 'pino';

export type PassSchedulerParameters<T> = {
  pass: () => Promise<T>;
  /** How a failed pass is logged (the error goes to the caller of `runSoon` too). */
  log: Logger;
  /** What the log line says when a pass fails, e.g. 'slash pass failed'. */
  failure: string;
};

export class PassScheduler<T> {
  readonly #p: PassSchedulerParameters<T>;
  #running: Promise<unknown> = Promise.resolve();
  /** The pass waiting for the running one to end (asks share it); undefined once it started. */
  #waiting: Promise<T> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(params: PassSchedulerParameters<T>) {
    this.#p = params;
  }

  /** A pass every `intervalMs` from now on (the timer does not keep the process alive). */
  every(intervalMs: number): void {
    if (this.#stopped) return;
    clearInterval(this.#timer);
    this.#timer = setInterval(() => void this.runSoon(), intervalMs);
    this.#timer.unref();
  }

  /**
   * A pass after any pass already running — the one already waiting to start, if any; resolves with its outcome
   * (rejects if it failed, or at once when the scheduler is stopped).
   */
  runSoon(): Promise<T> {
    if (this.#stopped) {
      const refused = Promise.reject(new Error(`${this.#p.failure}: the scheduler is stopped`));
      // Callers that fire and forget (`void runSoon()`) must not turn this into an unhandled rejection.
      refused.catch(() => undefined);
      return refused;
    }
    if (this.#waiting) return this.#waiting;
    const run = this.#running.then(() => {
      this.#waiting = undefined;
      if (this.#stopped) throw new Error(`${this.#p.failure}: the scheduler is stopped`);
      return this.#p.pass();
    });
    this.#waiting = run;
    this.#running = run.catch((error: unknown) => {
      if (!this.#stopped) this.#p.log.error({ err: error }, this.#p.failure);
    });
    return run;
  }

  /** No more ticks; resolves once the pass in progress (if any) is over. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running.catch(() => undefined);
  }
}
