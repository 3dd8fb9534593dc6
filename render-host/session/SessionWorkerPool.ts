import type { Worker } from 'node:worker_threads';
import { type Logger, pino } from 'pino';
import { relogWorkerLine } from './relogWorkerLine.js';
import { spawnSessionWorker, stopSessionWorker } from './spawnSessionWorker.js';
import { parseWorkerEvent, type WorkerEvent } from './workerMessages.js';

export type SessionWorkerPoolParameters = {
  /** Workers the pool keeps, idle or lent to a session (one per slot: each slot's session gets one). */
  size: number;
  /**
   * Of those, how many it boots up front and keeps booted (default: all). The rest are kept only once a session
   * needed one: a session that found none idle starts its own worker, and the pool adopts it when the session
   * ends. A render host's probe reserve is such a worker — probes run there only when every slot is busy, so
   * booting one for it beside the host's start-up (and a newcomer's first Play) bought nothing.
   */
  bootedAhead?: number;
  /**
   * How long the pool waits before it boots a replacement for a worker it lost (a session that failed, a worker
   * that crashed) while another idle one is left: a boot + warm-up is ≈1.5 s of CPU, better spent after a
   * newcomer's set-up than beside it. With none left it boots at once. Default 2 s.
   */
  refillDelayMs?: number;
  /** Warm each new worker up while it waits (warmSessionWorker.ts). Default true. */
  warmUp?: boolean;
  /**
   * A worker that served this many sessions is retired: replaced at a quiet moment (no session running) and
   * used meanwhile; at twice this it is stopped when its session ends. Default 100.
   */
  maxSessionsPerWorker?: number;
  /** The same for a worker whose V8 heap is above this after its session closed. Default 256 MiB. */
  maxHeapUsedBytes?: number;
  log?: Logger;
};

/** How a session's worker came back (its `close` reply, StreamSession). */
export type ReleaseSessionWorkerParameters = {
  /** It closed its session cleanly in time and says it can serve another (sessionWorker.ts `recycle`). */
  reusable: boolean;
  heapUsedBytes?: number;
};

export type AcquireSessionWorkerParameters = {
  /** With none idle, how long to wait for a worker whose session is closing (then: undefined). Default 2 s. */
  waitMs?: number;
};

const DEFAULT_REFILL_DELAY_MS = 2_000;
const DEFAULT_RETURN_WAIT_MS = 2_000;
const DEFAULT_MAX_SESSIONS_PER_WORKER = 100;
const DEFAULT_MAX_HEAP_USED_BYTES = 256 * 1024 * 1024;

const MAX_FAILED_SPAWNS = 3;

/**
 * Session workers, booted ahead of time and reused. Booting one (tsx, werift, node-av, Skia) and warming it up
 * (warmSessionWorker.ts: a throwaway session streamed to itself, so that its session runs warm code) costs the
 * host ≈1.5 s of CPU — beside its live sessions, whose frames it took (bench:checker: a check round's three
 * probes each cost a boot, and the live player dipped to 30 fps 2–3 s after each). So the pool keeps `size`
 * workers (one per slot), lends one to each session (`StreamSession.start({ pool })` → `acquire`), and takes it
 * back when the session ends (`release`): a worker whose session closed cleanly waits for the next one, its state
 * forgotten (sessionWorker.ts); one that failed, crashed or did not close in time is stopped and replaced. A
 * steady host boots no worker at all. Idle workers are stopped with `stopSessionWorker`, which waits for a
 * warm-up's encoders to close.
 */
