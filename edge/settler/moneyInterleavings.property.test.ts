/**
 * Property (issue 12, "Conservation, always"): over random interleavings of authorize / tick / end / settle /
 * withdraw / hostile redeem / RPC outage / settler crash — payers with plain keys and a smart wallet (ERC-1271)
 * — on real parts: anvil with the contracts (stopped and
 * restarted with its state for the outages), a PGlite ledger, the real payment desk (signature rules, dry run,
 * exact reserves), the meter's real voucher signer and the real settlement worker (its clock the test's) —
 *   - at every step the escrow holds exactly what it owes: token balance = Σ payer balances + Σ earnings;
 *   - no hostile redeem ever succeeds;
 *   - once every session has ended and the outbox drained: every charge is settled once, Σ settled in the
 *     ledger = Σ claimed on chain session by session, each recipient's chain earnings = its ledger credits,
 *     every session is closed on chain with nothing left reserved, and the journal balances.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import type { Address, Hex } from 'viem';
import type { HostRecord, SessionRecord } from '../../signaling/index.js';
import { sessionAuthTypes, sessionEscrowDomain } from '../../signaling/protocol/index.js';
import { athTokenAbi, sessionEscrowAbi, testSmartWalletAbi } from '../chain/abis.js';
import { compileContracts } from '../chain/build/compileContracts.js';
import { assertEscrowConserved } from '../chain/testing/escrowConservation.js';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import { paymentDeskOnTestChain } from '../economy/testing/paymentDeskOnTestChain.js';
import {
  endSession,
  getSession,
  journalBalance,
  type Ledger,
  latestVoucher,
  listSettlements,
  openLedger,
  payerCommitmentsWei,
} from '../ledger/index.js';
import { resetLedger } from '../ledger/testing/resetLedger.js';
import type { VoucherSigner } from '../metering/index.js';
import type { SettlementWorker } from './SettlementWorker.js';
import {
  assertLedgerMatchesChain,
  depositedPayer,
  meterSigner,
  meterTick,
  moneyView,
  type Payer,
  randomProvider,
  settlementWorker,
  systemEarnings,
} from './testing/settlementWorld.js';

const PRICE = 10n ** 15n;
/**
 * Runs per `npm test` (bounded: each run is a few anvil round trips, ≈2 s). `ATH_PROPERTY_RUNS=50` searches
 * longer; a failure prints its seed, `ATH_PROPERTY_SEED=<seed>` replays it; `ATH_PROPERTY_SHRINK=1` also shrinks
 * the failing history (slow: every shrink step replays on anvil).
 */
const RUNS = Number(process.env.ATH_PROPERTY_RUNS ?? 6);
const SEED =
  process.env.ATH_PROPERTY_SEED === undefined
    ? Date.now() ^ (Math.random() * 2 ** 31)
    : Number(process.env.ATH_PROPERTY_SEED);
const SHRINK = process.env.ATH_PROPERTY_SHRINK === '1';
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

