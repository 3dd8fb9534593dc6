import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getAddress } from 'viem';
import { claimSettlementBatch, enqueueSettlement, markBatchConfirmed, markBatchSent } from './outbox.js';
import { endSession } from './sessions.js';
import { markSlashConfirmed, recordSlash } from './slashes.js';
import { recordStake } from './stakes.js';
import { accountSummary, payerDeliveredSecElsewhere, providerEarnings, sessionCharges } from './summaries.js';
import { describeLedger } from './testing/describeLedger.js';
import { fakeSignature, randomAddress, randomBytes32, seedSession, TEST_FEE_SPLIT } from './testing/fixtures.js';
import { resetLedger } from './testing/resetLedger.js';
import { recordUsageTick } from './usageTicks.js';
import { recordVoucher } from './vouchers.js';

describeLedger('summaries', (ctx) => {
  test('accountSummary, sessionCharges and providerEarnings tell one consistent story', async () => {
    await resetLedger(ctx.ledger);
    const payer = randomAddress();
    const provider = randomAddress();
    const settledSession = await seedSession(ctx.ledger, { payer, provider, priceWeiPerSec: 13n, maxWei: 1000n });
    const openSession = await seedSession(ctx.ledger, { payer, provider, priceWeiPerSec: 7n, maxWei: 500n });
    for (let i = 0; i < 2; i++) {
      await recordUsageTick(ctx.ledger, { sessionId: settledSession.sessionId, tickIndex: i, deliveredSec: 5 }); // 65 each
    }
    await recordUsageTick(ctx.ledger, { sessionId: openSession.sessionId, tickIndex: 0, deliveredSec: 3 }); // 21
    await recordVoucher(ctx.ledger, {
      usage: { sessionId: settledSession.sessionId, cumulativeAmount: 130n, deliveredSeconds: 10n },
      meterAddress: randomAddress(),
      signature: fakeSignature(),
    });
    await enqueueSettlement(ctx.ledger, { sessionId: settledSession.sessionId });
    const batch = await claimSettlementBatch(ctx.ledger, { workerId: 'w' });
    assert.ok(batch);
    const txHash = randomBytes32();
    await markBatchSent(ctx.ledger, { batchId: batch.batchId, txHash });
    await markBatchConfirmed(ctx.ledger, { batchId: batch.batchId, feeSplit: TEST_FEE_SPLIT, txHash });
    await endSession(ctx.ledger, { sessionId: settledSession.sessionId, reason: 'player-quit' });
    await recordStake(ctx.ledger, { operatorAddress: provider, role: 'provider', amountWei: 10n ** 21n });
    const evidenceHash = randomBytes32();
    await recordSlash(ctx.ledger, {
      operatorAddress: provider,
      amountWei: 50n,
      evidenceHash,
      evidence: {},
      reason: 'downtime',
    });
    await markSlashConfirmed(ctx.ledger, { evidenceHash, txHash: randomBytes32() });

    // 130 settled: fee floor(26) = 26, provider 104.
    const payerSummary = await accountSummary(ctx.ledger, payer);
    assert.ok(payerSummary);
    assert.deepEqual(payerSummary.account.roles, ['player']);
    assert.equal(payerSummary.chargedWei, 151n);
    assert.equal(payerSummary.settledWei, 130n);
    assert.equal(payerSummary.unsettledWei, 21n);
    assert.equal(payerSummary.earnedWei, 0n);
    assert.deepEqual(
      payerSummary.openAuthorizations.map((a) => [a.sessionId, a.maxWei, a.usedWei, a.remainingWei]),
      [[openSession.sessionId, 500n, 21n, 479n]],
    );

    const providerSummary = await accountSummary(ctx.ledger, provider);
    assert.equal(providerSummary?.earnedWei, 104n);
    assert.equal(providerSummary?.slashedWei, 50n);
    assert.equal(providerSummary?.stake?.amountWei, 10n ** 21n);
    assert.equal(await accountSummary(ctx.ledger, randomAddress()), undefined);

    const charges = await sessionCharges(ctx.ledger, settledSession.sessionId);
    assert.ok(charges);
    assert.equal(charges.chargedWei, 130n);
    assert.equal(charges.settledWei, 130n);
    assert.equal(charges.unsettledWei, 0n);
    assert.equal(charges.deliveredSec, 10);
    assert.deepEqual(
      charges.ticks.map((t) => [t.tickIndex, t.amountWei, t.cumulativeWei]),
      [
        [0, 65n, 65n],
        [1, 65n, 130n],
      ],
    );
    assert.equal(charges.voucher?.cumulativeWei, 130n);
    assert.deepEqual(
      charges.settlements.map((s) => [s.state, s.txHash, s.final]),
      // Ending the session queued its final voucher: the redeem that releases the rest of its reserve.
      [
        ['confirmed', txHash, false],
        ['pending', null, true],
      ],
    );
    assert.equal(charges.session.state, 'ended');
    assert.equal(await sessionCharges(ctx.ledger, randomBytes32()), undefined);

    const earnings = await providerEarnings(ctx.ledger, { providerAddress: provider });
    assert.equal(earnings.sessionCount, 2);
    assert.equal(earnings.grossChargedWei, 151n);
    assert.equal(earnings.grossSettledWei, 130n);
    assert.equal(earnings.earnedWei, 104n);
    assert.equal(earnings.slashedWei, 50n);
    assert.deepEqual(
      earnings.sessions.map((s) => [s.sessionId, s.earnedWei]).sort(),
      [
        [openSession.sessionId, 0n],
        [settledSession.sessionId, 104n],
      ].sort(),
    );
    assert.equal((await providerEarnings(ctx.ledger, { providerAddress: provider, limit: 1 })).sessions.length, 1);
    const nobody = await providerEarnings(ctx.ledger, { providerAddress: randomAddress() });
    assert.deepEqual([nobody.sessionCount, nobody.earnedWei, nobody.sessions], [0, 0n, []]);
  });

  test('payerDeliveredSecElsewhere: what a payer was billed for with every other provider (its record)', async () => {
    const payer = randomAddress();
    const accused = randomAddress();
    const elsewhere = [randomAddress(), randomAddress()];
    const here = await seedSession(ctx.ledger, { payer, provider: accused });
    await recordUsageTick(ctx.ledger, { sessionId: here.sessionId, tickIndex: 0, deliveredSec: 50 });
    const record = () =>
      payerDeliveredSecElsewhere(ctx.ledger, { payerAddress: payer, exceptProviderAddress: accused });
    assert.equal(await record(), 0, 'a wallet that only ever played on the accused host has no record');
    for (const [i, provider] of elsewhere.entries()) {
      const s = await seedSession(ctx.ledger, { payer, provider });
      await recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 0, deliveredSec: 300 + i });
    }
    // Another payer's sessions are not this one's record.
    const other = await seedSession(ctx.ledger, { provider: elsewhere[0] });
    await recordUsageTick(ctx.ledger, { sessionId: other.sessionId, tickIndex: 0, deliveredSec: 900 });
    assert.equal(await record(), 601);
    assert.equal(
      await payerDeliveredSecElsewhere(ctx.ledger, {
        payerAddress: getAddress(payer),
        exceptProviderAddress: accused,
      }),
      601,
      'a checksummed address',
    );
  });
});
