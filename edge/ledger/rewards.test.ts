import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Address } from 'viem';
import { isAthError } from '../../signaling/protocol/index.js';
import { recordCheckReport, recordRoundVerdict } from './checkerReports.js';
import type { Queryable } from './db/Db.js';
import { journalBalance, journalTotals, postJournalEntries, SYSTEM_ACCOUNTS } from './journal.js';
import { recordOperatorOffline } from './offline.js';
import {
  allocateProRata,
  closeCheckerPeriod,
  closeStakerEpoch,
  getRewardPayout,
  listRewardAllocations,
  listRewardPeriods,
  markRewardPayoutConfirmed,
  markRewardPayoutFailed,
  markRewardPayoutSent,
  nextRewardPayout,
  stampRewardInflows,
} from './rewards.js';
import { describeLedger } from './testing/describeLedger.js';
import { fakeSignature, randomAddress, randomBytes32 } from './testing/fixtures.js';

const DAY = 86_400n;
const WEEK = 7n * DAY;

test('allocateProRata splits a pool exactly: Σ = pool, each share within a wei of its exact value', () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: 10n ** 30n }),
      fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 2 ** 31 }), fc.bigInt({ min: 1n, max: 10n ** 24n })), {
        selector: ([id]) => id,
        maxLength: 40,
      }),
      (pool, entries) => {
        const weighted = entries.map(([id, weight]) => ({
          address: `0x${id.toString(16).padStart(40, '0')}` as Address,
          weight,
        }));
        const shares = allocateProRata(pool, weighted);
        const total = weighted.reduce((sum, w) => sum + w.weight, 0n);
        if (weighted.length === 0) return shares.length === 0;
        if (shares.reduce((sum, s) => sum + s.amountWei, 0n) !== pool) return false;
        for (const w of weighted) {
          const share = shares.find((s) => s.address === w.address)?.amountWei ?? 0n;
          const floor = (pool * w.weight) / total;
          if (share < floor || share > floor + 1n) return false;
        }
        return true;
      },
    ),
  );
  assert.deepEqual(
    allocateProRata(10n, [
      { address: '0x0000000000000000000000000000000000000002', weight: 1n },
      { address: '0x0000000000000000000000000000000000000001', weight: 2n },
    ]).map((s) => s.amountWei),
    [7n, 3n],
    '10 · 2/3 = 6.67 → 7, 10 · 1/3 = 3.33 → 3',
  );
});

/** A settlement's checker-pool credit, journaled as the outbox does. */
async function poolInflow(db: Queryable, amountWei: bigint): Promise<void> {
  await postJournalEntries(db, [
    {
      entryKey: `test-inflow:${randomBytes32()}`,
      postings: [
        { account: SYSTEM_ACCOUNTS.unsettled, kind: 'settlement', side: 'debit', amountWei },
        { account: SYSTEM_ACCOUNTS.checkerPool, kind: 'checker_pool', side: 'credit', amountWei },
      ],
    },
  ]);
}

/** A decided round in which `agree` sided with the verdict and `disagree` did not. */
async function round(
  db: Queryable,
  p: { container: string; round: bigint; agree: Address[]; disagree?: Address[]; atSec: bigint },
): Promise<void> {
  for (const [checker, ok] of [
    ...p.agree.map((a) => [a, false] as const),
    ...(p.disagree ?? []).map((a) => [a, true] as const),
  ]) {
    await recordCheckReport(db, {
      report: {
        container: p.container,
        checker,
        round: p.round,
        rttMicros: 1,
        fpsMilli: 1,
        lossPpm: 0,
        ok,
        timestamp: p.atSec,
      },
      signature: fakeSignature(),
    });
  }
  await recordRoundVerdict(db, {
    container: p.container,
    round: p.round,
    ok: false,
    finding: 'down',
    decidedChainSec: p.atSec,
  });
}

