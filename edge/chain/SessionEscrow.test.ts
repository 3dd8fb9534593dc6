import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type Account, BaseError, ContractFunctionRevertedError, type Hex, hashTypedData, parseEventLogs } from 'viem';
import {
  applyBps,
  type SessionAuth,
  sessionAuthTypes,
  sessionEscrowDomain,
  type Usage,
  usageTypes,
} from '../../signaling/protocol/index.js';
import { athTokenAbi, sessionEscrowAbi, testSmartWalletAbi } from './abis.js';
import { compileContracts } from './build/compileContracts.js';
import { packRedemptions, type Redemption, toRedemption } from './redemption.js';
import { startTestChain, type TestChain } from './testing/startTestChain.js';

const ATH = 10n ** 18n;
let chain: TestChain;

before(async () => {
  chain = await startTestChain({ withdrawDelaySec: 3600n });
});
after(async () => {
  await chain?.close();
});

const domain = () => sessionEscrowDomain({ chainId: chain.anvil.chainId, verifyingContract: chain.escrowAddress });
const newSessionId = (): Hex => `0x${randomBytes(32).toString('hex')}`;

async function now(): Promise<bigint> {
  return (await chain.publicClient.getBlock()).timestamp;
}

async function signAuth(account: Account, auth: SessionAuth): Promise<Hex> {
  if (!account.signTypedData) throw new Error('local account expected');
  return account.signTypedData({
    domain: domain(),
    types: sessionAuthTypes,
    primaryType: 'SessionAuth',
    message: auth,
  });
}

async function signUsage(usage: Usage): Promise<Hex> {
  if (!chain.meter.signTypedData) throw new Error('local account expected');
  return chain.meter.signTypedData({ domain: domain(), types: usageTypes, primaryType: 'Usage', message: usage });
}

async function send(
  account: Account,
  request: { functionName: string; args: readonly unknown[]; address?: Hex; abi?: unknown },
) {
  const wallet = chain.walletFor(account);
  const hash = await wallet.writeContract({
    address: request.address ?? chain.escrowAddress,
    abi: (request.abi ?? sessionEscrowAbi) as typeof sessionEscrowAbi,
    functionName: request.functionName as 'deposit',
    args: request.args as [bigint],
  });
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
  assert.equal(receipt.status, 'success');
  return receipt;
}

/** Runs a call and returns the custom error's name it reverts with. */
async function revertName(account: Account, functionName: string, args: readonly unknown[]): Promise<string> {
  try {
    await chain.publicClient.simulateContract({
      account,
      address: chain.escrowAddress,
      abi: sessionEscrowAbi,
      functionName: functionName as 'redeem',
      args: args as never,
    });
  } catch (error) {
    if (error instanceof BaseError) {
      const revert = error.walk((e) => e instanceof ContractFunctionRevertedError);
      if (revert instanceof ContractFunctionRevertedError) return revert.data?.errorName ?? 'unknown';
    }
    throw error;
  }
  throw new Error(`${functionName} did not revert`);
}

async function fundedPlayer(depositWei: bigint): Promise<Account> {
  const player = await chain.newFundedAccount(depositWei * 2n);
  await send(player, {
    address: chain.tokenAddress,
    abi: athTokenAbi,
    functionName: 'approve',
    args: [chain.escrowAddress, depositWei],
  });
  await send(player, { functionName: 'deposit', args: [depositWei] });
  return player;
}

type Voucher = Redemption & { usage: Usage };

async function voucher(
  player: Account,
  provider: Hex,
  overrides: Partial<SessionAuth> = {},
  cumulative = (60n * ATH) / 100n,
  deliveredSeconds = 60n,
): Promise<Voucher> {
  const auth: SessionAuth = {
    sessionId: newSessionId(),
    player: player.address,
    provider,
    maxAmount: 10n * ATH,
    pricePerSecond: ATH / 100n,
    expiry: (await now()) + 3600n,
    ...overrides,
  };
  const usage: Usage = { sessionId: auth.sessionId, cumulativeAmount: cumulative, deliveredSeconds };
  return redemptionOf(auth, await signAuth(player, auth), usage, await signUsage(usage));
}

