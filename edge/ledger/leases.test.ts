import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { isAthError } from '../../signaling/protocol/index.js';
import { acquireLease, assertLeaseHeld, getLease, releaseLease } from './leases.js';
import { describeLedger } from './testing/describeLedger.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Long enough that acquire, a refusal and a renewal fit in it on a loaded 2-core box (400 ms did not). */
const LAPSE_MS = 1_500;

describeLedger('leases', (ctx) => {
  test('one holder at a time; renewing keeps the epoch; a lapsed lease changes hands with a new epoch', async () => {
    const name = `test:${randomBytes(4).toString('hex')}`;
    const a = await acquireLease(ctx.ledger, { name, holder: 'a', ttlMs: LAPSE_MS });
    assert.equal(a.held, true);
    assert.equal(a.epoch, 1n);
    const b = await acquireLease(ctx.ledger, { name, holder: 'b', ttlMs: LAPSE_MS });
    assert.equal(b.held, false, 'taken: b does not get it');
    assert.equal(b.holder, 'a');
    const renewed = await acquireLease(ctx.ledger, { name, holder: 'a', ttlMs: LAPSE_MS });
    assert.equal(renewed.held, true);
    assert.equal(renewed.epoch, 1n, 'a renewal is the same tenure');
    await sleep(LAPSE_MS + 200);
    const taken = await acquireLease(ctx.ledger, { name, holder: 'b', ttlMs: 60_000 });
    assert.equal(taken.held, true, 'a lapsed lease goes to the next asker');
    assert.equal(taken.epoch, 2n);
    // The old holder is fenced off: its epoch no longer holds, even inside a transaction.
    await assert.rejects(
      ctx.ledger.transaction((tx) => assertLeaseHeld(tx, { name, holder: 'a', epoch: 1n })),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_LEASE_LOST'),
    );
    await ctx.ledger.transaction((tx) => assertLeaseHeld(tx, { name, holder: 'b', epoch: 2n, marginMs: 1000 }));
    assert.equal((await acquireLease(ctx.ledger, { name, holder: 'a', ttlMs: LAPSE_MS })).held, false);
  });

  test('a clean release hands over at once; too little time left counts as lost', async () => {
    const name = `test:${randomBytes(4).toString('hex')}`;
    const first = await acquireLease(ctx.ledger, { name, holder: 'a', ttlMs: 2_000 });
    await assert.rejects(
      ctx.ledger.transaction((tx) => assertLeaseHeld(tx, { name, holder: 'a', epoch: first.epoch, marginMs: 5_000 })),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_LEASE_LOST'),
      'a lease about to run out is not good enough to act on',
    );
    assert.equal(await releaseLease(ctx.ledger, { name, holder: 'b' }), false, 'only the holder releases');
    assert.equal(await releaseLease(ctx.ledger, { name, holder: 'a' }), true);
    assert.equal(await releaseLease(ctx.ledger, { name, holder: 'a' }), false, 'idempotent');
    const next = await acquireLease(ctx.ledger, { name, holder: 'b', ttlMs: 2_000 });
    assert.equal(next.held, true);
    assert.equal(next.epoch, 2n);
    assert.equal((await getLease(ctx.ledger, name))?.holder, 'b');
  });

  test('many processes asking at once: exactly one wins', async () => {
    const name = `test:${randomBytes(4).toString('hex')}`;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => acquireLease(ctx.ledger, { name, holder: `h${i}`, ttlMs: 10_000 })),
    );
    assert.equal(results.filter((r) => r.held).length, 1);
  });
});
