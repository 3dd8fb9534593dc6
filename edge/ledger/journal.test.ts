import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import fc from 'fast-check';
import { applyBps, isAthError } from '../../signaling/protocol/index.js';
import {
  journalBalance,
  journalTotals,
  postJournalEntries,
  SYSTEM_ACCOUNTS,
  settlementPostings,
  splitFee,
} from './journal.js';
import {
  claimSettlementBatch,
  enqueueSettlement,
  markBatchConfirmed,
  markBatchFailed,
  markBatchSent,
  reconcileSettlements,
} from './outbox.js';
import { getSession, type Session } from './sessions.js';
import { markSlashConfirmed, recordSlash } from './slashes.js';
import { describeLedger } from './testing/describeLedger.js';
import { FakeEscrow } from './testing/FakeEscrow.js';
import { fakeSignature, randomAddress, randomBytes32, seedSession, TEST_FEE_SPLIT } from './testing/fixtures.js';
import { resetLedger } from './testing/resetLedger.js';
import { recordUsageTick } from './usageTicks.js';
import { recordVoucher } from './vouchers.js';

test('splitFee is the contract arithmetic: floor, checker pool out of the fee, remainder to the treasury', () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: (1n << 200n) - 1n }),
      fc.bigInt({ min: 0n, max: 10_000n }),
      fc.bigInt({ min: 0n, max: 10_000n }),
      (amountWei, feeBps, checkerShareBps) => {
        const split = splitFee(amountWei, { feeBps, checkerShareBps });
        assert.equal(split.feeWei, applyBps(amountWei, feeBps));
        assert.equal(split.feeWei, (amountWei * feeBps) / 10_000n);
        assert.equal(split.checkerPoolWei, (split.feeWei * checkerShareBps) / 10_000n);
        assert.equal(split.providerWei + split.checkerPoolWei + split.treasuryWei, amountWei);
        assert.ok(split.treasuryWei >= 0n && split.providerWei >= 0n);
        const postings = settlementPostings(randomAddress(), amountWei, { feeBps, checkerShareBps });
        const debits = postings.filter((p) => p.side === 'debit').reduce((sum, p) => sum + p.amountWei, 0n);
        const credits = postings.filter((p) => p.side === 'credit').reduce((sum, p) => sum + p.amountWei, 0n);
        assert.equal(debits, credits);
      },
    ),
  );
  assert.throws(
    () => splitFee(1n, { feeBps: -1n, checkerShareBps: 0n }),
    (e) => isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
  );
});