/** A redemption as the escrow takes it, keeping the usage it was made from (for the tests' arithmetic). */
function redemptionOf(auth: SessionAuth, authSignature: Hex, usage: Usage, usageSignature: Hex): Voucher {
  return { ...toRedemption({ auth, authSignature, usage, usageSignature }), usage };
}

/** Strips the test-only `usage` so the ABI encoder sees exactly a Redemption. */
const r = ({ usage: _usage, ...redemption }: Voucher): Redemption => redemption;

function next(v: Voucher, cumulative: bigint, deliveredSeconds: bigint): Promise<Voucher> {
  const usage: Usage = { sessionId: v.auth.sessionId, cumulativeAmount: cumulative, deliveredSeconds };
  return signUsage(usage).then((usageSignature) => redemptionOf(v.auth, v.authSignature, usage, usageSignature));
}

const read = <T>(functionName: string, args: readonly unknown[]) =>
  chain.publicClient.readContract({
    address: chain.escrowAddress,
    abi: sessionEscrowAbi,
    functionName: functionName as 'earnings',
    args: args as [Hex],
  }) as Promise<T>;

describe('SessionEscrow', () => {
  test('its EIP-712 typehashes and digests match the protocol structs', async () => {
    const player = await chain.newFundedAccount(0n);
    const v = await voucher(player, chain.treasury.address);
    const onChain = await read<Hex>('hashSessionAuth', [v.auth]);
    assert.equal(
      onChain,
      hashTypedData({ domain: domain(), types: sessionAuthTypes, primaryType: 'SessionAuth', message: v.auth }),
    );
    const usageOnChain = await read<Hex>('hashUsage', [v.usage]);
    assert.equal(
      usageOnChain,
      hashTypedData({ domain: domain(), types: usageTypes, primaryType: 'Usage', message: v.usage }),
    );
  });

  test('a redeem pays provider, checker pool and treasury exactly to the wei; a replay is stale', async () => {
    const player = await fundedPlayer(20n * ATH);
    const provider = (await chain.newFundedAccount(0n)).address;
    const amount = 1_234_567_890_123_456_789n;
    const v = await voucher(player, provider, { pricePerSecond: ATH }, amount, 2n);
    const before = {
      pool: await read<bigint>('earnings', [chain.checkerPool.address]),
      treasury: await read<bigint>('earnings', [chain.treasury.address]),
    };
    await send(chain.meter, { functionName: 'redeem', args: [r(v)] });
    const fee = applyBps(amount, 2000n);
    const pool = applyBps(fee, 2500n);
    assert.equal(await read<bigint>('earnings', [provider]), amount - fee);
    assert.equal((await read<bigint>('earnings', [chain.checkerPool.address])) - before.pool, pool);
    assert.equal((await read<bigint>('earnings', [chain.treasury.address])) - before.treasury, fee - pool);
    assert.equal(await read<bigint>('claimed', [v.auth.sessionId]), amount);
    assert.equal(await revertName(chain.meter, 'redeem', [r(v)]), 'Stale');
    // A later voucher pays only the difference.
    const later = await next(v, amount + ATH, 3n);
    await send(chain.meter, { functionName: 'redeem', args: [r(later)] });
    // Fees are taken per redeemed delta, as the ledger journals them.
    assert.equal(await read<bigint>('earnings', [provider]), amount - fee + ATH - applyBps(ATH, 2000n));
    assert.equal(await revertName(chain.meter, 'redeem', [r(v)]), 'Stale');
  });

  test('over the cap, over the price, expired, and forged vouchers are refused', async () => {
    const player = await fundedPlayer(20n * ATH);
    const provider = (await chain.newFundedAccount(0n)).address;
    const overCap = await voucher(player, provider, { maxAmount: ATH }, 2n * ATH, 1000n);
    assert.equal(await revertName(chain.meter, 'redeem', [r(overCap)]), 'OverCap');
    const overPrice = await voucher(player, provider, {}, ATH, 10n);
    assert.equal(await revertName(chain.meter, 'redeem', [r(overPrice)]), 'OverPrice');
    const expired = await voucher(player, provider, { expiry: (await now()) - 1n });
    assert.equal(await revertName(chain.meter, 'redeem', [r(expired)]), 'Expired');
    const good = await voucher(player, provider);
    const forgedAuth = { ...good, auth: { ...good.auth, maxAmount: 9n * ATH } };
    assert.equal(await revertName(chain.meter, 'redeem', [r(forgedAuth)]), 'BadSignature');
    // Someone other than the meter must bring the meter's signature, and a real one.
    const stranger = await chain.newFundedAccount(0n);
    const badUsage = { ...good, usageSignature: good.authSignature };
    assert.equal(await revertName(stranger, 'redeem', [r(badUsage)]), 'BadSignature');
    await send(stranger, { functionName: 'redeem', args: [r(good)] });
  });

  test('withdrawals wait for the delay and never go below what open sessions may claim', async () => {
    const player = await fundedPlayer(10n * ATH);
    const provider = (await chain.newFundedAccount(0n)).address;
    const v = await voucher(player, provider, { maxAmount: 6n * ATH, expiry: (await now()) + 600n }, ATH, 100n);
    await send(chain.meter, { functionName: 'redeem', args: [r(v)] });
    assert.equal(await revertName(player, 'releaseExpired', [v.auth.sessionId, player.address]), 'NotExpired');
    // 10 deposited, 1 paid, 5 still reserved for the session: 4 are free.
    assert.equal(await read<bigint>('freeBalance', [player.address]), 4n * ATH);
    await send(player, { functionName: 'requestWithdraw', args: [9n * ATH] });
    assert.equal(await revertName(player, 'withdraw', []), 'WithdrawNotReady');
    await chain.increaseTime(3601);
    assert.equal(await revertName(player, 'withdraw', []), 'BelowReserved');
    // A session redeemed beyond the free balance is refused up front, not half-paid.
    const greedy = await voucher(player, provider, { maxAmount: 5n * ATH }, ATH, 100n);
    assert.equal(await revertName(chain.meter, 'redeem', [r(greedy)]), 'InsufficientEscrow');
    // Once the session has expired its unclaimed reserve is released and the withdrawal goes through.
    await send(player, { functionName: 'releaseExpired', args: [v.auth.sessionId, player.address] });
    await send(player, { functionName: 'withdraw', args: [] });
    const account = await read<readonly [bigint, bigint]>('accounts', [player.address]);
    assert.deepEqual(account, [0n, 0n]);
  });

  test('a batch pays every good voucher and skips a stale one with an event', async () => {
    const provider = (await chain.newFundedAccount(0n)).address;
    const players = await Promise.all([fundedPlayer(20n * ATH), fundedPlayer(20n * ATH), fundedPlayer(20n * ATH)]);
    const vouchers = await Promise.all(players.map((p) => voucher(p, provider)));
    const [first] = vouchers;
    if (!first) throw new Error('vouchers');
    await send(chain.meter, { functionName: 'redeem', args: [r(first)] });
    const receipt = await send(chain.meter, { functionName: 'redeemBatch', args: [vouchers.map(r)] });
    const events = parseEventLogs({ abi: sessionEscrowAbi, logs: receipt.logs });
    const skipped = events.filter((e) => e.eventName === 'VoucherSkipped');
    const batch = events.find((e) => e.eventName === 'BatchRedeemed');
    assert.equal(skipped.length, 1);
    assert.equal(batch?.args.paidCount, 2n);
    const amount = first.usage.cumulativeAmount;
    assert.equal(await read<bigint>('earnings', [provider]), 3n * (amount - applyBps(amount, 2000n)));
  });

  test('the meter’s packed batch pays like redeemBatch; bad items are skipped; only the meter may send it', async () => {
    const providers = [(await chain.newFundedAccount(0n)).address, (await chain.newFundedAccount(0n)).address];
    const players = await Promise.all([fundedPlayer(20n * ATH), fundedPlayer(20n * ATH), fundedPlayer(20n * ATH)]);
    const vouchers = await Promise.all(players.map((p, i) => voucher(p, providers[i % 2] as Hex)));
    const [good1, good2, bad] = vouchers;
    if (!good1 || !good2 || !bad) throw new Error('vouchers');
    const forged = { ...bad, auth: { ...bad.auth, maxAmount: bad.auth.maxAmount - 1n } };
    const packed = packRedemptions([good1, good2, forged]);
    const stranger = await chain.newFundedAccount(0n);
    assert.equal(await revertName(stranger, 'redeemPacked', [packed]), 'BadSignature');
    const receipt = await send(chain.meter, { functionName: 'redeemPacked', args: [packed] });
    const events = parseEventLogs({ abi: sessionEscrowAbi, logs: receipt.logs });
    assert.equal(events.filter((e) => e.eventName === 'VoucherSkipped').length, 1);
    const amount = good1.usage.cumulativeAmount;
    for (const provider of providers) {
      assert.equal(await read<bigint>('earnings', [provider]), amount - applyBps(amount, 2000n));
    }
    assert.equal(await read<bigint>('claimed', [good2.auth.sessionId]), amount);
    // Replaying the packed batch pays nothing more: every item is stale now (or still forged).
    const again = await send(chain.meter, { functionName: 'redeemPacked', args: [packed] });
    const replay = parseEventLogs({ abi: sessionEscrowAbi, logs: again.logs });
    assert.equal(replay.filter((e) => e.eventName === 'VoucherSkipped').length, 3);
  });

  test('a smart-contract wallet pays with an ERC-1271 signature', async () => {
    const owner = await chain.newFundedAccount(20n * ATH);
    const artifact = compileContracts().TestSmartWallet;
    const wallet = chain.walletFor(owner);
    const hash = await wallet.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode, args: [owner.address] });
    const address = (await chain.publicClient.waitForTransactionReceipt({ hash })).contractAddress;
    if (!address) throw new Error('no wallet address');
    await send(owner, {
      address: chain.tokenAddress,
      abi: athTokenAbi,
      functionName: 'transfer',
      args: [address, 10n * ATH],
    });
    await send(owner, {
      address,
      abi: testSmartWalletAbi,
      functionName: 'approveAndDeposit',
      args: [chain.tokenAddress, chain.escrowAddress, 10n * ATH],
    });
    const provider = (await chain.newFundedAccount(0n)).address;
    const auth: SessionAuth = {
      sessionId: newSessionId(),
      player: address,
      provider,
      maxAmount: 5n * ATH,
      pricePerSecond: ATH,
      expiry: (await now()) + 600n,
    };
    // The owner signs the wallet's authorization; the escrow asks the wallet whether that counts.
    const usage: Usage = { sessionId: auth.sessionId, cumulativeAmount: 2n * ATH, deliveredSeconds: 2n };
    const v = redemptionOf(auth, await signAuth(owner, auth), usage, await signUsage(usage));
    await send(chain.meter, { functionName: 'redeem', args: [r(v)] });
    assert.equal(await read<bigint>('claimed', [auth.sessionId]), 2n * ATH);
    const stranger = await chain.newFundedAccount(0n);
    const forged = await voucher(stranger, provider, { player: address });
    assert.equal(await revertName(chain.meter, 'redeem', [r(forged)]), 'BadSignature');
  });

  test('earnings are withdrawn in ATH; only the admin changes the parameters', async () => {
    const provider = await chain.newFundedAccount(0n);
    const player = await fundedPlayer(5n * ATH);
    await send(chain.meter, {
      functionName: 'redeem',
      args: [r(await voucher(player, provider.address, { maxAmount: 5n * ATH }, ATH / 2n, 60n))],
    });
    const owed = await read<bigint>('earnings', [provider.address]);
    await send(provider, { functionName: 'withdrawEarnings', args: [] });
    const balance = await chain.publicClient.readContract({
      address: chain.tokenAddress,
      abi: athTokenAbi,
      functionName: 'balanceOf',
      args: [provider.address],
    });
    assert.equal(balance, owed);
    assert.equal(
      await revertName(provider, 'setParameters', [provider.address, provider.address, provider.address, 0, 0]),
      'AccessControlUnauthorizedAccount',
    );
  });
});
