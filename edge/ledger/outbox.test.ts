import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import fc from 'fast-check';
import type { Hex } from 'viem';
import { isAthError } from '../../signaling/protocol/index.js';
import type { Queryable } from './db/Db.js';
import { journalBalance, journalTotals, SYSTEM_ACCOUNTS, splitFee } from './journal.js';
import { type Ledger, openLedger } from './openLedger.js';
import {
  claimSettlementBatch,
  enqueueSettlement,
  listSettlements,
  markBatchConfirmed,
  markBatchFailed,
  markBatchSent,
  reconcileSettlements,
  retryFailedSettlement,
} from './outbox.js';
import { getSession, type Session } from './sessions.js';
import { providerEarnings } from './summaries.js';
import { describeLedger } from './testing/describeLedger.js';
import { FakeEscrow } from './testing/FakeEscrow.js';
import { fakeSignature, randomAddress, randomBytes32, seedSession, TEST_FEE_SPLIT } from './testing/fixtures.js';
import { resetLedger } from './testing/resetLedger.js';
import { type StartTestPostgresReturnType, startTestPostgres } from './testing/startTestPostgres.js';
import { recordUsageTick } from './usageTicks.js';
import { recordVoucher } from './vouchers.js';

const METER = randomAddress();

/** Records `seconds` more of delivery as the next tick, signs a voucher for the new total and enqueues it. */
async function meterAndEnqueue(db: Queryable, sessionId: Hex, seconds: number): Promise<Session> {
  const before = await getSession(db, sessionId);
  assert.ok(before);
  const tickIndex = before.lastTickIndex === null ? 0 : before.lastTickIndex + 1;
  await recordUsageTick(db, { sessionId, tickIndex, deliveredSec: seconds });
  const session = await getSession(db, sessionId);
  assert.ok(session);
  await recordVoucher(db, {
    usage: { sessionId, cumulativeAmount: session.cumulativeWei, deliveredSeconds: BigInt(session.deliveredSec) },
    meterAddress: METER,
    signature: fakeSignature(),
  });
  await enqueueSettlement(db, { sessionId });
  return session;
}

type CrashPoint = 'none' | 'afterClaim' | 'afterSent' | 'afterBroadcast' | 'afterMined';

/** One settlement worker round against the fake chain; returns after `crash` as if the process died there. */
async function workerRound(db: Queryable, escrow: FakeEscrow, crash: CrashPoint): Promise<boolean> {
  const batch = await claimSettlementBatch(db, { workerId: 'worker-1', limit: 10 });
  if (batch === undefined) return false;
  if (crash === 'afterClaim') return true;
  const txHash = randomBytes32();
  await markBatchSent(db, { batchId: batch.batchId, txHash, nonce: 0 });
  if (crash === 'afterSent') return true;
  escrow.broadcast(txHash, batch.items);
  if (crash === 'afterBroadcast') return true;
  escrow.mine();
  if (crash === 'afterMined') return true;
  // Stale items are covered by the chain, so nothing is rejected here.
  await markBatchConfirmed(db, { batchId: batch.batchId, feeSplit: TEST_FEE_SPLIT, txHash, blockNumber: 1n });
  return true;
}

/** Runs the worker until the outbox is empty, reconciling whatever is left in flight. */
async function drain(db: Queryable, escrow: FakeEscrow, withMempool: boolean): Promise<void> {
  for (let round = 0; round < 200; round++) {
    escrow.mine();
    await reconcileSettlements(db, {
      readClaimedWei: escrow.readClaimedWei,
      ...(withMempool ? { isTxPending: escrow.isTxPending } : {}),
      feeSplit: TEST_FEE_SPLIT,
    });
    if (!(await workerRound(db, escrow, 'none'))) return;
  }
  assert.fail('the outbox did not drain');
}

