import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAthError } from '../../signaling/protocol/index.js';
import { getAccount } from './accounts.js';
import { getStake, recordStake } from './stakes.js';
import { describeLedger } from './testing/describeLedger.js';
import { randomAddress } from './testing/fixtures.js';

describeLedger('stakes', (ctx) => {
  test('recordStake mirrors the current stake (absolute, exact) and gives the operator its role', async () => {
    const operator = randomAddress();
    assert.equal(await getStake(ctx.ledger, operator), undefined);
    const big = 123_456_789_012_345_678_901_234_567_890n;
    const first = await recordStake(ctx.ledger, {
      operatorAddress: operator,
      role: 'provider',
      amountWei: big,
      tier: 'rtx-4090',
    });
    assert.equal(first.amountWei, big);
    assert.equal(first.tier, 'rtx-4090');
    const lower = await recordStake(ctx.ledger, { operatorAddress: operator, role: 'provider', amountWei: 5n });
    assert.equal(lower.amountWei, 5n);
    assert.equal(lower.tier, null);
    assert.deepEqual(await getStake(ctx.ledger, operator), lower);
    assert.deepEqual((await getAccount(ctx.ledger, operator))?.roles, ['provider']);
    await assert.rejects(
      recordStake(ctx.ledger, { operatorAddress: operator, role: 'provider', amountWei: -5n }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
  });
});
