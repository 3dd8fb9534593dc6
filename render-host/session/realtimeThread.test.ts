/**
 * A thread raised to SCHED_RR and put back, and the guard that takes back a thread that spins at real-time
 * priority. Real threads (worker threads of this process) and the kernel's own account of their policy and CPU
 * time in /proc; `chrt` from util-linux. Needs permission to raise (root, CAP_SYS_NICE or RLIMIT_RTPRIO): without,
 * the refusal itself is checked. The spinning thread spins at most 4 s and the guard looks every 200 ms.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { RealtimeThreadGuard, readThreadStat, SCHED_OTHER, SCHED_RR, setThreadPolicy } from './realtimeThread.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const SPIN_LIMIT_MS = 4_000;

/**
 * A worker that sends its OS thread id, then idles — or, once told, spins until told to stop (at most
 * SPIN_LIMIT_MS): `control[0]` 1 = spin, 2 = stop spinning, 3 = bounded work (6 ms of every 20: ≈ 30 % of a core).
 */
async function startThread(): Promise<{ worker: Worker; tid: number; control: Int32Array }> {
  const control = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const { readFileSync } = require('node:fs');
     const control = workerData;
     parentPort.postMessage(Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ', 1)[0]));
     const idle = setInterval(() => {
       if (Atomics.load(control, 0) === 3) {
         const busyUntil = Date.now() + 6;
         while (Date.now() < busyUntil) {}
         return;
       }
       if (Atomics.load(control, 0) !== 1) return;
       clearInterval(idle);
       const until = Date.now() + ${SPIN_LIMIT_MS};
       while (Atomics.load(control, 0) === 1 && Date.now() < until) {}
     }, 20);`,
    { eval: true, workerData: control },
  );
  const tid = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { worker, tid, control };
}

const mayRaise = async (): Promise<string | undefined> => {
  const probe = await startThread();
  try {
    const result = await setThreadPolicy(probe.tid, 1);
    return result.ok ? undefined : result.reason;
  } finally {
    await probe.worker.terminate();
  }
};

describe('a session thread at real-time priority', async () => {
  const refusal = await mayRaise();
  const threads: Worker[] = [];
  after(async () => {
    for (const worker of threads) await worker.terminate();
  });

  test('raised to SCHED_RR, and back to normal scheduling on release', { skip: refusal }, async () => {
    const { worker, tid } = await startThread();
    threads.push(worker);
    assert.equal(readThreadStat(tid)?.policy, SCHED_OTHER);
    const guard = new RealtimeThreadGuard({ tid, priority: 1, log });
    await guard.raise();
    assert.equal(guard.state, 'realtime');
    assert.equal(readThreadStat(tid)?.policy, SCHED_RR, 'the kernel has it as SCHED_RR');
    await guard.release();
    assert.equal(guard.state, 'normal');
    assert.equal(readThreadStat(tid)?.policy, SCHED_OTHER);
    await guard.release();
  });

  test('released while the raise is in flight: the thread ends at normal priority, and stays there', {
    skip: refusal,
  }, async () => {
    const { worker, tid } = await startThread();
    threads.push(worker);
    const guard = new RealtimeThreadGuard({ tid, priority: 1, log });
    const raising = guard.raise();
    await guard.release();
    await raising;
    assert.equal(readThreadStat(tid)?.policy, SCHED_OTHER, 'the late raise did not win');
    await guard.raise();
    assert.equal(readThreadStat(tid)?.policy, SCHED_OTHER, 'no raise after a release');
    assert.notEqual(guard.state, 'realtime');
  });

  test('a thread that spins is put back to normal scheduling by the guard', { skip: refusal }, async () => {
    const { worker, tid, control } = await startThread();
    threads.push(worker);
    const warnings: string[] = [];
    const guardLog = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
    const guard = new RealtimeThreadGuard({ tid, priority: 1, maxCoreShare: 0.5, windowMs: 200, log: guardLog });
    await guard.raise();
    assert.equal(readThreadStat(tid)?.policy, SCHED_RR);
    Atomics.store(control, 0, 1);
    try {
      for (let waited = 0; guard.state === 'realtime' && waited < SPIN_LIMIT_MS; waited += 50) await sleep(50);
      assert.equal(guard.state, 'demoted', 'the guard saw it use more than half a core');
      for (let waited = 0; readThreadStat(tid)?.policy !== SCHED_OTHER && waited < 2_000; waited += 20) await sleep(20);
      assert.equal(readThreadStat(tid)?.policy, SCHED_OTHER, 'and the kernel has it back at SCHED_OTHER');
      assert.match(warnings.join(''), /too much CPU at real-time priority/);
      assert.equal(guard.state, 'demoted', 'for good: the guard does not raise it again');
    } finally {
      Atomics.store(control, 0, 2);
      await guard.release();
    }
  });

  test('a thread that does its bounded work (≈ 30 % of a core) stays raised', { skip: refusal }, async () => {
    const { worker, tid, control } = await startThread();
    threads.push(worker);
    Atomics.store(control, 0, 3);
    const guard = new RealtimeThreadGuard({ tid, priority: 1, maxCoreShare: 0.5, windowMs: 200, log });
    await guard.raise();
    await sleep(1_000);
    Atomics.store(control, 0, 2);
    assert.equal(guard.state, 'realtime');
    assert.equal(readThreadStat(tid)?.policy, SCHED_RR);
    await guard.release();
  });

  test('a refusal is reported, not thrown, and leaves the thread as it was', async () => {
    const gone = await setThreadPolicy(2 ** 22 + 12_345, 1);
    assert.equal(gone.ok, false);
    // Another process's thread is never touched, whoever asks.
    const other = spawn('sleep', ['5'], { stdio: 'ignore' });
    try {
      const result = await setThreadPolicy(other.pid ?? 0, 1);
      assert.deepEqual(result, { ok: false, reason: `thread ${other.pid} is not one of this process's` });
      assert.match(readFileSync(`/proc/${other.pid}/stat`, 'utf8'), /\) \S+( \S+){37} 0 /, 'still SCHED_OTHER');
    } finally {
      other.kill();
    }
    const { worker, tid } = await startThread();
    threads.push(worker);
    // Priority 100 is out of SCHED_RR's range: chrt refuses it whoever asks.
    const guard = new RealtimeThreadGuard({ tid, priority: 100, log });
    await guard.raise();
    assert.equal(guard.state, 'refused');
    assert.ok(guard.refusal && guard.refusal.length > 0);
    assert.equal(readThreadStat(tid)?.policy, SCHED_OTHER);
    await guard.release();
    if (refusal) assert.match(refusal, /not permitted|chrt not found/);
  });
});
