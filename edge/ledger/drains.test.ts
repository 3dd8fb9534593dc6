import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAthError } from '../../signaling/protocol/index.js';
import { getAccount } from './accounts.js';
import {
  getDrain,
  getDrainInForce,
  liftDrain,
  listDrains,
  listDrainsInForce,
  recordDrain,
  setProbationPasses,
} from './drains.js';
import { describeLedger } from './testing/describeLedger.js';
import { randomAddress } from './testing/fixtures.js';

describeLedger('drains', (ctx) => {
  test('one drain in force per provider; probation passes are kept; lifting ends it and keeps the history', async () => {
    const provider = randomAddress();
    const first = await recordDrain(ctx.ledger, {
      providerAddress: provider,
      hostId: 'host-a',
      reason: '2 failed checks in a row',
      round: 7n,
    });
    assert.equal(first.inserted, true);
    assert.equal(first.drain.round, 7n);
    assert.equal(first.drain.probationPasses, 0);
    assert.deepEqual((await getAccount(ctx.ledger, provider))?.roles, ['provider']);
    // A second drain while one is in force keeps the first.
    const again = await recordDrain(ctx.ledger, {
      providerAddress: provider,
      hostId: 'host-b',
      reason: 'x',
      round: 9n,
    });
    assert.equal(again.inserted, false);
    assert.equal(again.drain.drainId, first.drain.drainId);
    assert.equal(again.drain.hostId, 'host-a');

    assert.equal((await setProbationPasses(ctx.ledger, { providerAddress: provider, passes: 2 }))?.probationPasses, 2);
    assert.equal((await getDrainInForce(ctx.ledger, provider))?.probationPasses, 2);
    assert.ok((await listDrainsInForce(ctx.ledger)).some((d) => d.drainId === first.drain.drainId));

    const lifted = await liftDrain(ctx.ledger, { providerAddress: provider, reason: 'passed 3 checks in a row' });
    assert.ok(lifted?.liftedAt instanceof Date);
    assert.equal(await liftDrain(ctx.ledger, { providerAddress: provider, reason: 'again' }), undefined, 'idempotent');
    assert.equal(await getDrainInForce(ctx.ledger, provider), undefined);
    assert.equal(await setProbationPasses(ctx.ledger, { providerAddress: provider, passes: 1 }), undefined);
    assert.ok(!(await listDrainsInForce(ctx.ledger)).some((d) => d.drainId === first.drain.drainId));

    // Drained again later: a new drain in force; the lifted one stays as history.
    const second = await recordDrain(ctx.ledger, {
      providerAddress: provider,
      hostId: 'host-c',
      reason: 'y',
      round: 1n,
    });
    assert.equal(second.inserted, true);
    const history = await listDrains(ctx.ledger, { providerAddress: provider });
    assert.deepEqual(
      history.map((d) => [d.hostId, d.liftedAt === null]),
      [
        ['host-c', true],
        ['host-a', false],
      ],
    );
    assert.equal((await getDrain(ctx.ledger, first.drain.drainId)).liftReason, 'passed 3 checks in a row');
  });

  test('bad input is refused before the database', async () => {
    await assert.rejects(
      recordDrain(ctx.ledger, { providerAddress: 'nope', hostId: 'h', reason: 'r', round: 1n }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
    await assert.rejects(
      recordDrain(ctx.ledger, { providerAddress: randomAddress(), hostId: '', reason: 'r', round: 1n }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
    await assert.rejects(setProbationPasses(ctx.ledger, { providerAddress: randomAddress(), passes: -1 }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
  });
});
