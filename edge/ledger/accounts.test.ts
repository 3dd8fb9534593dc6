import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getAddress } from 'viem';
import { isAthError } from '../../signaling/protocol/index.js';
import { ensureAccount, getAccount } from './accounts.js';
import { describeLedger } from './testing/describeLedger.js';
import { randomAddress } from './testing/fixtures.js';

describeLedger('accounts', (ctx) => {
  test('ensureAccount creates, adds roles without removing any, and normalizes to lowercase', async () => {
    const address = randomAddress();
    const checksummed = getAddress(address);
    const created = await ensureAccount(ctx.ledger, { address: checksummed, roles: ['player'] });
    assert.equal(created.address, address);
    assert.deepEqual(created.roles, ['player']);
    const more = await ensureAccount(ctx.ledger, { address, roles: ['provider', 'player'] });
    assert.deepEqual(more.roles, ['player', 'provider']);
    const same = await ensureAccount(ctx.ledger, { address, roles: [] });
    assert.deepEqual(same.roles, ['player', 'provider']);
    assert.equal(same.createdAt.getTime(), created.createdAt.getTime());
  });

  test('getAccount returns undefined for an unknown wallet and rejects a malformed or mis-checksummed one', async () => {
    assert.equal(await getAccount(ctx.ledger, randomAddress()), undefined);
    await assert.rejects(getAccount(ctx.ledger, '0x1234'), (e) => isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'));
    // EIP-55 test vector with one letter's case flipped: mixed case, wrong checksum.
    const valid = '0x52908400098527886E0F7030069857D2E4169EE7';
    assert.equal(await getAccount(ctx.ledger, valid), undefined);
    await assert.rejects(getAccount(ctx.ledger, valid.replace('886E', '886e')), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
  });

  test('an unknown role is rejected', async () => {
    await assert.rejects(ensureAccount(ctx.ledger, { address: randomAddress(), roles: ['admin' as 'player'] }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
  });
});