const Op = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('authorize' as const),
      /** 0 and 1 plain keys; 2 a smart wallet (ERC-1271), its owner's key signing for it. */
      payer: fc.nat({ max: 2 }),
      capSec: fc.integer({ min: 60, max: 1200 }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('tick' as const),
      session: fc.nat({ max: 7 }),
      sec: fc.integer({ min: 0, max: 30 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('end' as const), session: fc.nat({ max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('settle' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('withdraw' as const),
      payer: fc.nat({ max: 1 }),
      permille: fc.integer({ min: 1, max: 1000 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('hostile' as const), session: fc.nat({ max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('outage' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('crash' as const), afterBroadcast: fc.boolean() }) },
);

type Step = typeof Op extends fc.Arbitrary<infer T> ? T : never;

/**
 * A history: random steps, and in each one the three hazards at random places — a hostile redeem, an RPC outage
 * and a settler killed after broadcasting — after a session has been authorized and charged once (so the
 * hazards have money to hit; without it most short histories would exercise nothing).
 */
const History = fc
  .record({
    ops: fc.array(Op, { minLength: 6, maxLength: 14 }),
    hazardAt: fc.array(fc.nat({ max: 14 }), { minLength: 3, maxLength: 3 }),
    hostileSession: fc.nat({ max: 7 }),
  })
  .map(({ ops, hazardAt, hostileSession }): Step[] => {
    const steps: Step[] = [...ops];
    const hazards: Step[] = [
      { op: 'hostile', session: hostileSession },
      { op: 'outage' },
      { op: 'crash', afterBroadcast: true },
    ];
    hazards.forEach((hazard, i) => {
      steps.splice((hazardAt[i] as number) % (steps.length + 1), 0, hazard);
    });
    return [{ op: 'authorize', payer: 0, capSec: 600 }, { op: 'tick', session: 0, sec: 20 }, ...steps];
  });

let chain: TestChain;
let ledger: Ledger;
let signer: VoucherSigner;
const earners: Address[] = [];

before(async () => {
  chain = await startTestChain({ restartable: true, withdrawDelaySec: 0n });
  ledger = await openLedger({});
  signer = meterSigner(chain);
});
after(async () => {
  await ledger?.close();
  await chain?.close();
});

class Crash extends Error {}

/** A payer: the address its escrow account is under, and the key that signs for it (itself, or a wallet's owner). */
type Side = { address: Address; key: Payer };
type Live = { sessionId: Hex; payer: Side; provider: Address; tickIndex: number; ended: boolean };

/** A TestSmartWallet owned by a fresh key, with `depositWei` in the escrow. */
async function smartWalletPayer(depositWei: bigint): Promise<Side> {
  const owner = (await chain.newFundedAccount(depositWei)) as Payer;
  const send = async (request: Parameters<ReturnType<typeof chain.walletFor>['writeContract']>[0]) => {
    const hash = await chain.walletFor(owner).writeContract(request);
    await chain.publicClient.waitForTransactionReceipt({ hash });
  };
  const artifact = compileContracts().TestSmartWallet;
  const deployed = await chain
    .walletFor(owner)
    .deployContract({ abi: artifact.abi, bytecode: artifact.bytecode, args: [owner.address] });
  const address = (await chain.publicClient.waitForTransactionReceipt({ hash: deployed })).contractAddress;
  if (!address) throw new Error('no wallet address');
  await send({
    address: chain.tokenAddress,
    abi: athTokenAbi,
    functionName: 'transfer',
    args: [address, depositWei],
  } as never);
  await send({
    address,
    abi: testSmartWalletAbi,
    functionName: 'approveAndDeposit',
    args: [chain.tokenAddress, chain.escrowAddress, depositWei],
  } as never);
  return { address, key: owner };
}

test('conservation over random interleavings of authorize, tick, end, settle, withdraw, hostile redeem, outage and crash', async (t) => {
  let runs = 0;
  /** What the histories actually exercised (a property that never reaches a hazard proves nothing about it). */
  const seen = {
    authorized: 0,
    walletSessions: 0,
    refused: 0,
    charged: 0,
    ended: 0,
    withdrawals: 0,
    hostileRedeems: 0,
    outages: 0,
    crashesAfterBroadcast: 0,
  };
  t.diagnostic(`seed ${SEED} (replay: ATH_PROPERTY_SEED=${SEED})`);
  try {
    await fc.assert(
      fc.asyncProperty(History, async (ops) => {
        runs += 1;
        await resetLedger(ledger);
        const systemBefore = await systemEarnings(chain);
        let clock = Date.now();
        const desk = paymentDeskOnTestChain({ chain, ledger, log });
        const plain = [await depositedPayer(chain, PRICE * 1500n), await depositedPayer(chain, PRICE * 2500n)];
        const payers: Side[] = [
          ...plain.map((key) => ({ address: key.address, key })),
          await smartWalletPayer(PRICE * 2000n),
        ];
        const providers = [randomProvider(), randomProvider()];
        earners.push(...providers, ...payers.map((p) => p.address));
        const sessions: Live[] = [];
        const newWorker = (crashAfterBroadcast = false): SettlementWorker =>
          settlementWorker(chain, ledger, {
            batchSize: 3,
            now: () => clock,
            receiptTimeoutMs: 2_000,
            ...(crashAfterBroadcast
              ? {
                  afterBroadcast: () => {
                    throw new Crash('the settler dies after broadcasting');
                  },
                }
              : {}),
          });
        let worker = newWorker();
        const settle = async () => {
          clock += 3 * 60_000; // past any backoff
          await worker.runSoon().catch((error: unknown) => {
            if (!(error instanceof Crash)) throw error;
          });
        };
        try {
          for (const step of ops) {
            switch (step.op) {
              case 'authorize': {
                const payer = payers[step.payer] as Side;
                const provider = providers[sessions.length % 2] as Address;
                const sessionId = `0x${randomBytes(32).toString('hex')}` as Hex;
                const auth = {
                  sessionId,
                  player: payer.address,
                  provider,
                  maxAmount: PRICE * BigInt(step.capSec),
                  pricePerSecond: PRICE,
                  expiry: BigInt(Math.floor(Date.now() / 1000) + 4 * 3600),
                };
                const signature = await chain.walletFor(payer.key).signTypedData({
                  domain: sessionEscrowDomain({ chainId: chain.anvil.chainId, verifyingContract: chain.escrowAddress }),
                  types: sessionAuthTypes,
                  primaryType: 'SessionAuth',
                  message: auth,
                });
                const accepted = await desk
                  .authorize(
                    { id: sessionId, game: 'supertux' } as SessionRecord,
                    { hostId: 'host-1', providerAddress: provider, priceWeiPerSec: PRICE } as HostRecord,
                    {
                      type: 'session-auth',
                      sessionId,
                      auth: {
                        sessionId,
                        player: auth.player,
                        provider,
                        maxAmount: String(auth.maxAmount),
                        pricePerSecond: String(PRICE),
                        expiry: String(auth.expiry),
                      },
                      signature,
                    },
                  )
                  .then(() => true)
                  .catch(() => false);
                if (accepted) sessions.push({ sessionId, payer, provider, tickIndex: 0, ended: false });
                seen[accepted ? 'authorized' : 'refused'] += 1;
                if (accepted && step.payer === 2) seen.walletSessions += 1;
                break;
              }
              case 'tick': {
                const s = sessions[step.session % Math.max(1, sessions.length)];
                if (!s || s.ended) break;
                // The meter's limits: the authorization's room and what the escrow still holds for the payer
                // (its balance, less a pending withdrawal, less every unsettled charge).
                const session = await getSession(ledger, s.sessionId);
                if (!session) break;
                const [[balance], [withdrawing]] = await Promise.all([
                  chain.publicClient.readContract({
                    address: chain.escrowAddress,
                    abi: sessionEscrowAbi,
                    functionName: 'accounts',
                    args: [s.payer.address],
                  }),
                  chain.publicClient.readContract({
                    address: chain.escrowAddress,
                    abi: sessionEscrowAbi,
                    functionName: 'withdrawRequests',
                    args: [s.payer.address],
                  }),
                ]);
                const { rows } = await ledger.query(
                  `select coalesce(sum(cumulative_wei - settled_wei), 0)::text as u from sessions where payer_address = $1`,
                  [s.payer.address.toLowerCase()],
                );
                const unsettled = BigInt((rows[0] as { u: string }).u);
                const escrowRoom = balance - withdrawing - unsettled;
                const authRoom = session.authMaxWei - session.cumulativeWei;
                const room = escrowRoom < authRoom ? escrowRoom : authRoom;
                const sec = room <= 0n ? 0 : Math.min(step.sec, Number(room / PRICE));
                await meterTick(ledger, signer, chain.meter.address, {
                  sessionId: s.sessionId,
                  tickIndex: s.tickIndex,
                  deliveredSec: sec,
                });
                s.tickIndex += 1;
                if (sec > 0) seen.charged += 1;
                break;
              }
              case 'end': {
                const s = sessions[step.session % Math.max(1, sessions.length)];
                if (!s || s.ended) break;
                await endSession(ledger, { sessionId: s.sessionId, reason: 'player-quit' });
                s.ended = true;
                seen.ended += 1;
                break;
              }
              case 'settle':
                await settle();
                break;
              case 'withdraw': {
                const payer = payers[step.payer] as Side;
                const free = (await chain.publicClient.readContract({
                  address: chain.escrowAddress,
                  abi: sessionEscrowAbi,
                  functionName: 'freeBalance',
                  args: [payer.address],
                })) as bigint;
                // What the payer may take: free on chain, minus what its sessions may still draw.
                const committed = await payerCommitmentsWei(ledger, { payerAddress: payer.address });
                const mayTake = free - committed;
                const amount = mayTake <= 0n ? 0n : (mayTake * BigInt(step.permille)) / 1000n;
                if (amount === 0n) break;
                seen.withdrawals += 1;
                const wallet = chain.walletFor(payer.key);
                for (const functionName of ['requestWithdraw', 'withdraw'] as const) {
                  const hash = await wallet.writeContract({
                    address: chain.escrowAddress,
                    abi: sessionEscrowAbi,
                    functionName,
                    ...(functionName === 'requestWithdraw' ? { args: [amount] } : {}),
                  } as Parameters<typeof wallet.writeContract>[0]);
                  await chain.publicClient.waitForTransactionReceipt({ hash });
                  // The settler reacts to WithdrawRequested: every open session of the payer is redeemed first.
                  if (functionName === 'requestWithdraw') await settle();
                }
                break;
              }
              case 'hostile': {
                const s = sessions[step.session % Math.max(1, sessions.length)];
                const voucher = s ? await latestVoucher(ledger, s.sessionId) : undefined;
                if (!s || !voucher) break;
                const session = await getSession(ledger, s.sessionId);
                if (!session) break;
                // The payer re-signs the session naming itself as payee and redeems the (leaked) meter voucher.
                const hijack = {
                  sessionId: s.sessionId,
                  player: s.payer.address,
                  provider: s.payer.address,
                  maxAmount: session.authMaxWei,
                  pricePerSecond: session.priceWeiPerSec,
                  expiry: session.authExpirySec,
                };
                const authSignature = await chain.walletFor(s.payer.key).signTypedData({
                  domain: sessionEscrowDomain({ chainId: chain.anvil.chainId, verifyingContract: chain.escrowAddress }),
                  types: sessionAuthTypes,
                  primaryType: 'SessionAuth',
                  message: hijack,
                });
                const succeeded = await chain.publicClient
                  .simulateContract({
                    account: s.payer.key,
                    address: chain.escrowAddress,
                    abi: sessionEscrowAbi,
                    functionName: 'redeem',
                    args: [
                      {
                        auth: hijack,
                        authSignature,
                        cumulativeAmount: voucher.cumulativeWei,
                        deliveredSeconds: BigInt(voucher.deliveredSec),
                        usageSignature: voucher.signature,
                        close: false,
                      },
                    ],
                  })
                  .then(() => true)
                  .catch(() => false);
                assert.equal(succeeded, false, 'a hostile redeem never succeeds');
                seen.hostileRedeems += 1;
                break;
              }
              case 'outage': {
                seen.outages += 1;
                await chain.stop();
                for (let i = 0; i < 3; i += 1) {
                  clock += 30_000;
                  await worker.runSoon().catch(() => undefined);
                }
                await chain.restart();
                break;
              }
              case 'crash': {
                // The settler process dies (optionally right after broadcasting); a new one starts on the ledger.
                if (step.afterBroadcast) {
                  seen.crashesAfterBroadcast += 1;
                  await worker.close();
                  worker = newWorker(true);
                  await settle();
                }
                await worker.close();
                worker = newWorker();
                break;
              }
            }
            if (step.op !== 'outage') await assertEscrowConserved(chain, earners);
          }
          // Everyone stops; the outbox drains.
          for (const s of sessions) {
            if (!s.ended) await endSession(ledger, { sessionId: s.sessionId, reason: 'player-quit' });
            s.ended = true;
          }
          for (let pass = 0; pass < 8; pass += 1) {
            await settle();
            const open = (await listSettlements(ledger)).filter((row) =>
              ['pending', 'sending', 'sent'].includes(row.state),
            );
            if (open.length === 0) break;
          }
        } finally {
          await chain.restart();
          await worker.close();
        }
        const states = (await listSettlements(ledger)).map((row) => row.state);
        assert.deepEqual(
          states.filter((state) => !['confirmed', 'superseded'].includes(state)),
          [],
          'every outbox row settled (none pending, none failed)',
        );
        await assertEscrowConserved(chain, earners);
        await assertLedgerMatchesChain(chain, ledger);
        const view = await moneyView(chain, ledger, {
          sessionIds: sessions.map((s) => s.sessionId),
          providers,
          payers: [],
          systemBefore,
        });
        // Every charge settled once, and what the chain paid each recipient is what the ledger journaled. (Payers'
        // balances moved by withdrawals too: conservation above covers them.)
        for (const v of view.sessions) {
          assert.equal(v.claimedWei, v.chargedWei, `session ${v.sessionId}: claimed on chain = charged`);
          assert.equal(v.settledWei, v.chargedWei, `session ${v.sessionId}: settled in the ledger = charged`);
        }
        for (const c of view.credits) assert.equal(c.chainWei, c.ledgerWei, `${c.who}: chain and ledger credits`);
        assert.equal(
          view.credits.reduce((sum, c) => sum + c.chainWei, 0n),
          view.sessions.reduce((sum, v) => sum + v.chargedWei, 0n),
          'providers + checker pool + treasury received exactly what was charged',
        );
        assert.ok((await journalBalance(ledger)).balanced, 'the journal balances');
        for (const s of sessions) {
          const closed = await chain.publicClient.readContract({
            address: chain.escrowAddress,
            abi: sessionEscrowAbi,
            functionName: 'closed',
            args: [s.sessionId],
          });
          const charged = (await getSession(ledger, s.sessionId))?.cumulativeWei ?? 0n;
          assert.equal(closed, charged > 0n, `session ${s.sessionId}: closed on chain iff it ever charged`);
        }
        for (const payer of payers) {
          const [, reserved] = await chain.publicClient.readContract({
            address: chain.escrowAddress,
            abi: sessionEscrowAbi,
            functionName: 'accounts',
            args: [payer.address],
          });
          assert.equal(reserved, 0n, 'nothing stays reserved once every session is over and settled');
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: !SHRINK },
    );
  } catch (error) {
    // fast-check's message names the seed too; this line is the one to copy.
    console.error(
      `moneyInterleavings: FAILED — replay with ATH_PROPERTY_SEED=${SEED} (ATH_PROPERTY_SHRINK=1 to shrink)`,
    );
    if (error instanceof Error && error.cause !== undefined) console.error('moneyInterleavings: cause', error.cause);
    throw error;
  }
  t.diagnostic(`exercised ${JSON.stringify(seen)}`);
  assert.equal(runs, RUNS);
});
