import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAthError } from '../../signaling/protocol/index.js';
import { journalBalance, journalTotals, SYSTEM_ACCOUNTS } from './journal.js';
import {
  getSlash,
  listSlashes,
  markSlashConfirmed,
  markSlashFailed,
  markSlashSent,
  nextPendingSlash,
  recordSlash,
} from './slashes.js';
import { describeLedger } from './testing/describeLedger.js';
import { randomAddress, randomBytes32 } from './testing/fixtures.js';

describeLedger('slashes', (ctx) => {
  test('recordSlash keeps the evidence, once per evidence hash; a different slash on the same evidence is a conflict', async () => {
    const operator = randomAddress();
    const evidenceHash = randomBytes32();
    const evidence = { reports: [{ round: 7n, checker: randomAddress(), ok: false }], note: 'two failed rounds' };
    const first = await recordSlash(ctx.ledger, {
      operatorAddress: operator,
      amountWei: 10n ** 21n,
      evidenceHash,
      evidence,
      reason: 'failed majority twice',
      container: 'host-1/0',
    });
    assert.equal(first.inserted, true);
    assert.equal(first.slash.state, 'pending');
    assert.deepEqual(first.slash.evidence, {
      reports: [{ round: '7', checker: evidence.reports[0]?.checker, ok: false }],
      note: 'two failed rounds',
    });
    const again = await recordSlash(ctx.ledger, {
      operatorAddress: operator,
      amountWei: 10n ** 21n,
      evidenceHash,
      evidence,
      reason: 'x',
    });
    assert.equal(again.inserted, false);
    assert.equal(again.slash.slashId, first.slash.slashId);
    await assert.rejects(
      recordSlash(ctx.ledger, { operatorAddress: operator, amountWei: 1n, evidenceHash, evidence, reason: 'x' }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_CONFLICT'),
    );
    await assert.rejects(
      recordSlash(ctx.ledger, {
        operatorAddress: operator,
        amountWei: 0n,
        evidenceHash: randomBytes32(),
        evidence,
        reason: 'x',
      }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
    // Nothing is journaled before the chain confirms.
    assert.deepEqual(await journalTotals(ctx.ledger, operator), {});
  });

  test('sent → confirmed journals what the chain took, once; failed goes back to pending or stays failed', async () => {
    const operator = randomAddress();
    const evidenceHash = randomBytes32();
    await recordSlash(ctx.ledger, {
      operatorAddress: operator,
      amountWei: 1000n,
      evidenceHash,
      evidence: {},
      reason: 'fraud',
    });
    const txHash = randomBytes32();
    assert.equal((await markSlashSent(ctx.ledger, { evidenceHash, txHash })).state, 'sent');
    const failed = await markSlashFailed(ctx.ledger, { evidenceHash, error: 'out of gas', retry: true });
    assert.equal(failed.state, 'pending');
    assert.equal(failed.txHash, null);
    await markSlashSent(ctx.ledger, { evidenceHash, txHash });
    const treasuryBefore = (await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.treasury))['slash:credit'] ?? 0n;
    const confirmed = await markSlashConfirmed(ctx.ledger, { evidenceHash, txHash, slashedWei: 600n });
    assert.equal(confirmed.confirmed, true);
    assert.equal(confirmed.slash.state, 'confirmed');
    assert.equal(confirmed.slash.slashedWei, 600n);
    const twice = await markSlashConfirmed(ctx.ledger, { evidenceHash, txHash });
    assert.equal(twice.confirmed, false);
    assert.deepEqual(await journalTotals(ctx.ledger, operator), { 'slash:debit': 600n });
    assert.equal((await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.treasury))['slash:credit'], treasuryBefore + 600n);
    assert.ok((await journalBalance(ctx.ledger)).balanced);
    await assert.rejects(markSlashSent(ctx.ledger, { evidenceHash, txHash }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_BAD_TRANSITION'),
    );
    await assert.rejects(markSlashSent(ctx.ledger, { evidenceHash: randomBytes32(), txHash }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_NOT_FOUND'),
    );

    const other = randomBytes32();
    await recordSlash(ctx.ledger, {
      operatorAddress: operator,
      amountWei: 5n,
      evidenceHash: other,
      evidence: [],
      reason: 'x',
    });
    await assert.rejects(markSlashConfirmed(ctx.ledger, { evidenceHash: other, txHash, slashedWei: 6n }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
    assert.equal(
      (await markSlashFailed(ctx.ledger, { evidenceHash: other, error: 'no stake', retry: false })).state,
      'failed',
    );
    assert.equal((await getSlash(ctx.ledger, other))?.lastError, 'no stake');
    assert.deepEqual(
      (await listSlashes(ctx.ledger, { operatorAddress: operator })).map((s) => s.state),
      ['confirmed', 'failed'],
    );
    assert.equal((await listSlashes(ctx.ledger, { operatorAddress: operator, state: 'failed' })).length, 1);
  });

  test('a checker-lie slash may take nothing (it still bars); the chain’s breakdown and bar are kept; pending ones come in order', async () => {
    const checker = randomAddress();
    const evidenceHash = randomBytes32();
    const { slash } = await recordSlash(ctx.ledger, {
      operatorAddress: checker,
      amountWei: 0n,
      evidenceHash,
      evidence: { lies: [] },
      reason: 'two reports against confirmed majorities',
      kind: 'checker-lie',
    });
    assert.equal(slash.kind, 'checker-lie');
    const provider = randomAddress();
    const downtime = randomBytes32();
    await recordSlash(ctx.ledger, {
      operatorAddress: provider,
      amountWei: 666n,
      evidenceHash: downtime,
      evidence: {},
      reason: 'down while rendering',
      container: 'host-9',
      round: 12n,
    });
    const next = await nextPendingSlash(ctx.ledger);
    assert.ok(next && next.slashId <= slash.slashId, 'oldest first');
    const txHash = randomBytes32();
    const sent = await markSlashSent(ctx.ledger, { evidenceHash: downtime, txHash, nonce: 3 });
    assert.equal(sent.txNonce, 3);
    assert.equal(sent.attempts, 1);
    await assert.rejects(
      markSlashConfirmed(ctx.ledger, {
        evidenceHash: downtime,
        txHash,
        slashedWei: 600n,
        breakdown: { fromRewardsWei: 100n, fromStakeWei: 400n, fromUnbondingWei: 0n },
      }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
    const { slash: done } = await markSlashConfirmed(ctx.ledger, {
      evidenceHash: downtime,
      txHash,
      breakdown: { fromRewardsWei: 100n, fromStakeWei: 500n, fromUnbondingWei: 0n },
    });
    assert.equal(done.slashedWei, 600n);
    assert.equal(done.fromRewardsWei, 100n);
    assert.equal(done.round, 12n);
    assert.deepEqual(await journalTotals(ctx.ledger, provider), { 'slash:debit': 600n });
    await markSlashSent(ctx.ledger, { evidenceHash, txHash: randomBytes32() });
    const barred = await markSlashConfirmed(ctx.ledger, {
      evidenceHash,
      txHash: randomBytes32(),
      breakdown: { fromRewardsWei: 0n, fromStakeWei: 0n, fromUnbondingWei: 0n },
      barredUntilSec: 1_900_000_000n,
    });
    assert.equal(barred.slash.barredUntilSec, 1_900_000_000n);
    assert.equal(barred.slash.slashedWei, 0n);
    assert.deepEqual(await journalTotals(ctx.ledger, checker), {}, 'nothing taken, nothing journaled');
    assert.equal((await listSlashes(ctx.ledger, { kind: 'checker-lie', operatorAddress: checker })).length, 1);
    assert.equal((await listSlashes(ctx.ledger, { container: 'host-9' })).length, 1);
  });
});
