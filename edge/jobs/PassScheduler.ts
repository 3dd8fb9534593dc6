/**
 * The schedule of a background job that works in passes (settlement, slashes, rewards): a pass on every tick
 * and on demand, never two at once — a pass asked for while one runs starts after it — and a failed pass is
 * logged, not thrown into the timer. The job keeps its own lease and state; this only decides when passes run.
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

  /** One pass after any pass already running; resolves with its outcome (rejects if it failed). */
  runSoon(): Promise<T> {
    const run = this.#running.then(() => this.#p.pass());
    this.#running = run.catch((error: unknown) => this.#p.log.error({ err: error }, this.#p.failure));
    return run;
  }

  /** No more ticks; resolves once the pass in progress (if any) is over. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running.catch(() => undefined);
  }
}
