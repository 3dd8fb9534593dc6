/**
 * Settlement under faults, on real parts (anvil with the contracts; PGlite and a real PostgreSQL server):
 * the chain's RPC down for ten minutes (anvil stopped, then restarted with its state), a receipt that does not
 * come in time, an item whose redeem reverts, and two settlers sharing one ledger and one meter key. The
 * worker's clock is the test's, so ten minutes of backoff take no ten minutes. After each: every charge
 * settled once, the ledger equals the chain, and the escrow holds exactly what it owes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { type Address, encodeAbiParameters, type Hex, keccak256 } from 'viem';
import { createMetrics, type Metrics, SIGNALING_METRICS, type SignalingMetricKey } from '../../metrics/index.js';
import { sessionEscrowAbi } from '../chain/index.js';
import { assertEscrowConserved } from '../chain/testing/escrowConservation.js';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import { type Ledger, listSettlements, openLedger } from '../ledger/index.js';
import { type StartTestPostgresReturnType, startTestPostgres } from '../ledger/testing/startTestPostgres.js';
import type { VoucherSigner } from '../metering/index.js';
import {
  anvilRpc,
  assertLedgerMatchesChain,
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
const providersSeen: Address[] = [];

before(async () => {
  chain = await startTestChain({ restartable: true });
  signer = meterSigner(chain);
});
after(async () => {
  await chain?.close();
});

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
  providersSeen.push(...providers);
  const sessionIds: Hex[] = [];
  for (let i = 0; i < sessions; i += 1) {
    const sessionId = await openSession(chain, ledger, {
      payer: payers[i % 2] as Payer,
      provider: providers[(i >> 1) % 2] as Address,
      priceWeiPerSec: PRICE + BigInt(i),
      maxWei: MAX,
    });
    await meterTick(ledger, signer, chain.meter.address, { sessionId, tickIndex: 0, deliveredSec: 5 + i });
    sessionIds.push(sessionId);
  }
  return { sessionIds, providers, payers, systemBefore };
}

/** What an operator's alerts read: settlement retries by reason, and the oldest unsettled charge's age. */
async function alerts(
  metrics: Metrics<SignalingMetricKey>,
): Promise<{ retries: Record<string, number>; oldestSec: number }> {
  const retries: Record<string, number> = {};
  for (const v of (await metrics.metric.settlementRetries.get()).values) {
    retries[String(v.labels['reason'])] = v.value;
  }
  const oldest = (await metrics.metric.settlementOldestUnsettledSeconds.get()).values[0]?.value ?? 0;
  return { retries, oldestSec: oldest };
}

async function states(ledger: Ledger): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const row of await listSettlements(ledger)) counts[row.state] = (counts[row.state] ?? 0) + 1;
  return counts;
}

/** Everything agrees: each charge settled once, ledger = chain, escrow holds what it owes. */
async function assertBooksExact(ledger: Ledger, book: Book): Promise<void> {
  assertSettledExactly(await moneyView(chain, ledger, book));
  await assertLedgerMatchesChain(chain, ledger);
  await assertEscrowConserved(chain, providersSeen);
}

function readAccount(payer: Address): Promise<readonly [bigint, bigint]> {
  return chain.publicClient.readContract({
    address: chain.escrowAddress,
    abi: sessionEscrowAbi,
    functionName: 'accounts',
    args: [payer],
  });
}

/**
 * Overwrites `accounts[payer]` in the escrow's storage (a fault injected into the chain's state, as a bug would
 * leave it). The slot is found by reading: the layout is the compiler's.
 */
async function writeAccount(payer: Address, balance: bigint, reserved: bigint): Promise<void> {
  const [nowBalance, nowReserved] = await readAccount(payer);
  const packed = (nowReserved << 128n) | nowBalance;
  for (let index = 0n; index < 32n; index += 1n) {
    const slot = keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [payer, index]));
    const value = await chain.publicClient.getStorageAt({ address: chain.escrowAddress, slot });
    if (value === undefined || BigInt(value) !== packed) continue;
    await anvilRpc(chain, 'anvil_setStorageAt', [
      chain.escrowAddress,
      slot,
      `0x${((reserved << 128n) | balance).toString(16).padStart(64, '0')}`,
    ]);
    return;
  }
  throw new Error('accounts slot not found');
}