describeLedger('rewards', (ctx) => {
  // One timeline per run (PGlite and Postgres each get their own database).
  const epoch = 3_000n;
  const day0 = epoch * WEEK;

  test('a checkers period takes every new pool credit once, sets the stakers’ part aside, and pays agreeing reports pro rata', async () => {
    const [a, b, barred, liar] = [randomAddress(), randomAddress(), randomAddress(), randomAddress()];
    await poolInflow(ctx.ledger, 1_000n);
    await poolInflow(ctx.ledger, 1n);
    assert.equal(await stampRewardInflows(ctx.ledger, { chainSec: day0 + 5n }), 1_001n);
    assert.equal(await stampRewardInflows(ctx.ledger, { chainSec: day0 + 6n }), 0n, 'each credit is stamped once');
    await round(ctx.ledger, {
      container: 'h-1',
      round: 1n,
      agree: [a, b, barred],
      disagree: [liar],
      atSec: day0 + 10n,
    });
    await round(ctx.ledger, { container: 'h-1', round: 2n, agree: [a, barred], atSec: day0 + 20n });
    // A round decided after the period is not counted in it.
    await round(ctx.ledger, { container: 'h-1', round: 3n, agree: [b], atSec: day0 + DAY + 1n });
    const { period, created } = await closeCheckerPeriod(ctx.ledger, {
      startSec: day0,
      endSec: day0 + DAY,
      stakerShareBps: 4_000n,
      excluded: [barred],
    });
    assert.equal(created, true);
    assert.equal(period.freshWei, 1_001n);
    assert.equal(period.stakerPartWei, 400n, 'floor(1001 · 40 %)');
    assert.equal(period.poolWei, 601n);
    assert.equal(period.allocatedWei, 601n, 'Σ allocations = the pool, to the wei');
    const shares = await listRewardAllocations(ctx.ledger, { kind: 'checkers', periodKey: day0 });
    const of = (x: Address) => shares.find((s) => s.operatorAddress === x);
    assert.equal(of(a)?.weight, 2n);
    assert.equal(of(b)?.weight, 1n);
    assert.equal(of(a)?.amountWei, 401n, '601 · 2/3 = 400.67 → 401');
    assert.equal(of(b)?.amountWei, 200n);
    assert.equal(of(barred), undefined, 'a barred checker gets nothing');
    assert.equal(of(liar), undefined, 'a report against the majority earns nothing');
    // Computing it again changes nothing; an earlier period cannot be computed after a later one.
    const again = await closeCheckerPeriod(ctx.ledger, { startSec: day0, endSec: day0 + DAY, stakerShareBps: 4_000n });
    assert.equal(again.created, false);
    assert.deepEqual(again.period, period);
    await assert.rejects(
      closeCheckerPeriod(ctx.ledger, { startSec: day0 - DAY, endSec: day0, stakerShareBps: 4_000n }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_TICK_OUT_OF_ORDER'),
    );
  });

  test('a period without recipients carries its pool; payouts confirm once, journal each reward, forfeit skipped items', async () => {
    await poolInflow(ctx.ledger, 500n);
    await stampRewardInflows(ctx.ledger, { chainSec: day0 + 2n * DAY + 1n });
    // A credit seen later belongs to a later period.
    await poolInflow(ctx.ledger, 77n);
    await stampRewardInflows(ctx.ledger, { chainSec: day0 + 3n * DAY + 1n });
    const empty = await closeCheckerPeriod(ctx.ledger, {
      startSec: day0 + 2n * DAY,
      endSec: day0 + 3n * DAY,
      stakerShareBps: 4_000n,
    });
    assert.equal(empty.period.recipients, 0);
    assert.equal(empty.period.poolWei, 300n);
    assert.equal(empty.period.allocatedWei, 0n);

    const payout = await nextRewardPayout(ctx.ledger);
    assert.ok(payout);
    assert.equal(payout.kind, 'checkers');
    assert.equal(payout.totalWei, 601n);
    assert.equal(payout.items.length, 2);
    const sent = await markRewardPayoutSent(ctx.ledger, {
      payoutId: payout.payoutId,
      txHash: randomBytes32(),
      nonce: 7,
    });
    assert.equal(sent.state, 'sent');
    assert.equal(
      (await markRewardPayoutFailed(ctx.ledger, { payoutId: payout.payoutId, error: 'reverted', retry: true })).state,
      'pending',
    );
    const txHash = randomBytes32();
    await markRewardPayoutSent(ctx.ledger, { payoutId: payout.payoutId, txHash });
    const [first, second] = payout.items;
    assert.ok(first && second);
    const poolBefore = await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.checkerPool);
    const confirmed = await markRewardPayoutConfirmed(ctx.ledger, {
      payoutId: payout.payoutId,
      txHash,
      forfeited: [{ address: second.address, reason: 3 }],
    });
    assert.equal(confirmed.confirmed, true);
    assert.equal(confirmed.paidWei, first.amountWei);
    assert.equal(confirmed.forfeitedWei, second.amountWei);
    assert.equal((await markRewardPayoutConfirmed(ctx.ledger, { payoutId: payout.payoutId, txHash })).confirmed, false);
    assert.deepEqual(await journalTotals(ctx.ledger, first.address), { 'reward:credit': first.amountWei });
    assert.deepEqual(await journalTotals(ctx.ledger, second.address), {});
    assert.equal(
      (await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.checkerPool))['reward:debit'],
      (poolBefore['reward:debit'] ?? 0n) + first.amountWei,
    );
    assert.ok((await journalBalance(ctx.ledger)).balanced);
    assert.equal((await getRewardPayout(ctx.ledger, payout.payoutId))?.state, 'confirmed');
    assert.equal(await nextRewardPayout(ctx.ledger), undefined);

    // The next period gets the carry: the empty period's 300 and the forfeited share.
    const c = randomAddress();
    await round(ctx.ledger, { container: 'h-2', round: 1n, agree: [c], atSec: day0 + 3n * DAY + 5n });
    const next = await closeCheckerPeriod(ctx.ledger, {
      startSec: day0 + 3n * DAY,
      endSec: day0 + 4n * DAY,
      stakerShareBps: 4_000n,
    });
    assert.equal(next.period.freshWei, 77n);
    assert.equal(next.period.stakerPartWei, 30n);
    assert.equal(next.period.carriedInWei, 300n + second.amountWei);
    assert.equal(next.period.allocatedWei, next.period.poolWei);
  });

  test('a stakers epoch takes the stakers’ parts of the checker periods that ended by its end; offline providers get none', async () => {
    const [big, small, away, none] = [randomAddress(), randomAddress(), randomAddress(), randomAddress()];
    await recordOperatorOffline(ctx.ledger, {
      providerAddress: away,
      hostId: 'away-1',
      epoch,
      atChainSec: day0 + 100n,
      reason: 'no heartbeat for 6000 ms',
    });
    const { period } = await closeStakerEpoch(ctx.ledger, {
      epoch,
      startSec: day0,
      endSec: day0 + WEEK,
      stakes: [
        { address: big, stakeWei: 3_000n },
        { address: small, stakeWei: 1_000n },
        { address: away, stakeWei: 5_000n },
        { address: none, stakeWei: 0n },
      ],
    });
    assert.equal(period.freshWei, 400n + 200n + 30n, 'the parts set aside by the three checker periods');
    assert.equal(period.allocatedWei, period.poolWei);
    const shares = await listRewardAllocations(ctx.ledger, { kind: 'stakers', periodKey: epoch });
    const amounts = Object.fromEntries(shares.map((s) => [s.operatorAddress, s.amountWei]));
    assert.deepEqual(Object.keys(amounts).sort(), [big, small].sort());
    // 630 · ¾ = 472.5 and 630 · ¼ = 157.5: the odd wei goes to one of them (equal remainders, lower address).
    assert.ok(amounts[big] === 472n || amounts[big] === 473n);
    assert.equal((amounts[big] ?? 0n) + (amounts[small] ?? 0n), 630n);
    // Every checker period up to the epoch's end was taken by it, once.
    const periods = await listRewardPeriods(ctx.ledger, { kind: 'checkers' });
    assert.ok(periods.every((p) => p.endSec > day0 + WEEK || p.stakerEpoch === epoch));
    const again = await closeStakerEpoch(ctx.ledger, { epoch, startSec: day0, endSec: day0 + WEEK, stakes: [] });
    assert.equal(again.created, false);
  });

  test('conservation: Σ fresh pool money = Σ allocated + what is carried, to the wei', async () => {
    const periods = await listRewardPeriods(ctx.ledger, { limit: 1000 });
    const fresh = periods.reduce((sum, p) => sum + p.freshWei - p.stakerPartWei, 0n);
    const credits = (await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.checkerPool))['checker_pool:credit'] ?? 0n;
    const attributedToCheckers = periods.filter((p) => p.kind === 'checkers').reduce((sum, p) => sum + p.freshWei, 0n);
    assert.equal(attributedToCheckers, credits, 'every pool credit is attributed to exactly one period');
    const allocations = await listRewardAllocations(ctx.ledger, { limit: 10_000 });
    const kept = allocations.filter((a) => a.state !== 'skipped').reduce((sum, a) => sum + a.amountWei, 0n);
    const latest = periods.filter((p) => p.kind === 'checkers')[0];
    const latestStakers = periods.filter((p) => p.kind === 'stakers')[0];
    assert.ok(latest && latestStakers);
    const carryCheckers = latest.poolWei - latest.allocatedWei;
    const carryStakers = latestStakers.poolWei - latestStakers.allocatedWei;
    assert.equal(fresh, kept + carryCheckers + carryStakers);
  });
});