describeLedger('outbox', (ctx) => {
  beforeEach(() => resetLedger(ctx.ledger));

  test('enqueueSettlement queues the latest voucher once, and nothing without a voucher or already settled', async () => {
    const s = await seedSession(ctx.ledger, { priceWeiPerSec: 13n });
    assert.deepEqual(await enqueueSettlement(ctx.ledger, { sessionId: s.sessionId }), {
      inserted: false,
      settlement: undefined,
    });
    await meterAndEnqueue(ctx.ledger, s.sessionId, 3);
    const again = await enqueueSettlement(ctx.ledger, { sessionId: s.sessionId });
    assert.equal(again.inserted, false);
    assert.equal(again.settlement?.cumulativeWei, 39n);
    assert.equal(again.settlement?.state, 'pending');
    assert.equal(again.settlement?.deliveredSec, 3);
    const rows = await listSettlements(ctx.ledger, { sessionId: s.sessionId });
    assert.equal(rows.length, 1);
    const escrow = new FakeEscrow(TEST_FEE_SPLIT);
    await workerRound(ctx.ledger, escrow, 'none');
    const afterSettled = await enqueueSettlement(ctx.ledger, { sessionId: s.sessionId });
    assert.equal(afterSettled.inserted, false);
    assert.equal(afterSettled.settlement?.state, 'confirmed');
  });

  test('claimSettlementBatch takes each session’s highest pending voucher, supersedes lower ones, skips sessions in flight', async () => {
    const a = await seedSession(ctx.ledger, { priceWeiPerSec: 10n });
    const b = await seedSession(ctx.ledger, { priceWeiPerSec: 10n });
    await meterAndEnqueue(ctx.ledger, a.sessionId, 5);
    await meterAndEnqueue(ctx.ledger, a.sessionId, 5);
    await meterAndEnqueue(ctx.ledger, b.sessionId, 2);
    const batch = await claimSettlementBatch(ctx.ledger, { workerId: 'w', limit: 10 });
    assert.ok(batch);
    assert.equal(batch.items.length, 2);
    const itemA = batch.items.find((item) => item.auth.sessionId === a.sessionId);
    assert.equal(itemA?.usage.cumulativeAmount, 100n);
    assert.equal(itemA?.usage.deliveredSeconds, 10n);
    assert.equal(itemA?.auth.player, a.payerAddress);
    assert.equal(itemA?.auth.provider, a.providerAddress);
    assert.equal(itemA?.auth.maxAmount, a.authMaxWei);
    assert.equal(itemA?.auth.pricePerSecond, 10n);
    assert.equal(itemA?.auth.expiry, a.authExpirySec);
    assert.equal(itemA?.authSignature, a.authSignature);
    assert.equal(itemA?.attempts, 1);
    const statesA = (await listSettlements(ctx.ledger, { sessionId: a.sessionId })).map((r) => [
      r.cumulativeWei,
      r.state,
    ]);
    assert.deepEqual(statesA, [
      [50n, 'superseded'],
      [100n, 'sending'],
    ]);
    // A new voucher for a session in flight waits for the next round.
    await meterAndEnqueue(ctx.ledger, a.sessionId, 1);
    assert.equal(await claimSettlementBatch(ctx.ledger, { workerId: 'w' }), undefined);
    await markBatchFailed(ctx.ledger, { batchId: batch.batchId, error: 'rpc down', retry: true });
    const limited = await claimSettlementBatch(ctx.ledger, { workerId: 'w', limit: 1 });
    assert.equal(limited?.items.length, 1);
    assert.equal(await claimSettlementBatch(ctx.ledger, { workerId: 'w', limit: 0 }), undefined);
  });

  test('markBatchSent records the hash write-ahead, takes a replacement, and refuses a batch no longer in flight', async () => {
    const s = await seedSession(ctx.ledger);
    await meterAndEnqueue(ctx.ledger, s.sessionId, 5);
    const batch = await claimSettlementBatch(ctx.ledger, { workerId: 'w' });
    assert.ok(batch);
    const from = randomAddress();
    const first = randomBytes32();
    const sent = await markBatchSent(ctx.ledger, { batchId: batch.batchId, txHash: first, nonce: 7, from });
    assert.deepEqual(sent.settlementIds, [batch.items[0]?.settlementId]);
    let [row] = await listSettlements(ctx.ledger, { batchId: batch.batchId });
    assert.equal(row?.state, 'sent');
    assert.equal(row?.txHash, first);
    assert.equal(row?.txNonce, 7);
    assert.equal(row?.txFrom, from);
    const replacement = randomBytes32();
    await markBatchSent(ctx.ledger, { batchId: batch.batchId, txHash: replacement, nonce: 7, from });
    [row] = await listSettlements(ctx.ledger, { batchId: batch.batchId });
    assert.equal(row?.txHash, replacement);
    await markBatchConfirmed(ctx.ledger, { batchId: batch.batchId, feeSplit: TEST_FEE_SPLIT });
    await assert.rejects(markBatchSent(ctx.ledger, { batchId: batch.batchId, txHash: first }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_BAD_TRANSITION'),
    );
    await assert.rejects(markBatchSent(ctx.ledger, { batchId: crypto.randomUUID(), txHash: first }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_NOT_FOUND'),
    );
    await assert.rejects(markBatchSent(ctx.ledger, { batchId: 'nope', txHash: first }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
  });

  test('markBatchConfirmed journals the contract’s fee split to the wei, raises settled, and is idempotent', async () => {
    const s = await seedSession(ctx.ledger, { priceWeiPerSec: 13n });
    await meterAndEnqueue(ctx.ledger, s.sessionId, 3); // 39 wei: fee 7, checker pool 1, treasury 6, provider 32
    const batch = await claimSettlementBatch(ctx.ledger, { workerId: 'w' });
    assert.ok(batch);
    const txHash = randomBytes32();
    await markBatchSent(ctx.ledger, { batchId: batch.batchId, txHash });
    const result = await markBatchConfirmed(ctx.ledger, {
      batchId: batch.batchId,
      feeSplit: TEST_FEE_SPLIT,
      txHash,
      blockNumber: 12_345n,
    });
    assert.deepEqual(result, { confirmed: 1, requeued: 0, failed: 0, settledWei: 39n });
    assert.deepEqual(splitFee(39n, TEST_FEE_SPLIT), {
      feeWei: 7n,
      checkerPoolWei: 1n,
      treasuryWei: 6n,
      providerWei: 32n,
    });
    assert.equal((await journalTotals(ctx.ledger, s.providerAddress))['provider_earning:credit'], 32n);
    assert.equal((await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.checkerPool))['checker_pool:credit'], 1n);
    assert.equal((await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.treasury))['treasury:credit'], 6n);
    const [row] = await listSettlements(ctx.ledger, { batchId: batch.batchId });
    assert.equal(row?.state, 'confirmed');
    assert.equal(row?.blockNumber, 12_345n);
    assert.ok(row?.confirmedAt instanceof Date);
    assert.equal((await getSession(ctx.ledger, s.sessionId))?.settledWei, 39n);

    const again = await markBatchConfirmed(ctx.ledger, { batchId: batch.batchId, feeSplit: TEST_FEE_SPLIT, txHash });
    assert.deepEqual(again, { confirmed: 0, requeued: 0, failed: 0, settledWei: 0n });
    assert.equal((await journalTotals(ctx.ledger, s.providerAddress))['provider_earning:credit'], 32n);

    // The next voucher settles only the delta: 39 → 78 is another 39.
    await meterAndEnqueue(ctx.ledger, s.sessionId, 3);
    const next = await claimSettlementBatch(ctx.ledger, { workerId: 'w' });
    assert.ok(next);
    await markBatchSent(ctx.ledger, { batchId: next.batchId, txHash: randomBytes32() });
    assert.equal(
      (await markBatchConfirmed(ctx.ledger, { batchId: next.batchId, feeSplit: TEST_FEE_SPLIT })).settledWei,
      39n,
    );
    assert.equal((await journalTotals(ctx.ledger, s.providerAddress))['provider_earning:credit'], 64n);
    assert.ok((await journalBalance(ctx.ledger)).balanced);
    await assert.rejects(
      markBatchConfirmed(ctx.ledger, { batchId: crypto.randomUUID(), feeSplit: TEST_FEE_SPLIT }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_NOT_FOUND'),
    );
    await assert.rejects(
      markBatchConfirmed(ctx.ledger, { batchId: next.batchId, feeSplit: { feeBps: 10_001n, checkerShareBps: 0n } }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
  });

  test('markBatchConfirmed sends rejected items back to pending or to failed', async () => {
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => seedSession(ctx.ledger, { priceWeiPerSec: 5n })));
    for (const s of [a, b, c]) await meterAndEnqueue(ctx.ledger, s!.sessionId, 5);
    const batch = await claimSettlementBatch(ctx.ledger, { workerId: 'w' });
    assert.equal(batch?.items.length, 3);
    const idOf = (s: Session | undefined) =>
      batch?.items.find((i) => i.auth.sessionId === s?.sessionId)?.settlementId ?? 0n;
    await markBatchSent(ctx.ledger, { batchId: batch!.batchId, txHash: randomBytes32() });
    const result = await markBatchConfirmed(ctx.ledger, {
      batchId: batch!.batchId,
      feeSplit: TEST_FEE_SPLIT,
      rejected: [
        { settlementId: idOf(b), error: 'escrow short', retry: true },
        { settlementId: idOf(c), error: 'bad meter signature', retry: false },
      ],
    });
    assert.deepEqual(result, { confirmed: 1, requeued: 1, failed: 1, settledWei: 25n });
    const stateOf = async (s: Session | undefined) =>
      (await listSettlements(ctx.ledger, { sessionId: s!.sessionId }))[0];
    assert.equal((await stateOf(a))?.state, 'confirmed');
    assert.equal((await stateOf(b))?.state, 'pending');
    assert.equal((await stateOf(b))?.lastError, 'escrow short');
    assert.equal((await stateOf(b))?.txHash, null);
    assert.equal((await stateOf(c))?.state, 'failed');
    assert.equal((await stateOf(c))?.lastError, 'bad meter signature');
  });

  test('markBatchFailed requeues (until maxAttempts) or fails; retryFailedSettlement revives a failed row', async () => {
    const s = await seedSession(ctx.ledger);
    await meterAndEnqueue(ctx.ledger, s.sessionId, 5);
    for (let attempt = 1; attempt <= 2; attempt++) {
      const batch = await claimSettlementBatch(ctx.ledger, { workerId: 'w' });
      assert.equal(batch?.items[0]?.attempts, attempt);
      const result = await markBatchFailed(ctx.ledger, {
        batchId: batch!.batchId,
        error: 'reverted',
        retry: true,
        maxAttempts: 2,
      });
      assert.deepEqual(result, attempt < 2 ? { requeued: 1, failed: 0 } : { requeued: 0, failed: 1 });
      assert.deepEqual(await markBatchFailed(ctx.ledger, { batchId: batch!.batchId, error: 'again', retry: true }), {
        requeued: 0,
        failed: 0,
      });
    }
    const [row] = await listSettlements(ctx.ledger, { sessionId: s.sessionId });
    assert.equal(row?.state, 'failed');
    assert.equal(await claimSettlementBatch(ctx.ledger, { workerId: 'w' }), undefined);
    assert.equal(await retryFailedSettlement(ctx.ledger, { settlementId: row!.settlementId }), true);
    assert.equal(await retryFailedSettlement(ctx.ledger, { settlementId: row!.settlementId }), false);
    const revived = await claimSettlementBatch(ctx.ledger, { workerId: 'w' });
    assert.equal(revived?.items[0]?.attempts, 3);
    const final = await markBatchFailed(ctx.ledger, {
      batchId: revived!.batchId,
      error: 'bad signature',
      retry: false,
    });
    assert.deepEqual(final, { requeued: 0, failed: 1 });
  });

  test('reconcileSettlements: claimed on chain → confirmed; not claimed → requeued; still in the mempool → left in flight', async () => {
    const escrow = new FakeEscrow(TEST_FEE_SPLIT);
    const [landed, lost, waiting, unsent] = await Promise.all(
      [1, 2, 3, 4].map(() => seedSession(ctx.ledger, { priceWeiPerSec: 11n })),
    );
    for (const s of [landed, lost, waiting, unsent]) await meterAndEnqueue(ctx.ledger, s!.sessionId, 5);
    const batch = await claimSettlementBatch(ctx.ledger, { workerId: 'w' });
    assert.equal(batch?.items.length, 4);
    const item = (s: Session | undefined) => batch!.items.filter((i) => i.auth.sessionId === s?.sessionId);
    const txLanded = randomBytes32();
    const txWaiting = randomBytes32();
    await markBatchSent(ctx.ledger, { batchId: batch!.batchId, txHash: txLanded });
    escrow.broadcast(txLanded, item(landed));
    escrow.mine();
    escrow.broadcast(txWaiting, item(waiting)); // stays in the mempool
    // The worker "crashed": its rows are in flight. `lost` and `unsent` never reached the chain.
    const rowsBefore = await listSettlements(ctx.ledger, { batchId: batch!.batchId });
    const waitingRow = rowsBefore.find((r) => r.sessionId === waiting?.sessionId);
    // Give the waiting one its own hash, as a worker that sent it separately would have.
    await ctx.ledger.query('update settlements set tx_hash = $2 where id = $1', [waitingRow!.settlementId, txWaiting]);

    const recent = await reconcileSettlements(ctx.ledger, {
      readClaimedWei: escrow.readClaimedWei,
      isTxPending: escrow.isTxPending,
      feeSplit: TEST_FEE_SPLIT,
      olderThanSec: 3600,
    });
    assert.deepEqual(recent, { confirmed: 0, requeued: 0, stillInFlight: 0, settledWei: 0n, mismatches: [] });

    const result = await reconcileSettlements(ctx.ledger, {
      readClaimedWei: escrow.readClaimedWei,
      isTxPending: escrow.isTxPending,
      feeSplit: TEST_FEE_SPLIT,
    });
    assert.deepEqual(result, { confirmed: 1, requeued: 2, stillInFlight: 1, settledWei: 55n, mismatches: [] });
    const state = async (s: Session | undefined) =>
      (await listSettlements(ctx.ledger, { sessionId: s!.sessionId }))[0]?.state;
    assert.equal(await state(landed), 'confirmed');
    assert.equal(await state(lost), 'pending');
    assert.equal(await state(unsent), 'pending');
    assert.equal(await state(waiting), 'sent');
    assert.equal(
      (await journalTotals(ctx.ledger, landed!.providerAddress))['provider_earning:credit'],
      escrow.paid(landed!.providerAddress),
    );
    // Reconciling again changes nothing; once the waiting transaction is mined it is confirmed.
    const twice = await reconcileSettlements(ctx.ledger, {
      readClaimedWei: escrow.readClaimedWei,
      isTxPending: escrow.isTxPending,
      feeSplit: TEST_FEE_SPLIT,
    });
    assert.deepEqual(twice, { confirmed: 0, requeued: 0, stillInFlight: 1, settledWei: 0n, mismatches: [] });
    escrow.mine();
    const mined = await reconcileSettlements(ctx.ledger, {
      readClaimedWei: escrow.readClaimedWei,
      isTxPending: escrow.isTxPending,
      feeSplit: TEST_FEE_SPLIT,
    });
    assert.equal(mined.confirmed, 1);
    assert.equal(await state(waiting), 'confirmed');
    assert.ok((await journalBalance(ctx.ledger)).balanced);
  });

  test('reconcileSettlements reports a chain that has claimed less than the ledger settled', async () => {
    const s = await seedSession(ctx.ledger, { priceWeiPerSec: 3n });
    const escrow = new FakeEscrow(TEST_FEE_SPLIT);
    await meterAndEnqueue(ctx.ledger, s.sessionId, 5);
    await workerRound(ctx.ledger, escrow, 'none');
    await meterAndEnqueue(ctx.ledger, s.sessionId, 5);
    await workerRound(ctx.ledger, escrow, 'afterClaim');
    const wrongChain = async (): Promise<bigint> => 0n;
    const result = await reconcileSettlements(ctx.ledger, { readClaimedWei: wrongChain, feeSplit: TEST_FEE_SPLIT });
    assert.deepEqual(result.mismatches, [{ sessionId: s.sessionId, claimedWei: 0n, settledWei: 15n }]);
    assert.equal(result.requeued, 1);
    const negative = async (): Promise<bigint> => -1n;
    await workerRound(ctx.ledger, escrow, 'afterClaim');
    await assert.rejects(
      reconcileSettlements(ctx.ledger, { readClaimedWei: negative, feeSplit: TEST_FEE_SPLIT }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
  });

  test('a worker crashing anywhere loses and doubles nothing, and the books match the chain to the wei (random schedules)', async () => {
    const step = fc.record({
      session: fc.nat(3),
      seconds: fc.integer({ min: 0, max: 5 }),
      crash: fc.constantFrom<CrashPoint>('none', 'none', 'afterClaim', 'afterSent', 'afterBroadcast', 'afterMined'),
      mineBeforeRestart: fc.boolean(),
      dropBeforeRestart: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 20 }), async (steps) => {
        await resetLedger(ctx.ledger);
        const escrow = new FakeEscrow(TEST_FEE_SPLIT);
        const provider = randomAddress();
        const sessions = await Promise.all(
          [7n, 13n, 1_000_000_007n, 3n].map((price) => seedSession(ctx.ledger, { priceWeiPerSec: price, provider })),
        );
        const pendingTx = new Set<Hex>();
        for (const { session, seconds, crash, mineBeforeRestart, dropBeforeRestart } of steps) {
          await meterAndEnqueue(ctx.ledger, sessions[session]!.sessionId, seconds);
          await workerRound(ctx.ledger, escrow, crash);
          if (crash === 'none') continue;
          for (const row of await listSettlements(ctx.ledger, { state: 'sent' }))
            if (row.txHash) pendingTx.add(row.txHash);
          // The process is gone. Its transaction may still land, or be dropped, before the restart.
          if (dropBeforeRestart) for (const hash of pendingTx) escrow.drop(hash);
          if (mineBeforeRestart) escrow.mine();
          await reconcileSettlements(ctx.ledger, {
            readClaimedWei: escrow.readClaimedWei,
            isTxPending: escrow.isTxPending,
            feeSplit: TEST_FEE_SPLIT,
          });
        }
        await drain(ctx.ledger, escrow, true);
        for (const s of sessions) {
          const now = await getSession(ctx.ledger, s.sessionId);
          assert.equal(now?.settledWei, now?.cumulativeWei, 'every voucher settled (no loss)');
          assert.equal(escrow.claimedWei.get(s.sessionId) ?? 0n, now?.settledWei, 'ledger = chain (no double)');
        }
        assert.equal(
          (await providerEarnings(ctx.ledger, { providerAddress: provider })).earnedWei,
          escrow.paid(provider),
        );
        assert.equal(
          (await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.checkerPool))['checker_pool:credit'] ?? 0n,
          escrow.paid('checker-pool'),
        );
        assert.equal(
          (await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.treasury))['treasury:credit'] ?? 0n,
          escrow.paid('treasury'),
        );
        const unsettled = await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.unsettled);
        assert.equal(unsettled['charge:credit'] ?? 0n, unsettled['settlement:debit'] ?? 0n);
        assert.ok((await journalBalance(ctx.ledger)).balanced);
        assert.deepEqual(await listSettlements(ctx.ledger, { state: 'sending' }), []);
        assert.deepEqual(await listSettlements(ctx.ledger, { state: 'sent' }), []);
        assert.deepEqual(await listSettlements(ctx.ledger, { state: 'pending' }), []);
      }),
      { numRuns: 12 },
    );
  });

  test('without mempool knowledge a crash still loses and doubles nothing (the split may then round per redeem differently)', async () => {
    const escrow = new FakeEscrow(TEST_FEE_SPLIT);
    const provider = randomAddress();
    const s = await seedSession(ctx.ledger, { priceWeiPerSec: 7n, provider });
    await meterAndEnqueue(ctx.ledger, s.sessionId, 5);
    await workerRound(ctx.ledger, escrow, 'afterBroadcast'); // tx1 (35 wei) waits in the mempool; worker dies
    await reconcileSettlements(ctx.ledger, { readClaimedWei: escrow.readClaimedWei, feeSplit: TEST_FEE_SPLIT });
    await meterAndEnqueue(ctx.ledger, s.sessionId, 3); // the re-send carries 56 wei
    await drain(ctx.ledger, escrow, false); // tx1 lands first (35), then the re-send (56 − 35)
    const now = await getSession(ctx.ledger, s.sessionId);
    assert.equal(now?.settledWei, 56n);
    assert.equal(escrow.claimedWei.get(s.sessionId), 56n);
    const earned = (await providerEarnings(ctx.ledger, { providerAddress: provider })).earnedWei;
    const total =
      earned +
      ((await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.checkerPool))['checker_pool:credit'] ?? 0n) +
      ((await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.treasury))['treasury:credit'] ?? 0n);
    assert.equal(total, 56n);
    assert.ok(earned - escrow.paid(provider) <= 1n && escrow.paid(provider) - earned <= 1n);
  });

  if (ctx.driver === 'pg') {
    test('concurrent claimers on a server never claim the same row, while ticks and vouchers keep arriving', async () => {
      const server = ctx.server;
      assert.ok(server);
      const workers = await Promise.all(
        [1, 2, 3, 4].map(() => openLedger({ databaseUrl: server.url, maxConnections: 3 })),
      );
      try {
        const escrow = new FakeEscrow(TEST_FEE_SPLIT);
        const sessions: Session[] = [];
        for (let i = 0; i < 120; i++) {
          const s = await seedSession(ctx.ledger, { priceWeiPerSec: BigInt(1 + (i % 17)) });
          await meterAndEnqueue(ctx.ledger, s.sessionId, 5);
          sessions.push(s);
        }
        const holder = new Map<bigint, number>();
        const claims = new Map<bigint, number>();
        let violations = 0;
        let producing = true;
        const producer = (async () => {
          for (let i = 0; i < 150; i++) {
            const s = sessions[(i * 37) % sessions.length]!;
            await meterAndEnqueue(ctx.ledger, s.sessionId, 1 + (i % 5));
          }
          producing = false;
        })();
        const worker = async (db: Ledger, n: number): Promise<void> => {
          for (let idle = 0; idle < 3; ) {
            const batch = await claimSettlementBatch(db, { workerId: `w${n}`, limit: 7 });
            if (batch === undefined) {
              if (!producing) idle += 1;
              await new Promise((resolve) => setTimeout(resolve, 5));
              continue;
            }
            idle = 0;
            for (const item of batch.items) {
              if (holder.has(item.settlementId)) violations += 1;
              holder.set(item.settlementId, n);
              claims.set(item.settlementId, (claims.get(item.settlementId) ?? 0) + 1);
            }
            const txHash = randomBytes32();
            await markBatchSent(db, { batchId: batch.batchId, txHash });
            for (const item of batch.items) holder.delete(item.settlementId);
            // Some batches revert while vouchers keep coming; once they stop, every batch lands (a revert then,
            // with retries unbounded, could requeue the same last three rows forever).
            if (producing && batch.items.length % 3 === 0) {
              await markBatchFailed(db, { batchId: batch.batchId, error: 'simulated revert', retry: true });
              continue;
            }
            escrow.broadcast(txHash, batch.items);
            escrow.mine();
            await markBatchConfirmed(db, { batchId: batch.batchId, feeSplit: TEST_FEE_SPLIT, txHash });
          }
        };
        await Promise.all([producer, ...workers.map((db, n) => worker(db, n))]);
        await drain(ctx.ledger, escrow, true);
        assert.equal(violations, 0);
        assert.ok(claims.size > 120);
        for (const s of sessions) {
          const now = await getSession(ctx.ledger, s.sessionId);
          assert.equal(now?.settledWei, now?.cumulativeWei);
          assert.equal(escrow.claimedWei.get(s.sessionId), now?.settledWei);
        }
        assert.ok((await journalBalance(ctx.ledger)).balanced);
      } finally {
        await Promise.all(workers.map((db) => db.close()));
      }
    });
  }
});