describe('settlement under faults', () => {
  test('ten minutes without the chain RPC: every charge settles after recovery, once, and none is failed for good', async () => {
    const ledger = await openLedger({});
    let clock = Date.now();
    const metrics = createMetrics({ keys: SIGNALING_METRICS });
    const worker = settlementWorker(chain, ledger, { batchSize: 2, now: () => clock, metrics });
    try {
      const book = await chargedSessions(ledger, 4);
      await chain.stop();
      // Ten minutes of the worker's timer (a pass every 15 s) against a dead RPC, charges still coming in.
      for (let elapsed = 0; elapsed < 600_000; elapsed += 15_000) {
        clock += 15_000;
        await worker.runSoon().catch(() => undefined);
        if (elapsed === 300_000) {
          await meterTick(ledger, signer, chain.meter.address, {
            sessionId: book.sessionIds[0] as Hex,
            tickIndex: 1,
            deliveredSec: 9,
          });
        }
      }
      const during = await states(ledger);
      assert.equal(during.failed ?? 0, 0, `nothing is failed for good during the outage: ${JSON.stringify(during)}`);
      const alarm = await alerts(metrics);
      assert.ok((alarm.retries['rpc'] ?? 0) > 0, `each failed pass counts as a retry: ${JSON.stringify(alarm)}`);
      assert.ok(alarm.oldestSec >= 590, `the oldest-unsettled gauge an operator alerts on: ${alarm.oldestSec} s`);
      await chain.restart();
      clock += 120_000;
      for (let pass = 0; pass < 5; pass += 1) {
        clock += 60_000;
        await worker.runSoon();
      }
      const afterwards = await states(ledger);
      assert.equal(
        (afterwards.pending ?? 0) + (afterwards.sent ?? 0) + (afterwards.sending ?? 0),
        0,
        JSON.stringify(afterwards),
      );
      assert.equal(afterwards.failed ?? 0, 0);
      assert.equal((await alerts(metrics)).oldestSec, 0, 'the gauge falls back once everything settled');
      await assertBooksExact(ledger, book);
    } finally {
      await chain.restart();
      await worker.close();
      await ledger.close();
    }
  });

  test('a receipt that does not come in time is reconciled by a later pass, without a restart', async () => {
    const ledger = await openLedger({});
    let clock = Date.now();
    const worker = settlementWorker(chain, ledger, { now: () => clock, receiptTimeoutMs: 300 });
    try {
      const book = await chargedSessions(ledger, 3);
      await anvilRpc(chain, 'evm_setAutomine', [false]);
      await worker.runSoon().catch(() => undefined);
      assert.equal((await states(ledger)).sent, 3, 'the batch is broadcast and recorded as sent');
      await anvilRpc(chain, 'evm_setAutomine', [true]);
      await anvilRpc(chain, 'evm_mine');
      clock += 5 * 60_000;
      await worker.runSoon();
      const afterwards = await states(ledger);
      assert.equal(afterwards.sent ?? 0, 0, `reconciled: ${JSON.stringify(afterwards)}`);
      await assertBooksExact(ledger, book);
    } finally {
      await anvilRpc(chain, 'evm_setAutomine', [true]);
      await worker.close();
      await ledger.close();
    }
  });

  for (const reached of [true, false]) {
    test(`a broadcast error (the transaction ${reached ? 'reached the node, the answer was lost' : 'never left'}) is reconciled by the next pass, without a restart: settled once`, async () => {
      const ledger = await openLedger({});
      let clock = Date.now();
      let failBroadcasts = 1;
      let broadcasts = 0;
      const flaky = {
        ...chain.publicClient,
        sendRawTransaction: async (args: Parameters<typeof chain.publicClient.sendRawTransaction>[0]) => {
          broadcasts += 1;
          if (failBroadcasts === 0) return chain.publicClient.sendRawTransaction(args);
          failBroadcasts -= 1;
          if (reached) await chain.publicClient.sendRawTransaction(args);
          throw new Error('socket hang up');
        },
      } as typeof chain.publicClient;
      const worker = settlementWorker(chain, ledger, { now: () => clock, publicClient: flaky });
      try {
        const book = await chargedSessions(ledger, 3);
        await worker.runSoon();
        assert.equal((await states(ledger)).sent, 3, 'left in flight after the error, not failed, not re-sent blindly');
        clock += 60_000;
        await worker.runSoon();
        const afterwards = await states(ledger);
        assert.deepEqual(afterwards, { confirmed: 3 }, JSON.stringify(afterwards));
        assert.equal(broadcasts, reached ? 1 : 2, reached ? 'found on chain, not sent again' : 'sent again, once');
        await assertBooksExact(ledger, book);
      } finally {
        await worker.close();
        await ledger.close();
      }
    });
  }

  test('an item whose redeem reverts is isolated: the rest of its batch settles, it retries with backoff and is reported', async () => {
    const ledger = await openLedger({});
    let clock = Date.now();
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const metrics = createMetrics({ keys: SIGNALING_METRICS });
    const worker = settlementWorker(chain, ledger, { batchSize: 10, now: () => clock, log, metrics });
    try {
      const book = await chargedSessions(ledger, 4);
      await worker.runSoon();
      // Every session is registered on chain. Now one payer's reserve is corrupted (a fault in the escrow's
      // state, as a bug would leave it): its next redeem underflows and reverts.
      const victim = book.payers[0] as Payer;
      const [balance, reserved] = await readAccount(victim.address);
      await writeAccount(victim.address, balance, 0n);
      for (const [i, sessionId] of book.sessionIds.entries()) {
        await meterTick(ledger, signer, chain.meter.address, { sessionId, tickIndex: 1, deliveredSec: 3 + i });
      }
      await worker.runSoon().catch(() => undefined);
      const rows = await listSettlements(ledger);
      const victimSessions = new Set(book.sessionIds.filter((_, i) => i % 2 === 0));
      for (const sessionId of book.sessionIds) {
        const latest = rows.filter((row) => row.sessionId === sessionId).at(-1);
        if (victimSessions.has(sessionId)) {
          assert.equal(latest?.state, 'pending', 'the reverting item waits for a retry');
        } else {
          assert.equal(latest?.state, 'confirmed', 'the other payer’s items settled despite the reverting ones');
        }
      }
      assert.ok(
        lines.some((line) => /"level":(40|50)/.test(line) && /revert/i.test(line)),
        'an operator sees a warning or error naming the revert',
      );
      assert.ok(((await alerts(metrics)).retries['revert'] ?? 0) >= 2, 'and a retry metric by reason');
      // Backoff: an immediate pass does not try the reverting items again.
      const before = rows.filter((row) => victimSessions.has(row.sessionId)).map((row) => row.attempts);
      await worker.runSoon();
      const again = (await listSettlements(ledger)).filter((row) => victimSessions.has(row.sessionId));
      assert.deepEqual(
        again.map((row) => row.attempts),
        before,
      );
      // The fault is repaired (reserve restored); after the backoff the items settle.
      await writeAccount(victim.address, (await readAccount(victim.address))[0], reserved);
      clock += 3_600_000;
      await worker.runSoon();
      await assertBooksExact(ledger, book);
    } finally {
      await worker.close();
      await ledger.close();
    }
  });
});

