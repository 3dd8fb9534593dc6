/**
 * Test world for settlement: real anvil with the contracts, a real ledger, payers that deposited into the
 * escrow and signed real SessionAuths, the meter's real voucher signer, and the sums that must agree — what
 * the chain paid and what the ledger journaled, to the wei.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import type { Account, Address, Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { sessionAuthTypes, sessionEscrowDomain } from '../../../signaling/protocol/index.js';
import { sessionEscrowAbi } from '../../chain/index.js';
import type { TestChain } from '../../chain/testing/startTestChain.js';
import {
  createSession,
  enqueueSettlement,
  getSession,
  journalBalance,
  journalTotals,
  type Ledger,
  recordUsageTick,
  recordVoucher,
  SYSTEM_ACCOUNTS,
  sessionAuthOf,
} from '../../ledger/index.js';
import { createVoucherSigner, type VoucherSigner } from '../../metering/index.js';
import { SettlementWorker, type SettlementWorkerParameters } from '../SettlementWorker.js';

export type Payer = Account & { privateKey: Hex; depositWei: bigint };

/** A fresh wallet with `depositWei` ATH deposited into the escrow. */
export async function depositedPayer(chain: TestChain, depositWei: bigint): Promise<Payer> {
  return Object.assign(await chain.newDepositedAccount(depositWei), { depositWei });
}

export function randomProvider(): Address {
  return `0x${randomBytes(20).toString('hex')}`;
}

export function meterSigner(chain: TestChain): VoucherSigner {
  const key = chain.meter.getHdKey().privateKey;
  if (!key) throw new Error('the dev meter account has no private key');
  return createVoucherSigner({
    privateKey: `0x${Buffer.from(key).toString('hex')}`,
    domain: sessionEscrowDomain({ chainId: chain.anvil.chainId, verifyingContract: chain.escrowAddress }),
  });
}

/** A streaming session in the ledger, authorized by the payer's real EIP-712 signature. */
export async function openSession(
  chain: TestChain,
  ledger: Ledger,
  {
    payer,
    provider,
    priceWeiPerSec,
    maxWei,
  }: { payer: Payer; provider: Address; priceWeiPerSec: bigint; maxWei: bigint },
): Promise<Hex> {
  const auth = {
    sessionId: `0x${randomBytes(32).toString('hex')}` as Hex,
    player: payer.address,
    provider,
    maxAmount: maxWei,
    pricePerSecond: priceWeiPerSec,
    expiry: BigInt(Math.floor(Date.now() / 1000) + 4 * 3600),
  };
  const authSignature = await privateKeyToAccount(payer.privateKey).signTypedData({
    domain: sessionEscrowDomain({ chainId: chain.anvil.chainId, verifyingContract: chain.escrowAddress }),
    types: sessionAuthTypes,
    primaryType: 'SessionAuth',
    message: auth,
  });
  await createSession(ledger, { auth, authSignature, hostId: 'host-1', game: 'supertux', state: 'streaming' });
  return auth.sessionId;
}

/** What the meter does each tick: record the seconds, sign the cumulative voucher, queue it for settlement. */
export async function meterTick(
  ledger: Ledger,
  signer: VoucherSigner,
  meterAddress: Address,
  { sessionId, tickIndex, deliveredSec }: { sessionId: Hex; tickIndex: number; deliveredSec: number },
): Promise<void> {
  await recordUsageTick(ledger, { sessionId, tickIndex, deliveredSec });
  const session = await getSession(ledger, sessionId);
  if (!session || deliveredSec === 0) return;
  const usage = {
    sessionId,
    authHash: signer.authHash(sessionAuthOf(session)),
    cumulativeAmount: session.cumulativeWei,
    deliveredSeconds: BigInt(session.deliveredSec),
  };
  await recordVoucher(ledger, { usage, meterAddress, signature: signer.sign(usage) });
  await enqueueSettlement(ledger, { sessionId });
}

export function settlementWorker(
  chain: TestChain,
  ledger: Ledger,
  overrides: Partial<SettlementWorkerParameters> = {},
): SettlementWorker {
  return new SettlementWorker({
    ledger,
    publicClient: chain.publicClient,
    walletClient: chain.walletFor(chain.meter),
    escrowAddress: chain.escrowAddress,
    workerId: `test-${randomBytes(3).toString('hex')}`,
    intervalMs: 3_600_000,
    batchSize: 10,
    log: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
    ...overrides,
  });
}

