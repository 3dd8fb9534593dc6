/**
 * The pool's bookkeeping on real session workers (booted, never streaming; no warm-up): which ones it keeps, lends,
 * waits for, stops and replaces. Streaming sessions on reused workers: StreamSession.test.ts.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { SessionWorkerPool } from './SessionWorkerPool.js';
import { spawnSessionWorker } from './spawnSessionWorker.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

const exited = (worker: Worker) =>
  new Promise<void>((resolve) => {
    if (worker.threadId === -1) resolve();
    else worker.once('exit', () => resolve());
  });

describe('SessionWorkerPool', () => {
  const pools: SessionWorkerPool[] = [];
  const pool = (params: ConstructorParameters<typeof SessionWorkerPool>[0]) => {
    const created = new SessionWorkerPool({ warmUp: false, log, ...params });
    pools.push(created);
    return created;
  };
  after(async () => {
    for (const created of pools) await created.close();
  });

  test('lends without booting, keeps what comes back clean, replaces what does not', async () => {
    const p = pool({ size: 1, refillDelayMs: 0 });
    const first = p.take();
    assert.ok(first);
    assert.deepEqual([p.idle, p.lent, p.spawned], [0, 1, 1], 'a take boots nothing');
    await p.release(first, { reusable: true, heapUsedBytes: 1 });
    assert.deepEqual([p.idle, p.lent, p.spawned, p.reused], [1, 0, 1, 1]);
    assert.equal(p.take(), first, 'the same worker, lent again');
    const gone = exited(first);
    await p.release(first, { reusable: false });
    await gone;
    assert.deepEqual([p.idle, p.lent, p.spawned, p.reused], [1, 0, 2, 1], 'stopped, and a new one booted');
    assert.notEqual(p.take(), first);
  });

  test('acquire waits for a worker whose session is closing, and gives up on none', async () => {
    const p = pool({ size: 1 });
    const lent = await p.acquire();
    assert.ok(lent);
    assert.equal(await p.acquire({ waitMs: 50 }), undefined, 'none idle, none coming back: at once');
    p.returning(lent);
    const waiting = p.acquire({ waitMs: 30_000 });
    await p.release(lent, { reusable: true });
    assert.equal(await waiting, lent, 'the waiter gets the worker given back');
    p.returning(lent);
    assert.equal(await p.acquire({ waitMs: 10 }), undefined, 'not back in time: the caller starts its own');
    await p.release(lent, { reusable: true });
  });

  test('boots only bootedAhead up front; the room beyond (a probe reserve) is filled by a worker a session started, then kept', async () => {
    const p = pool({ size: 2, bootedAhead: 1, refillDelayMs: 0 });
    assert.deepEqual([p.idle, p.spawned], [1, 1], 'one booted, not two');
    const slotWorker = p.take();
    assert.ok(slotWorker);
    assert.equal(await p.acquire({ waitMs: 10 }), undefined, 'none idle: the reserve session starts its own');
    const reserveWorker = spawnSessionWorker('test');
    await p.release(reserveWorker, { reusable: true });
    assert.deepEqual([p.idle, p.lent, p.spawned], [1, 1, 1], 'adopted: there was room');
    // From now on the pool keeps two: a lost one is replaced.
    const again = p.take();
    assert.equal(again, reserveWorker);
    const gone = exited(reserveWorker);
    await p.release(reserveWorker, { reusable: false });
    await gone;
    assert.deepEqual([p.idle, p.lent, p.spawned], [1, 1, 2], 'replaced up to two');
    await p.release(slotWorker, { reusable: true });
    assert.deepEqual([p.idle, p.lent], [2, 0]);
  });

  test('a worker it did not lend is adopted only when there is room', async () => {
    const p = pool({ size: 2, refillDelayMs: 60_000 });
    const own = spawnSessionWorker('test');
    const gone = exited(own);
    await p.release(own, { reusable: true });
    await gone;
    assert.deepEqual([p.idle, p.reused], [2, 0], 'full: stopped');
    // A lost worker leaves room (its replacement waits for the refill delay: one is still idle).
    const lost = p.take();
    assert.ok(lost);
    await p.release(lost, { reusable: false });
    assert.deepEqual([p.idle, p.lent, p.spawned], [1, 0, 2]);
    const adopted = spawnSessionWorker('test');
    await p.release(adopted, { reusable: true });
    assert.deepEqual([p.idle, p.reused, p.spawned], [2, 1, 2], 'adopted instead of booting one');
  });

  test('a worker over its session bound is replaced once no session runs; far over, at once', async () => {
    const p = pool({ size: 2, maxSessionsPerWorker: 2 });
    const a = p.take();
    const b = p.take();
    assert.ok(a && b);
    await p.release(a, { reusable: true });
    assert.equal(p.take(), a);
    // a's 2nd session: over the bound, but b still runs a session: a waits in the pool (usable, taken last).
    await p.release(a, { reusable: true });
    assert.deepEqual([p.idle, p.lent, p.spawned], [1, 1, 2]);
    const aGone = exited(a);
    await p.release(b, { reusable: true });
    await aGone;
    assert.deepEqual([p.idle, p.lent, p.spawned], [2, 0, 3], 'quiet: a stopped, replaced');
    // Far over (2× the bound) or a heap twice the bound: stopped when its session ends, whatever runs.
    const big = pool({ size: 1, maxHeapUsedBytes: 1_000 });
    const worker = big.take();
    assert.ok(worker);
    const gone = exited(worker);
    await big.release(worker, { reusable: true, heapUsedBytes: 2_000 });
    await gone;
    assert.deepEqual([big.idle, big.spawned, big.reused], [1, 2, 0]);
  });
});
