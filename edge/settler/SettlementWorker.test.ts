/**
 * Crash safety of the settlement worker on real parts: anvil with the contracts, a PGlite ledger on disk.
 * A worker dies right after broadcasting a batch — before its receipt is recorded — and a fresh worker
 * opens the same ledger files: nothing charged is lost, nothing is paid or journaled twice, and the chain's
 * balances equal the ledger's to the wei.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Address, Hex } from 'viem';
import { sessionEscrowAbi } from '../chain/index.js';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import { endSession, type Ledger, listSettlements, openLedger } from '../ledger/index.js';
import type { VoucherSigner } from '../metering/index.js';
import {
  anvilRpc,
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

const PRICE = 10n ** 15n;
const MAX = PRICE * 3600n;

let chain: TestChain;
let signer: VoucherSigner;
const dirs: string[] = [];

before(async () => {
  chain = await startTestChain();
  signer = meterSigner(chain);
});
after(async () => {
  await chain?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A PGlite ledger in a directory, so a "restarted process" can open the same files again. */
async function diskLedger(): Promise<{ dir: string; open: () => Promise<Ledger> }> {
  const dir = mkdtempSync(join(tmpdir(), 'ath-settler-'));
  dirs.push(dir);
  return { dir, open: () => openLedger({ dataDir: dir }) };
}

type Book = {
  sessionIds: Hex[];
  providers: Address[];
  payers: Payer[];
  systemBefore: Record<'checker-pool' | 'treasury', bigint>;
};

/** `sessions` sessions over two providers and two payers, each charged once. */
async function chargedSessions(ledger: Ledger, sessions: number): Promise<Book> {
  const systemBefore = await systemEarnings(chain);
  const payers = [await depositedPayer(chain, MAX * 10n), await depositedPayer(chain, MAX * 10n)];
  const providers = [randomProvider(), randomProvider()];
  const sessionIds: Hex[] = [];
  for (let i = 0; i < sessions; i += 1) {
    const payer = payers[i % 2] as Payer;
    const provider = providers[(i >> 1) % 2] as Address;
    const sessionId = await openSession(chain, ledger, {
      payer,
      provider,
      priceWeiPerSec: PRICE + BigInt(i),
      maxWei: MAX,
    });
    await meterTick(ledger, signer, chain.meter.address, { sessionId, tickIndex: 0, deliveredSec: 5 + i });
    sessionIds.push(sessionId);
  }
  return { sessionIds, providers, payers, systemBefore };
}

class Crash extends Error {}

