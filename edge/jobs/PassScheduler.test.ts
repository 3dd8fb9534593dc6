import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { PassScheduler } from './PassScheduler.js';

const log = pino({ level: 'silent' });

/** Lets every promise callback and immediate due now run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A pass that waits for the test to let it end; counts how many passes started. */
function gatedPasses() {
  let started = 0;
  const gates: Array<() => void> = [];
  return {
    get started() {
      return started;
    },
    pass: async () => {
      started += 1;
      const n = started;
      await new Promise<void>((resolve) => gates.push(resolve));
      return n;
    },
    /** Ends the oldest pass still waiting (once it has started). */
    async release() {
      while (gates.length === 0) await new Promise((resolve) => setImmediate(resolve));
      gates.shift()?.();
    },
  };
}

test('asks while a pass runs share one pass after it: a flood of asks (escrow events, slow ticks) never piles passes up', async () => {
  // The attack: every WithdrawRequested event on the escrow asks the settlement worker for a pass (any payer can
  // emit one), and so does each tick while the chain is slow. Each ask used to queue a whole pass of its own.
  const passes = gatedPasses();
  const scheduler = new PassScheduler({ pass: passes.pass, log, failure: 'test pass failed' });
  const first = scheduler.runSoon();
  while (passes.started === 0) await new Promise((resolve) => setImmediate(resolve));
  const asks = Array.from({ length: 100 }, () => scheduler.runSoon());
  await passes.release();
  assert.equal(await first, 1);
  await passes.release();
  await settle();
  assert.equal(passes.started, 2, `passes started for 101 asks: ${passes.started} (and more waiting)`);
  assert.deepEqual(new Set(await Promise.all(asks)), new Set([2]), 'every ask got the one pass after the first');
  // An ask while that second pass ran would have been a third pass: one after it, as before.
  const later = scheduler.runSoon();
  await passes.release();
  assert.equal(await later, 3);
  await scheduler.stop();
});

test('an ask during a pass gets a pass that starts after it (it may need what that pass did not see)', async () => {
  const passes = gatedPasses();
  const scheduler = new PassScheduler({ pass: passes.pass, log, failure: 'test pass failed' });
  const first = scheduler.runSoon();
  while (passes.started === 0) await new Promise((resolve) => setImmediate(resolve));
  const during = scheduler.runSoon();
  await passes.release();
  await passes.release();
  assert.deepEqual([await first, await during], [1, 2]);
  await scheduler.stop();
});

test('no pass starts after stop: an ask then is refused, and stop waits for the pass in progress', async () => {
  const passes = gatedPasses();
  const scheduler = new PassScheduler({ pass: passes.pass, log, failure: 'test pass failed' });
  const running = scheduler.runSoon();
  while (passes.started === 0) await new Promise((resolve) => setImmediate(resolve));
  const queued = scheduler.runSoon();
  const stopping = scheduler.stop();
  await assert.rejects(scheduler.runSoon(), /stopped/);
  await passes.release();
  await stopping;
  await assert.rejects(queued, /stopped/, 'a pass waiting behind the running one does not start after stop');
  assert.equal(await running, 1);
  assert.equal(passes.started, 1, 'the asks after and during stop ran no pass');
});

test('a failed pass rejects its askers and is logged; the next ask runs a new pass', async () => {
  let n = 0;
  const scheduler = new PassScheduler({
    pass: async () => {
      n += 1;
      if (n === 1) throw new Error('chain down');
      return n;
    },
    log,
    failure: 'test pass failed',
  });
  await assert.rejects(scheduler.runSoon(), /chain down/);
  assert.equal(await scheduler.runSoon(), 2);
  await scheduler.stop();
});
