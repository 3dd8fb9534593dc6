import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAthError } from '../../signaling/protocol/index.js';
import { describeLedger } from './testing/describeLedger.js';
import { fakeSignature, randomAddress, seedSession } from './testing/fixtures.js';
import { recordUsageTick } from './usageTicks.js';
import { latestVoucher, recordVoucher } from './vouchers.js';

describeLedger('vouchers', (ctx) => {
  test('the latest voucher only ever moves up; lower or equal ones are ignored', async () => {
    const s = await seedSession(ctx.ledger, { priceWeiPerSec: 7n });
    const meter = randomAddress();
    for (let i = 0; i < 3; i++)
      await recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: i, deliveredSec: 5 });
    assert.equal(await latestVoucher(ctx.ledger, s.sessionId), undefined);
    const v2sig = fakeSignature();
    const v2 = await recordVoucher(ctx.ledger, {
      usage: { sessionId: s.sessionId, cumulativeAmount: 70n, deliveredSeconds: 10n },
      meterAddress: meter,
      signature: v2sig,
    });
    assert.equal(v2.updated, true);
    assert.equal(v2.voucher.cumulativeWei, 70n);
    assert.equal(v2.voucher.signature, v2sig);
    const late = await recordVoucher(ctx.ledger, {
      usage: { sessionId: s.sessionId, cumulativeAmount: 35n, deliveredSeconds: 5n },
      meterAddress: meter,
      signature: fakeSignature(),
    });
    assert.equal(late.updated, false);
    assert.equal(late.voucher.cumulativeWei, 70n);
    const retry = await recordVoucher(ctx.ledger, {
      usage: { sessionId: s.sessionId, cumulativeAmount: 70n, deliveredSeconds: 10n },
      meterAddress: meter,
      signature: v2sig,
    });
    assert.equal(retry.updated, false);
    const v3 = await recordVoucher(ctx.ledger, {
      usage: { sessionId: s.sessionId, cumulativeAmount: 105n, deliveredSeconds: 15n },
      meterAddress: meter,
      signature: fakeSignature(),
    });
    assert.equal(v3.updated, true);
    assert.equal((await latestVoucher(ctx.ledger, s.sessionId))?.cumulativeWei, 105n);
    assert.equal((await latestVoucher(ctx.ledger, s.sessionId))?.deliveredSec, 15);
  });

  test('a voucher ahead of the recorded ticks is refused', async () => {
    const s = await seedSession(ctx.ledger, { priceWeiPerSec: 7n });
    await recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 0, deliveredSec: 5 });
    for (const usage of [
      { sessionId: s.sessionId, cumulativeAmount: 36n, deliveredSeconds: 5n },
      { sessionId: s.sessionId, cumulativeAmount: 35n, deliveredSeconds: 6n },
    ]) {
      await assert.rejects(
        recordVoucher(ctx.ledger, { usage, meterAddress: randomAddress(), signature: fakeSignature() }),
        (e) => isAthError(e, 'ATH_ERR_LEDGER_VOUCHER_AHEAD'),
      );
    }
    await assert.rejects(
      recordVoucher(ctx.ledger, {
        usage: { sessionId: s.sessionId, cumulativeAmount: -1n, deliveredSeconds: 0n },
        meterAddress: randomAddress(),
        signature: fakeSignature(),
      }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
  });
});