describe('SettlementWorker crash safety', () => {
  test('killed after broadcasting (the transaction mines), a fresh worker reconciles: nothing lost, nothing doubled', async () => {
    const disk = await diskLedger();
    let ledger = await disk.open();
    const book = await chargedSessions(ledger, 5);
    // Batches of 2: the first confirms, the worker dies after broadcasting the second, the third waits.
    let batches = 0;
    const doomed = settlementWorker(chain, ledger, {
      batchSize: 2,
      afterBroadcast: () => {
        batches += 1;
        if (batches === 2) throw new Crash('killed between broadcast and receipt');
      },
    });
    await assert.rejects(doomed.runSoon(), Crash);
    await doomed.close();
    const inFlight = await listSettlements(ledger, { state: 'sent' });
    assert.equal(inFlight.length, 2, 'the second batch is on chain but recorded as sent only');
    // The meter keeps billing one of the in-flight sessions while nobody settles.
    await meterTick(ledger, signer, chain.meter.address, {
      sessionId: inFlight[0]?.sessionId as Hex,
      tickIndex: 1,
      deliveredSec: 7,
    });
    // The process is gone; a new one opens the same ledger files.
    await ledger.close();
    ledger = await disk.open();
    const fresh = settlementWorker(chain, ledger, { batchSize: 2 });
    try {
      await fresh.start(); // reconciles first, then settles
      assert.equal((await listSettlements(ledger, { state: 'sent' })).length, 0);
      await fresh.runSoon();
      assertSettledExactly(await moneyView(chain, ledger, book));
      // Idempotent: more runs and another worker settle nothing twice.
      assert.deepEqual(await fresh.runSoon(), []);
      const again = settlementWorker(chain, ledger);
      await again.start();
      assert.deepEqual(await again.runSoon(), []);
      await again.close();
      assertSettledExactly(await moneyView(chain, ledger, book));
    } finally {
      await fresh.close();
      await ledger.close();
    }
  });

  test('killed after broadcasting a transaction that never mines (dropped), the batch is sent again, once', async () => {
    const disk = await diskLedger();
    let ledger = await disk.open();
    const book = await chargedSessions(ledger, 3);
    await anvilRpc(chain, 'evm_setAutomine', [false]);
    const doomed = settlementWorker(chain, ledger, {
      afterBroadcast: async () => {
        // The node forgets the transaction (a crashed sender's tx can be lost with it), then the worker dies.
        await anvilRpc(chain, 'anvil_dropAllTransactions');
        throw new Crash('killed with the transaction lost');
      },
    });
    try {
      await assert.rejects(doomed.runSoon(), Crash);
    } finally {
      await anvilRpc(chain, 'evm_setAutomine', [true]);
      await doomed.close();
    }
    assert.equal((await listSettlements(ledger, { state: 'sent' })).length, 3);
    await ledger.close();
    ledger = await disk.open();
    const fresh = settlementWorker(chain, ledger);
    try {
      await fresh.reconcile();
      assert.equal((await listSettlements(ledger, { state: 'pending' })).length, 3, 'requeued, not lost');
      const results = await fresh.runSoon();
      assert.equal(results.length, 1);
      assertSettledExactly(await moneyView(chain, ledger, book));
    } finally {
      await fresh.close();
      await ledger.close();
    }
  });

  test('killed while its transaction waits in the mempool, the restart leaves it in flight and confirms it once mined', async () => {
    const disk = await diskLedger();
    let ledger = await disk.open();
    const book = await chargedSessions(ledger, 3);
    await anvilRpc(chain, 'evm_setAutomine', [false]);
    const doomed = settlementWorker(chain, ledger, {
      afterBroadcast: () => {
        throw new Crash('killed before the block');
      },
    });
    await assert.rejects(doomed.runSoon(), Crash);
    await doomed.close();
    await ledger.close();
    ledger = await disk.open();
    const fresh = settlementWorker(chain, ledger);
    try {
      await fresh.reconcile();
      assert.equal((await listSettlements(ledger, { state: 'sent' })).length, 3, 'still pending on chain: left sent');
      assert.deepEqual(await fresh.runSoon(), [], 'nothing is sent twice while the first is pending');
      await anvilRpc(chain, 'evm_setAutomine', [true]);
      await anvilRpc(chain, 'evm_mine');
      await fresh.reconcile();
      assert.equal((await listSettlements(ledger, { state: 'sent' })).length, 0);
      assertSettledExactly(await moneyView(chain, ledger, book));
    } finally {
      await anvilRpc(chain, 'evm_setAutomine', [true]);
      await fresh.close();
      await ledger.close();
    }
  });

  test('killed after broadcasting a session’s last charge, then the session ends: the final voucher still closes it on chain', async () => {
    const disk = await diskLedger();
    let ledger = await disk.open();
    const book = await chargedSessions(ledger, 1);
    const sessionId = book.sessionIds[0] as Hex;
    const doomed = settlementWorker(chain, ledger, {
      afterBroadcast: () => {
        throw new Crash('killed between broadcast and receipt');
      },
    });
    await assert.rejects(doomed.runSoon(), Crash);
    await doomed.close();
    // The player quits meanwhile: the final voucher (same amount) is queued behind the in-flight one.
    await endSession(ledger, { sessionId, reason: 'player-quit' });
    await ledger.close();
    ledger = await disk.open();
    const fresh = settlementWorker(chain, ledger);
    try {
      await fresh.start();
      await fresh.runSoon();
      const closed = await chain.publicClient.readContract({
        address: chain.escrowAddress,
        abi: sessionEscrowAbi,
        functionName: 'closed',
        args: [sessionId],
      });
      assert.equal(closed, true, 'the reserve was released on chain, not only marked so in the ledger');
      assert.deepEqual(
        (await listSettlements(ledger, { sessionId })).map((row) => [row.final, row.state]),
        [
          [false, 'confirmed'],
          [true, 'confirmed'],
        ],
      );
      assertSettledExactly(await moneyView(chain, ledger, book));
    } finally {
      await fresh.close();
      await ledger.close();
    }
  });
});