/** A real restart: the ledger is closed with a batch in flight and opened again from disk / the server. */
describe('outbox across a real reopen', () => {
  let server: StartTestPostgresReturnType;
  const dir = mkdtempSync(join(tmpdir(), 'ath-ledger-crash-'));
  before(async () => {
    server = await startTestPostgres();
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const driver of ['pglite', 'pg'] as const) {
    test(`claim, mark sent, crash, reopen, reconcile: no loss, no double [${driver}]`, async () => {
      const target =
        driver === 'pglite' ? { dataDir: join(dir, 'ledger') } : { databaseUrl: await server.createDatabase() };
      const escrow = new FakeEscrow(TEST_FEE_SPLIT);
      let ledger = await openLedger(target);
      const landed = await seedSession(ledger, { priceWeiPerSec: 9n });
      const neverSent = await seedSession(ledger, { priceWeiPerSec: 9n });
      await meterAndEnqueue(ledger, landed.sessionId, 5);
      await meterAndEnqueue(ledger, neverSent.sessionId, 4);
      const batch = await claimSettlementBatch(ledger, { workerId: 'before-crash' });
      assert.equal(batch?.items.length, 2);
      const txHash = randomBytes32();
      await markBatchSent(ledger, { batchId: batch!.batchId, txHash });
      // Only `landed` made it into the transaction that was broadcast and mined; then the process died.
      escrow.broadcast(
        txHash,
        batch!.items.filter((i) => i.auth.sessionId === landed.sessionId),
      );
      escrow.mine();
      await ledger.close();

      ledger = await openLedger(target);
      try {
        const result = await reconcileSettlements(ledger, {
          readClaimedWei: escrow.readClaimedWei,
          isTxPending: escrow.isTxPending,
          feeSplit: TEST_FEE_SPLIT,
        });
        assert.deepEqual(result, { confirmed: 1, requeued: 1, stillInFlight: 0, settledWei: 45n, mismatches: [] });
        await drain(ledger, escrow, true);
        assert.equal(escrow.redeemCount, 2);
        for (const s of [landed, neverSent]) {
          const now = await getSession(ledger, s.sessionId);
          assert.equal(now?.settledWei, now?.cumulativeWei);
          assert.equal(escrow.claimedWei.get(s.sessionId), now?.settledWei);
          assert.equal(
            (await journalTotals(ledger, s.providerAddress))['provider_earning:credit'],
            escrow.paid(s.providerAddress),
          );
        }
        assert.ok((await journalBalance(ledger)).balanced);
      } finally {
        await ledger.close();
      }
    });
  }
});