/** A raw JSON-RPC call to anvil (mining controls the test chain's helpers do not cover). */
export async function anvilRpc(chain: TestChain, method: string, params: unknown[] = []): Promise<unknown> {
  const response = await fetch(chain.anvil.rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = (await response.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

export type MoneyView = {
  /** Per session: claimed on chain, settled in the ledger, charged in the ledger. */
  sessions: Array<{ sessionId: Hex; claimedWei: bigint; settledWei: bigint; chargedWei: bigint }>;
  /** Per provider, checker pool and treasury: escrow earnings on chain and ledger credits. */
  credits: Array<{ who: string; chainWei: bigint; ledgerWei: bigint }>;
  /** Per payer: escrow balance spent on chain and settled in the ledger. */
  payers: Array<{ who: Address; chainSpentWei: bigint; ledgerSettledWei: bigint; ledgerChargedWei: bigint }>;
  journalBalanced: boolean;
};

/** The checker pool's and the treasury's escrow earnings now: tests sharing one chain subtract them. */
export async function systemEarnings(chain: TestChain): Promise<Record<'checker-pool' | 'treasury', bigint>> {
  const read = (address: Address) =>
    chain.publicClient.readContract({
      address: chain.escrowAddress,
      abi: sessionEscrowAbi,
      functionName: 'earnings',
      args: [address],
    });
  return { 'checker-pool': await read(chain.checkerPool.address), treasury: await read(chain.treasury.address) };
}

/** Reads every number that must agree between the chain and the ledger. */
export async function moneyView(
  chain: TestChain,
  ledger: Ledger,
  {
    sessionIds,
    providers,
    payers,
    systemBefore = { 'checker-pool': 0n, treasury: 0n },
  }: {
    sessionIds: Hex[];
    providers: Address[];
    payers: Payer[];
    /** `systemEarnings` before this ledger's first settlement. */
    systemBefore?: Record<'checker-pool' | 'treasury', bigint>;
  },
): Promise<MoneyView> {
  const read = <T>(functionName: 'claimed' | 'earnings' | 'accounts', args: readonly [Hex] | readonly [Address]) =>
    chain.publicClient.readContract({
      address: chain.escrowAddress,
      abi: sessionEscrowAbi,
      functionName,
      args,
    } as never) as Promise<T>;
  const sessions = await Promise.all(
    sessionIds.map(async (sessionId) => {
      const session = await getSession(ledger, sessionId);
      return {
        sessionId,
        claimedWei: await read<bigint>('claimed', [sessionId]),
        settledWei: session?.settledWei ?? -1n,
        chargedWei: session?.cumulativeWei ?? -1n,
      };
    }),
  );
  const credit = async (who: string, address: Address, account: Parameters<typeof journalTotals>[1], key: string) => ({
    who,
    chainWei:
      (await read<bigint>('earnings', [address])) -
      (who === 'checker-pool' || who === 'treasury' ? systemBefore[who] : 0n),
    ledgerWei: (await journalTotals(ledger, account))[key as 'provider_earning:credit'] ?? 0n,
  });
  const credits = [
    ...(await Promise.all(providers.map((p) => credit(p, p, p.toLowerCase() as Address, 'provider_earning:credit')))),
    await credit('checker-pool', chain.checkerPool.address, SYSTEM_ACCOUNTS.checkerPool, 'checker_pool:credit'),
    await credit('treasury', chain.treasury.address, SYSTEM_ACCOUNTS.treasury, 'treasury:credit'),
  ];
  const payerViews = await Promise.all(
    payers.map(async (payer) => {
      const [balance] = await read<readonly [bigint, bigint]>('accounts', [payer.address]);
      const { rows } = await ledger.query(
        `select coalesce(sum(settled_wei), 0)::text as settled, coalesce(sum(cumulative_wei), 0)::text as charged
           from sessions where payer_address = $1`,
        [payer.address.toLowerCase()],
      );
      const row = rows[0] as { settled: string; charged: string };
      return {
        who: payer.address,
        chainSpentWei: payer.depositWei - balance,
        ledgerSettledWei: BigInt(row.settled),
        ledgerChargedWei: BigInt(row.charged),
      };
    }),
  );
  return { sessions, credits, payers: payerViews, journalBalanced: (await journalBalance(ledger)).balanced };
}

/** Everything settled, once: chain and ledger agree for every session, recipient and payer. */
export function assertSettledExactly(view: MoneyView): void {
  assert.ok(view.journalBalanced, 'Σ debits = Σ credits in the journal');
  for (const s of view.sessions) {
    assert.equal(s.claimedWei, s.chargedWei, `session ${s.sessionId}: the chain claimed every charge, once`);
    assert.equal(s.settledWei, s.chargedWei, `session ${s.sessionId}: the ledger settled every charge, once`);
  }
  for (const c of view.credits) assert.equal(c.chainWei, c.ledgerWei, `${c.who}: chain and ledger credits`);
  for (const p of view.payers) {
    assert.equal(p.chainSpentWei, p.ledgerSettledWei, `${p.who}: escrow spent = ledger settled`);
    assert.equal(p.ledgerSettledWei, p.ledgerChargedWei, `${p.who}: nothing left unsettled`);
  }
  const credited = view.credits.reduce((sum, c) => sum + c.chainWei, 0n);
  const spent = view.payers.reduce((sum, p) => sum + p.chainSpentWei, 0n);
  assert.equal(credited, spent, 'providers + checker pool + treasury = what the payers paid');
}

/**
 * Σ settled in the ledger = Σ claimed on chain, over every session the ledger holds, and session by session
 * (call it when nothing is in flight). Returns the total.
 */
export async function assertLedgerMatchesChain(chain: TestChain, ledger: Ledger): Promise<bigint> {
  const { rows } = await ledger.query('select id, settled_wei::text as settled from sessions order by id');
  let settledWei = 0n;
  let claimedWei = 0n;
  for (const row of rows as Array<{ id: Hex; settled: string }>) {
    const claimed = await chain.publicClient.readContract({
      address: chain.escrowAddress,
      abi: sessionEscrowAbi,
      functionName: 'claimed',
      args: [row.id],
    });
    assert.equal(claimed, BigInt(row.settled), `session ${row.id}: claimed on chain = settled in the ledger`);
    settledWei += BigInt(row.settled);
    claimedWei += claimed;
  }
  assert.equal(settledWei, claimedWei, 'Σ settled in the ledger = Σ claimed on chain');
  return settledWei;
}
