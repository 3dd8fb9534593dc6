import type { Worker } from 'node:worker_threads';
import { type Logger, pino } from 'pino';
import { relogWorkerLine } from './relogWorkerLine.js';
import { spawnSessionWorker, stopSessionWorker } from './spawnSessionWorker.js';
import { parseWorkerEvent, type WorkerEvent } from './workerMessages.js';

export type SessionWorkerPoolParameters = {
  /** Workers kept booted and idle (one per free slot is plenty). */
  size: number;
  /**
   * How long after a `take` the replacement worker starts, when another idle one is left (2 s by default): its
   * boot + warm-up (≈1.5 s of CPU) then runs after the newcomer's set-up (offer → first frame), not beside it.
   * Longer is worse: checkers' probes take workers every few seconds, and a 10 s delay left the pool empty, so a
   * player took a worker still loading its modules (5 s at load 12). With none left it starts at once.
   */
  refillDelayMs?: number;
  /** Warm each worker up while it waits (warmSessionWorker.ts). Default true. */
  warmUp?: boolean;
  log?: Logger;
};

const DEFAULT_REFILL_DELAY_MS = 2_000;

const MAX_FAILED_SPAWNS = 3;

/**
 * Session workers started ahead of time. Booting one (tsx, werift, node-av, Skia) takes about a second on
 * this machine — most of the 1 s first-frame budget — so a host keeps a few loaded and idle, and
 * `StreamSession.start({ pool })` takes one. Each idle worker then warms up (warmSessionWorker.ts: a throwaway
 * session streamed to itself) so that its session runs warm code. Idle workers are stopped with
 * `stopSessionWorker`, which waits for a warm-up's encoders to close.
 */
export class SessionWorkerPool {
  readonly size: number;
  readonly #log: Logger;
  readonly #idle = new Set<Worker>();
  /** Workers whose warm-up is over. */
  readonly #warm = new WeakSet<Worker>();
  readonly #onWarm = new Map<Worker, Array<() => void>>();
  readonly #refillDelayMs: number;
  #refillTimer: NodeJS.Timeout | undefined;
  readonly #warmUp: boolean;
  #failedSpawns = 0;
  #closed = false;

  constructor({ size, refillDelayMs = DEFAULT_REFILL_DELAY_MS, warmUp = true, log }: SessionWorkerPoolParameters) {
    this.size = size;
    this.#warmUp = warmUp;
    this.#refillDelayMs = refillDelayMs;
    this.#log = (log ?? pino({ level: 'silent' })).child({ mod: 'render-host/session-pool' });
    this.#fill();
  }

  get idle(): number {
    return this.#idle.size;
  }

  /** A booted (or booting) idle worker, or undefined when none is left; a replacement starts at once. */
  take(): Worker | undefined {
    const worker = this.#idle.values().next().value;
    if (!worker) return undefined;
    this.#idle.delete(worker);
    worker.removeAllListeners('exit');
    worker.removeAllListeners('error');
    worker.removeAllListeners('message');
    // Whoever waits for the pool to be warm stops waiting for this one: it is a session's now.
    this.#markWarm(worker);
    if (this.#idle.size === 0) this.#fill();
    else {
      // Any take meanwhile starts a new delay: the refill waits for the latest newcomer's first seconds.
      clearTimeout(this.#refillTimer);
      this.#refillTimer = setTimeout(() => this.#fill(), this.#refillDelayMs);
      this.#refillTimer.unref();
    }
    return worker;
  }

  #fill(): void {
    while (!this.#closed && this.#idle.size < this.size && this.#failedSpawns < MAX_FAILED_SPAWNS) {
      const worker = spawnSessionWorker('session (pooled)', { warmUp: this.#warmUp });
      // Without a warm-up it counts as warm once booted.
      if (!this.#warmUp) worker.once('online', () => this.#markWarm(worker));
      this.#idle.add(worker);
      worker.once('online', () => {
        this.#failedSpawns = 0;
      });
      worker.on('error', (error) => this.#log.error({ err: error }, 'idle session worker failed'));
      // Its warm-up's log lines and end (the session's own messages go to StreamSession once it is taken).
      worker.on('message', (data: unknown) => {
        let event: WorkerEvent;
        try {
          event = parseWorkerEvent(data);
        } catch (error) {
          this.#log.warn({ err: error }, 'invalid message from an idle session worker');
          return;
        }
        if (event.type === 'log') relogWorkerLine(this.#log, event.line, 'idle session worker');
        else if (event.type === 'warm') {
          this.#log.info({ completed: event.completed, stepsMs: event.stepsMs }, 'session worker warmed');
          this.#markWarm(worker);
        }
      });
      worker.once('exit', (code) => {
        this.#markWarm(worker);
        if (!this.#idle.delete(worker) || this.#closed) return;
        this.#failedSpawns += 1;
        this.#log.warn({ code, failedSpawns: this.#failedSpawns }, 'idle session worker exited; replacing it');
        this.#fill();
      });
    }
  }

  /**
   * Resolves once every idle worker has booted and finished its warm-up (or died), or after `timeoutMs`
   * (measurements that want a warm worker, like testing/setupTimeline.ts).
   */
  async warm(timeoutMs = 30_000): Promise<void> {
    const pending = [...this.#idle].filter((worker) => !this.#warm.has(worker));
    if (pending.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(
        pending.map(
          (worker) =>
            new Promise<void>((resolve) => this.#onWarm.set(worker, [...(this.#onWarm.get(worker) ?? []), resolve])),
        ),
      ),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  #markWarm(worker: Worker): void {
    this.#warm.add(worker);
    for (const resolve of this.#onWarm.get(worker) ?? []) resolve();
    this.#onWarm.delete(worker);
  }

  /** Terminates the idle workers (taken ones belong to their sessions). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#refillTimer);
    const idle = [...this.#idle];
    this.#idle.clear();
    await Promise.all(idle.map((worker) => stopSessionWorker(worker, this.#log)));
  }
}
