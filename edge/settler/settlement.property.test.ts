/**
 * Property: whatever the session history — several payers and providers, random prices and ticks (some
 * delivering nothing), sessions ending early, settlement runs at random moments in random batch sizes — once
 * the real worker has settled everything onto anvil, Σ debits = Σ credits to the wei in the ledger, and on
 * chain providers + checker pool + treasury received exactly what the payers' escrows paid, recipient by
 * recipient equal to the ledger's journal.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import type { Address, Hex } from 'viem';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import { endSession, journalBalance, type Ledger, openLedger } from '../ledger/index.js';
import { resetLedger } from '../ledger/testing/resetLedger.js';
import type { VoucherSigner } from '../metering/index.js';
import {
  assertSettledExactly,
  depositedPayer,
  meterSigner,
  meterTick,
  moneyView,
  openSession,
  type Payer,
  randomProvider,
  settlementWorker,
  systemEarnings,
} from './testing/settlementWorld.js';

const SESSION_SECONDS = 3600n;

const historyArbitrary = fc.record({
  payers: fc.integer({ min: 1, max: 3 }),
  providers: fc.integer({ min: 1, max: 3 }),
  sessions: fc.array(
    fc.record({
      payer: fc.nat({ max: 2 }),
      provider: fc.nat({ max: 2 }),
      // Odd prices, so the fee's floor rounding differs from delta to delta.
      priceWeiPerSec: fc.bigInt({ min: 1n, max: 10n ** 15n }),
      ticks: fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 4 }),
      /** Ends (player quits) after this many ticks, when set. */
      endAfter: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  batchSize: fc.integer({ min: 1, max: 4 }),
  /** A settlement run after every this many rounds of ticks. */
  settleEvery: fc.integer({ min: 1, max: 3 }),
});

let chain: TestChain;
let ledger: Ledger;
let signer: VoucherSigner;

before(async () => {
  chain = await startTestChain();
  ledger = await openLedger({});
  signer = meterSigner(chain);
});
after(async () => {
  await ledger?.close();
  await chain?.close();
});

test('Σ debits = Σ credits to the wei, in the ledger and on chain, over random session histories', async () => {
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(historyArbitrary, async (history) => {
      runs += 1;
      await resetLedger(ledger);
      const systemBefore = await systemEarnings(chain);
      const providers: Address[] = Array.from({ length: history.providers }, randomProvider);
      const owed = new Map<number, bigint>();
      for (const s of history.sessions) {
        const payer = s.payer % history.payers;
        owed.set(payer, (owed.get(payer) ?? 0n) + s.priceWeiPerSec * SESSION_SECONDS);
      }
      const payers: Payer[] = [];
      for (let i = 0; i < history.payers; i += 1) payers.push(await depositedPayer(chain, owed.get(i) ?? 1n));
      const sessions: Array<{ sessionId: Hex; ticks: number[]; endAfter: number | undefined }> = [];
      for (const s of history.sessions) {
        const sessionId = await openSession(chain, ledger, {
          payer: payers[s.payer % history.payers] as Payer,
          provider: providers[s.provider % history.providers] as Address,
          priceWeiPerSec: s.priceWeiPerSec,
          maxWei: s.priceWeiPerSec * SESSION_SECONDS,
        });
        sessions.push({ sessionId, ticks: s.ticks, endAfter: s.endAfter });
      }

      const worker = settlementWorker(chain, ledger, { batchSize: history.batchSize });
      try {
        const rounds = Math.max(...sessions.map((s) => s.ticks.length));
        for (let round = 0; round < rounds; round += 1) {
          for (const s of sessions) {
            const ended = s.endAfter !== undefined && round >= s.endAfter;
            const deliveredSec = s.ticks[round];
            if (ended || deliveredSec === undefined) continue;
            await meterTick(ledger, signer, chain.meter.address, {
              sessionId: s.sessionId,
              tickIndex: round,
              deliveredSec,
            });
            if (s.endAfter === round + 1) await endSession(ledger, { sessionId: s.sessionId, reason: 'player-quit' });
          }
          if ((round + 1) % history.settleEvery === 0) await worker.runSoon();
        }
        await worker.runSoon();
        assert.deepEqual(await worker.runSoon(), [], 'a settled outbox stays settled');
      } finally {
        await worker.close();
      }

      const journal = await journalBalance(ledger);
      assert.equal(journal.debitsWei, journal.creditsWei, 'ledger: Σ debits = Σ credits');
      const view = await moneyView(chain, ledger, {
        sessionIds: sessions.map((s) => s.sessionId),
        providers,
        payers,
        systemBefore,
      });
      // Σ charged (players' debits) = Σ credited, on chain and in the ledger.
      const charged = view.sessions.reduce((sum, s) => sum + s.chargedWei, 0n);
      assert.equal(
        view.credits.reduce((sum, c) => sum + c.ledgerWei, 0n),
        charged,
        'ledger: provider + checker pool + treasury credits = players’ debits',
      );
      assertSettledExactly(view);
    }),
    { numRuns: 10 },
  );
  assert.equal(runs, 10);
});