export class SessionWorkerPool {
  readonly size: number;
  readonly #log: Logger;
  readonly #idle = new Set<Worker>();
  /** Lent to sessions, until they give them back (`release`). */
  readonly #lent = new Set<Worker>();
  /** Lent ones whose sessions are closing: `acquire` may wait for them. */
  readonly #returning = new Set<Worker>();
  readonly #waiters: Array<(worker: Worker | undefined) => void> = [];
  /** Sessions each worker served. */
  readonly #served = new WeakMap<Worker, number>();
  /** Over a bound: replaced at the next quiet moment, used meanwhile (last). */
  readonly #retiring = new WeakSet<Worker>();
  /** Workers whose warm-up is over. */
  readonly #warm = new WeakSet<Worker>();
  readonly #onWarm = new Map<Worker, Array<() => void>>();
  readonly #refillDelayMs: number;
  readonly #maxSessions: number;
  readonly #maxHeapUsedBytes: number;
  #refillTimer: NodeJS.Timeout | undefined;
  readonly #warmUp: boolean;
  #failedSpawns = 0;
  /** How many workers `#fill` keeps booted: `bootedAhead`, raised as the pool adopts workers sessions started. */
  #target: number;
  #spawned = 0;
  #reused = 0;
  #closed = false;

  constructor({
    size,
    bootedAhead = size,
    refillDelayMs = DEFAULT_REFILL_DELAY_MS,
    warmUp = true,
    maxSessionsPerWorker = DEFAULT_MAX_SESSIONS_PER_WORKER,
    maxHeapUsedBytes = DEFAULT_MAX_HEAP_USED_BYTES,
    log,
  }: SessionWorkerPoolParameters) {
    this.size = size;
    this.#target = Math.min(size, bootedAhead);
    this.#warmUp = warmUp;
    this.#refillDelayMs = refillDelayMs;
    this.#maxSessions = maxSessionsPerWorker;
    this.#maxHeapUsedBytes = maxHeapUsedBytes;
    this.#log = (log ?? pino({ level: 'silent' })).child({ mod: 'render-host/session-pool' });
    this.#fill();
  }

  /** Workers waiting for a session (booted or booting). */
  get idle(): number {
    return this.#idle.size;
  }

  /** Workers lent to sessions. */
  get lent(): number {
    return this.#lent.size;
  }

  /** Workers booted so far (the first `size`, then replacements). */
  get spawned(): number {
    return this.#spawned;
  }

  /** Workers given back clean and kept for another session. */
  get reused(): number {
    return this.#reused;
  }

