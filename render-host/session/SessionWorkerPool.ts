import type { Worker } from 'node:worker_threads';
import { type Logger, pino } from 'pino';
import { spawnSessionWorker, stopSessionWorker } from './spawnSessionWorker.js';

export type SessionWorkerPoolParameters = {
  /** Workers kept booted and idle (one per free slot is plenty). */
  size: number;
  log?: Logger;
};

const MAX_FAILED_SPAWNS = 3;

/**
 * Session workers started ahead of time. Booting one (tsx, werift, node-av, Skia) takes about a second on
 * this machine — most of the 1 s first-frame budget — so a host keeps a few loaded and idle, and
 * `StreamSession.start({ pool })` takes one. Idle workers run nothing native: terminating them is safe.
 */
export class SessionWorkerPool {
  readonly size: number;
  readonly #log: Logger;
  readonly #idle = new Set<Worker>();
  #failedSpawns = 0;
  #closed = false;

  constructor({ size, log }: SessionWorkerPoolParameters) {
    this.size = size;
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
    this.#fill();
    return worker;
  }

  #fill(): void {
    while (!this.#closed && this.#idle.size < this.size && this.#failedSpawns < MAX_FAILED_SPAWNS) {
      const worker = spawnSessionWorker('session (pooled)');
      this.#idle.add(worker);
      worker.once('online', () => {
        this.#failedSpawns = 0;
      });
      worker.on('error', (error) => this.#log.error({ err: error }, 'idle session worker failed'));
      worker.once('exit', (code) => {
        if (!this.#idle.delete(worker) || this.#closed) return;
        this.#failedSpawns += 1;
        this.#log.warn({ code, failedSpawns: this.#failedSpawns }, 'idle session worker exited; replacing it');
        this.#fill();
      });
    }
  }

  /** Terminates the idle workers (taken ones belong to their sessions). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const idle = [...this.#idle];
    this.#idle.clear();
    await Promise.all(idle.map((worker) => stopSessionWorker(worker, this.#log)));
  }
}