describeLedger('journal', (ctx) => {
  beforeEach(() => resetLedger(ctx.ledger));

  test('the database refuses an unbalanced entry at commit, and any update or delete', async () => {
    const account = randomAddress();
    await assert.rejects(
      postJournalEntries(ctx.ledger, [
        {
          entryKey: 'test:unbalanced',
          postings: [
            { account, kind: 'charge', side: 'debit', amountWei: 10n },
            { account: SYSTEM_ACCOUNTS.unsettled, kind: 'charge', side: 'credit', amountWei: 9n },
          ],
        },
      ]),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_QUERY') && /unbalanced/.test(e.message),
    );
    assert.equal((await journalBalance(ctx.ledger)).postingCount, 0);
    await postJournalEntries(ctx.ledger, [
      {
        entryKey: 'test:balanced',
        postings: [
          { account, kind: 'charge', side: 'debit', amountWei: 10n },
          { account: SYSTEM_ACCOUNTS.unsettled, kind: 'charge', side: 'credit', amountWei: 10n },
          { account: SYSTEM_ACCOUNTS.treasury, kind: 'treasury', side: 'credit', amountWei: 0n }, // skipped
        ],
      },
    ]);
    // Posting the same entry again is a no-op.
    await postJournalEntries(ctx.ledger, [
      {
        entryKey: 'test:balanced',
        postings: [
          { account, kind: 'charge', side: 'debit', amountWei: 10n },
          { account: SYSTEM_ACCOUNTS.unsettled, kind: 'charge', side: 'credit', amountWei: 10n },
        ],
      },
    ]);
    const balance = await journalBalance(ctx.ledger);
    assert.deepEqual(balance, {
      debitsWei: 10n,
      creditsWei: 10n,
      balanced: true,
      postingCount: 2,
      unbalancedEntryKeys: [],
    });
    await assert.rejects(ctx.ledger.query('update journal set amount_wei = 11'), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_QUERY'),
    );
    await assert.rejects(ctx.ledger.query('delete from journal'), (e) => isAthError(e, 'ATH_ERR_LEDGER_QUERY'));
    await assert.rejects(
      postJournalEntries(ctx.ledger, [
        { entryKey: 'test:negative', postings: [{ account, kind: 'charge', side: 'debit', amountWei: -1n }] },
      ]),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
  });

  test('journalTotals sums per kind and side for one account', async () => {
    const s = await seedSession(ctx.ledger, { priceWeiPerSec: 3n });
    await recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 0, deliveredSec: 5 });
    await recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 1, deliveredSec: 2 });
    assert.deepEqual(await journalTotals(ctx.ledger, s.payerAddress), { 'charge:debit': 21n });
    assert.deepEqual(await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.unsettled), { 'charge:credit': 21n });
    assert.deepEqual(await journalTotals(ctx.ledger, randomAddress()), {});
  });

  test('Σ debits = Σ credits to the wei over random session histories (ticks, retries, settlements, crashes, slashes)', async () => {
    const command = fc.oneof(
      fc.record({ kind: fc.constant('tick' as const), session: fc.nat(2), seconds: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ kind: fc.constant('retryTick' as const), session: fc.nat(2) }),
      fc.record({ kind: fc.constant('voucher' as const), session: fc.nat(2) }),
      fc.record({
        kind: fc.constant('settle' as const),
        outcome: fc.constantFrom('confirm', 'revert', 'crashAfterSent', 'crashAfterMined'),
      }),
      fc.record({
        kind: fc.constant('slash' as const),
        amountWei: fc.bigInt({ min: 1n, max: 10n ** 24n }),
        takenPpm: fc.integer({ min: 0, max: 1_000_000 }),
        confirm: fc.boolean(),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.bigInt({ min: 1n, max: 10n ** 18n }), { minLength: 3, maxLength: 3 }),
        fc.array(command, { minLength: 1, maxLength: 30 }),
        async (prices, commands) => {
          await resetLedger(ctx.ledger);
          const escrow = new FakeEscrow(TEST_FEE_SPLIT);
          const sessions: Session[] = [];
          for (const price of prices)
            sessions.push(await seedSession(ctx.ledger, { priceWeiPerSec: price, maxWei: 1n << 255n }));
          const nextTick = [0, 0, 0];
          let slashedWei = 0n;
          for (const c of commands) {
            if (c.kind === 'tick') {
              const id = sessions[c.session]!.sessionId;
              await recordUsageTick(ctx.ledger, {
                sessionId: id,
                tickIndex: nextTick[c.session]!,
                deliveredSec: c.seconds,
              });
              nextTick[c.session]! += 1;
            } else if (c.kind === 'retryTick') {
              const index = nextTick[c.session]! - 1;
              const id = sessions[c.session]!.sessionId;
              if (index < 0) continue;
              const { rows } = await ctx.ledger.query(
                'select delivered_sec as d from usage_ticks where session_id = $1 and tick_index = $2',
                [id, index],
              );
              const retried = await recordUsageTick(ctx.ledger, {
                sessionId: id,
                tickIndex: index,
                deliveredSec: (rows[0] as { d: number }).d,
              });
              assert.equal(retried.inserted, false);
            } else if (c.kind === 'voucher') {
              const now = await getSession(ctx.ledger, sessions[c.session]!.sessionId);
              if (now === undefined || now.cumulativeWei === 0n) continue;
              await recordVoucher(ctx.ledger, {
                usage: {
                  sessionId: now.sessionId,
                  cumulativeAmount: now.cumulativeWei,
                  deliveredSeconds: BigInt(now.deliveredSec),
                },
                meterAddress: randomAddress(),
                signature: fakeSignature(),
              });
              await enqueueSettlement(ctx.ledger, { sessionId: now.sessionId });
            } else if (c.kind === 'settle') {
              await reconcileSettlements(ctx.ledger, {
                readClaimedWei: escrow.readClaimedWei,
                isTxPending: escrow.isTxPending,
                feeSplit: TEST_FEE_SPLIT,
              });
              const batch = await claimSettlementBatch(ctx.ledger, { workerId: 'p' });
              if (batch === undefined) continue;
              const txHash = randomBytes32();
              await markBatchSent(ctx.ledger, { batchId: batch.batchId, txHash });
              if (c.outcome === 'revert') {
                await markBatchFailed(ctx.ledger, { batchId: batch.batchId, error: 'reverted', retry: true });
                continue;
              }
              if (c.outcome === 'crashAfterSent') continue;
              escrow.broadcast(txHash, batch.items);
              escrow.mine();
              if (c.outcome === 'crashAfterMined') continue;
              await markBatchConfirmed(ctx.ledger, { batchId: batch.batchId, feeSplit: TEST_FEE_SPLIT, txHash });
            } else {
              const evidenceHash = randomBytes32();
              await recordSlash(ctx.ledger, {
                operatorAddress: sessions[0]!.providerAddress,
                amountWei: c.amountWei,
                evidenceHash,
                evidence: { reports: [] },
                reason: 'test',
              });
              if (c.confirm) {
                const taken = (c.amountWei * BigInt(c.takenPpm)) / 1_000_000n;
                await markSlashConfirmed(ctx.ledger, { evidenceHash, txHash: randomBytes32(), slashedWei: taken });
                slashedWei += taken;
              }
            }
          }
          const balance = await journalBalance(ctx.ledger);
          assert.equal(balance.debitsWei, balance.creditsWei);
          assert.ok(balance.balanced, `unbalanced: ${balance.unbalancedEntryKeys.join(', ')}`);
          // The books also agree with the sessions and the chain.
          let charged = 0n;
          let settled = 0n;
          for (const s of sessions) {
            const now = await getSession(ctx.ledger, s.sessionId);
            charged += now?.cumulativeWei ?? 0n;
            settled += now?.settledWei ?? 0n;
          }
          const unsettled = await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.unsettled);
          assert.equal(unsettled['charge:credit'] ?? 0n, charged);
          assert.equal(unsettled['settlement:debit'] ?? 0n, settled);
          assert.equal((await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.treasury))['slash:credit'] ?? 0n, slashedWei);
          assert.ok(settled <= [...escrow.claimedWei.values()].reduce((a, b) => a + b, 0n));
        },
      ),
      { numRuns: 15 },
    );
  });
});