  /** An idle worker (booted or booting), or undefined when none is idle. */
  take(): Worker | undefined {
    const idle = [...this.#idle];
    const worker = idle.find((candidate) => !this.#retiring.has(candidate)) ?? idle[0];
    if (!worker) return undefined;
    this.#idle.delete(worker);
    worker.removeAllListeners('exit');
    worker.removeAllListeners('error');
    worker.removeAllListeners('message');
    this.#lent.add(worker);
    // Whoever waits for the pool to be warm stops waiting for this one: it is a session's now.
    this.#markWarm(worker);
    return worker;
  }

  /**
   * An idle worker; with none idle but some session closing (a slot frees before its worker is back), the first
   * worker given back within `waitMs`; else undefined (the caller starts a worker of its own).
   */
  async acquire({ waitMs = DEFAULT_RETURN_WAIT_MS }: AcquireSessionWorkerParameters = {}): Promise<Worker | undefined> {
    const worker = this.take();
    if (worker || this.#closed || this.#returning.size === 0) return worker;
    return new Promise((resolve) => {
      const waiter = (given: Worker | undefined) => {
        clearTimeout(timer);
        resolve(given);
      };
      const timer = setTimeout(() => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        resolve(undefined);
      }, waitMs);
      this.#waiters.push(waiter);
    });
  }

  /** The session lent this worker is closing: it may come back soon (see `acquire`). */
  returning(worker: Worker): void {
    if (this.#lent.has(worker)) this.#returning.add(worker);
  }

  /**
   * A session's worker, back after its session closed (the session's listeners removed). Kept for the next
   * session when it is reusable and the pool has room; otherwise stopped (and, if it was the pool's, replaced).
   * Workers the pool did not lend are adopted when there is room. Resolves once it is kept or stopped.
   */
  async release(worker: Worker, { reusable, heapUsedBytes = 0 }: ReleaseSessionWorkerParameters): Promise<void> {
    const ours = this.#lent.delete(worker);
    this.#returning.delete(worker);
    const served = (this.#served.get(worker) ?? 0) + 1;
    this.#served.set(worker, served);
    const overSessions = served >= this.#maxSessions;
    const overHeap = heapUsedBytes >= this.#maxHeapUsedBytes;
    const farOver = served >= 2 * this.#maxSessions || heapUsedBytes >= 2 * this.#maxHeapUsedBytes;
    const full = this.#idle.size + this.#lent.size >= this.size;
    if (!reusable || this.#closed || farOver || full || worker.threadId === -1) {
      this.#log.info(
        { reusable, served, heapUsedBytes, full, closed: this.#closed, ours },
        'session worker stopped after its session',
      );
      if (!this.#closed) this.#scheduleFill();
      this.#serveWaiters();
      await stopSessionWorker(worker, this.#log);
      return;
    }
    if (overSessions || overHeap) {
      this.#retiring.add(worker);
      this.#log.info({ served, heapUsedBytes }, 'session worker to retire at the next quiet moment');
    }
    this.#reused += 1;
    this.#log.debug({ served, heapUsedBytes, ours }, 'session worker back in the pool');
    this.#addIdle(worker);
    this.#target = Math.max(this.#target, Math.min(this.size, this.#idle.size + this.#lent.size));
    this.#serveWaiters();
    await this.#retireWhenQuiet();
  }

  #serveWaiters(): void {
    while (this.#waiters.length > 0) {
      if (this.#idle.size === 0 && this.#returning.size > 0) return;
      // None left to wait for: they get a booting worker if the pool started one, else start their own.
      this.#waiters.shift()?.(this.take());
    }
  }

  /** Replaces lost workers: at once when none is idle (or someone waits), else after the refill delay. */
  #scheduleFill(): void {
    clearTimeout(this.#refillTimer);
    this.#refillTimer = undefined;
    if (this.#idle.size === 0 || this.#waiters.length > 0) {
      this.#fill();
      return;
    }
    this.#refillTimer = setTimeout(() => this.#fill(), this.#refillDelayMs);
    this.#refillTimer.unref();
  }

  #fill(): void {
    while (
      !this.#closed &&
      this.#idle.size + this.#lent.size < this.#target &&
      this.#failedSpawns < MAX_FAILED_SPAWNS
    ) {
      const worker = spawnSessionWorker('session (pooled)', { warmUp: this.#warmUp });
      this.#spawned += 1;
      this.#log.info(
        { spawned: this.#spawned, idle: this.#idle.size, lent: this.#lent.size },
        'session worker booting',
      );
      // Without a warm-up it counts as warm once booted.
      if (!this.#warmUp) worker.once('online', () => this.#markWarm(worker));
      worker.once('online', () => {
        this.#failedSpawns = 0;
      });
      this.#addIdle(worker);
    }
  }

  /** Retires workers over a bound while no session runs: stopped, and replaced right away (it is quiet). */
  async #retireWhenQuiet(): Promise<void> {
    if (this.#lent.size > 0 || this.#closed) return;
    const retiring = [...this.#idle].filter((worker) => this.#retiring.has(worker));
    if (retiring.length === 0) return;
    for (const worker of retiring) this.#idle.delete(worker);
    this.#fill();
    await Promise.all(retiring.map((worker) => stopSessionWorker(worker, this.#log)));
  }

  /** An idle worker: its warm-up's log lines and end, and its exit (the session's messages go to StreamSession). */
  #addIdle(worker: Worker): void {
    this.#idle.add(worker);
    worker.on('error', (error) => this.#log.error({ err: error }, 'idle session worker failed'));
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

  /** Terminates the idle workers (lent ones are stopped when their sessions give them back). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#refillTimer);
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
    const idle = [...this.#idle];
    this.#idle.clear();
    await Promise.all(idle.map((worker) => stopSessionWorker(worker, this.#log)));
  }
}