describe('several settlers on one ledger (PostgreSQL) and one meter key', () => {
  let server: StartTestPostgresReturnType;
  before(async () => {
    server = await startTestPostgres();
  });
  after(async () => {
    await server?.close();
  });

  test('one leader sends (no nonce race); when it dies another takes over and settles the rest', async () => {
    const url = await server.createDatabase();
    const ledgers = [await openLedger({ databaseUrl: url }), await openLedger({ databaseUrl: url })];
    const [first, second] = ledgers as [Ledger, Ledger];
    const workers = [
      settlementWorker(chain, first, { batchSize: 2, workerId: 'settler-a', leaseTtlMs: 1_500 }),
      settlementWorker(chain, second, { batchSize: 2, workerId: 'settler-b', leaseTtlMs: 1_500 }),
    ];
    const [a, b] = workers as [(typeof workers)[0], (typeof workers)[0]];
    try {
      const book = await chargedSessions(first, 6);
      const outcomes = await Promise.allSettled([a.runSoon(), b.runSoon(), a.runSoon(), b.runSoon()]);
      assert.deepEqual(
        outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason)),
        [],
        'no pass failed (no two transactions with one nonce)',
      );
      const { rows } = await first.query(
        `select distinct b.claimed_by from settlement_batches b join settlements s on s.batch_id = b.id`,
      );
      assert.equal(rows.length, 1, `one settler sent every batch: ${JSON.stringify(rows)}`);
      assert.deepEqual(await states(first), { confirmed: 6 });
      // The leader's process dies without a word: no lease release, no more passes, its connection gone.
      const leaderId = (rows[0] as { claimed_by: string }).claimed_by;
      const [follower, ledger] = leaderId === 'settler-a' ? [b, second] : [a, first];
      await (leaderId === 'settler-a' ? first : second).close();
      for (const [i, sessionId] of book.sessionIds.entries()) {
        await meterTick(ledger, signer, chain.meter.address, { sessionId, tickIndex: 1, deliveredSec: 2 + i });
      }
      // Once the dead leader's lease runs out, the follower takes over.
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && ((await states(ledger)).pending ?? 0) > 0) {
        await follower.runSoon();
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.deepEqual(await states(ledger), { confirmed: 12 });
      await assertBooksExact(ledger, book);
    } finally {
      for (const worker of workers) await worker.close();
      for (const ledger of ledgers) await ledger.close();
    }
  });
});
