import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { createNativeWorkState, stopWorker } from './nativeWork.js';

/**
 * The old generation a worker's heap starts with before V8 schedules its first full GC (V8's default for a
 * heap this small is a few MB above its live size). A session worker's heap is small (≈25 MB) but it drives
 * hundreds of MB a second of short-lived native memory (each frame's 3.6 MB pixels, encoder packets) that
 * V8 counts against the same limit, so with the default it ran a full mark-compact every 100–200 ms — a
 * third of a core with its helper threads — and dropped frames; from this size up, the young generation
 * collects that garbage and full GCs become rare (`npm run bench:stream`: 150–300 → about 5 a run, 64 MB
 * still gave 73). Old garbage may now wait longer for its GC; the host's RSS while streaming did not change
 * (≈650 MB either way).
 */
const WORKER_INITIAL_OLD_SPACE_MB = 128;
let workerHeapConfigured = false;
/** What a session worker is started with. */
export type SessionWorkerData = { nativeWork: SharedArrayBuffer; warmUp: boolean };

/** Each worker's node-av state (nativeWork.ts): stop it with `stopSessionWorker`. */
const states = new WeakMap<Worker, SharedArrayBuffer>();

/** V8 reads the flag when an isolate is created: set once, before the first worker starts. */
function configureWorkerHeaps(): void {
  if (workerHeapConfigured) return;
  workerHeapConfigured = true;
  setFlagsFromString(`--initial-old-space-size=${WORKER_INITIAL_OLD_SPACE_MB}`);
}

/**
 * Starts a session worker thread (it loads its modules, then waits for `init`).
 *
 * Node 20 passes `--import tsx` on to workers (execArgv) but does not apply the hooks it registers to the
 * worker's own entry module, so `new Worker(new URL('./sessionWorker.ts', import.meta.url))` fails with
 * ERR_UNKNOWN_FILE_EXTENSION. From TypeScript sources, a two-line eval entry registers tsx's ESM hooks in the
 * worker and then imports the real entry; a compiled build (.js) loads its entry directly.
 */
export type SpawnSessionWorkerOptions = {
  /**
   * Warm the worker up while it waits for its session (warmSessionWorker.ts): for pooled workers, which wait.
   * A worker started for a session that is already there goes straight to it.
   */
  warmUp?: boolean;
};

export function spawnSessionWorker(name = 'session', { warmUp = false }: SpawnSessionWorkerOptions = {}): Worker {
  const entryModule = 'sessionWorker';
  configureWorkerHeaps();
  const nativeWork = createNativeWorkState();
  const workerData: SessionWorkerData = { nativeWork, warmUp };
  const ownUrl = import.meta.url;
  if (ownUrl.endsWith('.ts')) {
    const entry = new URL(`./${entryModule}.ts`, ownUrl).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    const bootstrap = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
    return withState(new Worker(bootstrap, { eval: true, name, workerData }), nativeWork);
  }
  return withState(new Worker(new URL(`./${entryModule}.js`, ownUrl), { name, workerData }), nativeWork);
}

function withState(worker: Worker, nativeWork: SharedArrayBuffer): Worker {
  states.set(worker, nativeWork);
  return worker;
}

/**
 * Terminates a worker from `spawnSessionWorker` once it holds no FFmpeg objects (see nativeWork.ts):
 * terminating it while node-av is at work aborts the whole process. Use this, never `worker.terminate()`.
 */
export function stopSessionWorker(worker: Worker, log?: Logger): Promise<void> {
  return stopWorker({ worker, nativeWork: states.get(worker), ...(log ? { log } : {}) });
}
