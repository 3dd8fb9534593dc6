/**
 * Whether a worker thread holds FFmpeg (node-av) objects, shared with the thread that will stop it.
 *
 * A worker torn down (worker.terminate(), process exit) while node-av is at work aborts the whole process with
 * `FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw`, every other session with it: an async call
 * (sendFrame, receivePacket) completes inside the environment's teardown and node-av throws into it; a sync
 * call (freeContext, scaleSync) running when termination starts fails the same way
 * (render-host/session/workerTeardown.test.ts saw both). Neither can be fenced call by call, so the rule is
 * coarser: a worker is terminated only while it holds no node-av objects — before its session opened any,
 * or after its pipeline closed them all and waited for their in-flight work (SessionPipeline.close).
 *
 * The worker says which (`markNativeInUse` / `markNativeReleased`) in a SharedArrayBuffer its spawner keeps;
 * `stopWorker` waits for "released" before terminating. A worker that never gets there (its thread stuck) is
 * left running and logged — aborting the process would be worse — and terminated if it ever releases.
 */
import { type Worker, workerData } from 'node:worker_threads';
import type { Logger } from 'pino';

const STATE = 0;
const STATE_IN_USE = 1;
const STATE_RELEASED = 2;
const POLL_MS = 5;
const DEFAULT_RELEASE_TIMEOUT_MS = 30_000;

/** What a spawning thread hands its worker in `workerData.nativeWork`. */
export function createNativeWorkState(): SharedArrayBuffer {
  return new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
}

function ownState(): Int32Array | undefined {
  const buffer: unknown = (workerData as { nativeWork?: unknown } | null | undefined)?.nativeWork;
  return buffer instanceof SharedArrayBuffer ? new Int32Array(buffer) : undefined;
}

const own = ownState();

/** In a worker: from now on it may hold node-av objects (call before opening any). No-op elsewhere. */
export function markNativeInUse(): void {
  if (own) Atomics.store(own, STATE, STATE_IN_USE);
}

/** In a worker: every node-av object is freed and no call is in flight; none will be made again. */
export function markNativeReleased(): void {
  if (own) Atomics.store(own, STATE, STATE_RELEASED);
}

export type StopWorkerParameters = {
  worker: Worker;
  /** The buffer given to the worker at spawn (createNativeWorkState); without one it is just terminated. */
  nativeWork: SharedArrayBuffer | undefined;
  /** How long to wait for the worker to release its node-av objects before leaving it running (30 s). */
  releaseTimeoutMs?: number;
  log?: Logger;
};

/**
 * Terminates a worker once it holds no node-av objects. Resolves when it is terminated — or, if it still
 * holds them after `releaseTimeoutMs`, once that is logged (it is terminated later if it ever releases them).
 */
export async function stopWorker({
  worker,
  nativeWork,
  releaseTimeoutMs = DEFAULT_RELEASE_TIMEOUT_MS,
  log,
}: StopWorkerParameters): Promise<void> {
  if (nativeWork) {
    const state = new Int32Array(nativeWork);
    // A worker that exited on its own (threadId -1) holds nothing any more.
    const holding = () => Atomics.load(state, STATE) === STATE_IN_USE && worker.threadId !== -1;
    const deadline = performance.now() + releaseTimeoutMs;
    while (holding() && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    if (holding()) {
      log?.error(
        { releaseTimeoutMs, threadId: worker.threadId },
        'worker still holds FFmpeg objects: left running (terminating it now would abort the process)',
      );
      void (async () => {
        while (holding()) await new Promise((resolve) => setTimeout(resolve, 100));
        await worker.terminate();
      })();
      return;
    }
  }
  await worker.terminate();
}
