import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
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
import { assertEscrowConserved } from './testing/escrowConservation.js';
import { startTestChain, type TestChain } from './testing/startTestChain.js';

const ATH = 10n ** 18n;
let chain: TestChain;

before(async () => {
  chain = await startTestChain({ withdrawDelaySec: 3600n });
});
after(async () => {
  await chain?.close();
});

/** Providers the tests paid: the escrow must hold exactly Σ payer balances + Σ earnings after every test. */
const earners: Hex[] = [];
afterEach(async () => {
  await assertEscrowConserved(chain, earners);
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
  earners.push(auth.provider);
  const usage: Usage = {
    sessionId: auth.sessionId,
    authHash: authHash(auth),
    cumulativeAmount: cumulative,
    deliveredSeconds,
  };
  return redemptionOf(auth, await signAuth(player, auth), usage, await signUsage(usage));
}

/** A redemption as the escrow takes it, keeping the usage it was made from (for the tests' arithmetic). */
function redemptionOf(auth: SessionAuth, authSignature: Hex, usage: Usage, usageSignature: Hex): Voucher {
  return { ...toRedemption({ auth, authSignature, usage, usageSignature }), usage };
}

/** Strips the test-only `usage` so the ABI encoder sees exactly a Redemption. */
const r = ({ usage: _usage, ...redemption }: Voucher): Redemption => redemption;

/** The SessionAuth's EIP-712 digest: what a voucher for it names. */
function authHash(auth: SessionAuth): Hex {
  return hashTypedData({ domain: domain(), types: sessionAuthTypes, primaryType: 'SessionAuth', message: auth });
}

function next(v: Voucher, cumulative: bigint, deliveredSeconds: bigint): Promise<Voucher> {
  const usage: Usage = {
    sessionId: v.auth.sessionId,
    authHash: authHash(v.auth),
    cumulativeAmount: cumulative,
    deliveredSeconds,
  };
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
    assert.equal(await revertName(player, 'releaseExpired', [v.auth]), 'NotExpired');
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
    await send(player, { functionName: 'releaseExpired', args: [v.auth] });
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
    const usage: Usage = {
      sessionId: auth.sessionId,
      authHash: authHash(auth),
      cumulativeAmount: 2n * ATH,
      deliveredSeconds: 2n,
    };
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

async function deploySmartWallet(owner: Account, depositWei: bigint): Promise<Hex> {
  const artifact = compileContracts().TestSmartWallet;
  const hash = await chain
    .walletFor(owner)
    .deployContract({ abi: artifact.abi, bytecode: artifact.bytecode, args: [owner.address] });
  const address = (await chain.publicClient.waitForTransactionReceipt({ hash })).contractAddress;
  if (!address) throw new Error('no wallet address');
  await send(owner, {
    address: chain.tokenAddress,
    abi: athTokenAbi,
    functionName: 'transfer',
    args: [address, depositWei],
  });
  await send(owner, {
    address,
    abi: testSmartWalletAbi,
    functionName: 'approveAndDeposit',
    args: [chain.tokenAddress, chain.escrowAddress, depositWei],
  });
  return address;
}

const checkCode = (auth: SessionAuth, signature: Hex) => read<number>('checkAuthorization', [auth, signature]);

describe('SessionEscrow under attack (issue 12)', () => {
  test('a session’s terms are fixed by its first redeem: no later authorization changes payee, price, cap or expiry', async () => {
    const player = await fundedPlayer(20n * ATH);
    const provider = (await chain.newFundedAccount(0n)).address;
    const first = await voucher(player, provider, {}, ATH / 10n, 60n);
    await send(chain.meter, { functionName: 'redeem', args: [r(first)] });
    const tamperings: Array<[string, Partial<SessionAuth>]> = [
      ['payee', { provider: player.address }],
      ['cap', { maxAmount: 15n * ATH }],
      ['price', { pricePerSecond: ATH }],
      ['expiry', { expiry: first.auth.expiry + 86_400n }],
    ];
    for (const [what, change] of tamperings) {
      // Even a voucher the meter signed for the other authorization (the meter never would) is refused: the
      // session is bound to the authorization that registered it.
      const other: SessionAuth = { ...first.auth, ...change };
      const usage: Usage = {
        sessionId: other.sessionId,
        authHash: authHash(other),
        cumulativeAmount: ATH / 5n,
        deliveredSeconds: 120n,
      };
      const forged = redemptionOf(other, await signAuth(player, other), usage, await signUsage(usage));
      assert.equal(await revertName(player, 'redeem', [r(forged)]), 'WrongTerms', what);
      assert.equal(await revertName(chain.meter, 'redeem', [r(forged)]), 'WrongTerms', `${what}, sent by the meter`);
    }
    // A voucher is bound to its authorization: the meter's voucher does not pay another one.
    const hijack: SessionAuth = { ...first.auth, sessionId: newSessionId(), provider: player.address };
    const stolen = redemptionOf(
      hijack,
      await signAuth(player, hijack),
      { ...first.usage, sessionId: hijack.sessionId },
      first.usageSignature,
    );
    assert.equal(await revertName(player, 'redeem', [r(stolen)]), 'BadSignature');
    // The real terms still pay, to the stored provider, never beyond the stored cap.
    const later = await next(first, ATH / 5n, 120n);
    await send(player, { functionName: 'redeem', args: [r(later)] });
    assert.equal(await read<bigint>('claimed', [first.auth.sessionId]), ATH / 5n);
    assert.equal(await read<bigint>('earnings', [player.address]), 0n);
    const overCap = await next(first, first.auth.maxAmount + 1n, 10_000_000n);
    assert.equal(await revertName(chain.meter, 'redeem', [r(overCap)]), 'OverCap');
  });

  test('checkAuthorization answers what a first redeem would: v, s, length, expiry and cap bounds, free balance', async () => {
    const player = await fundedPlayer(5n * ATH);
    const provider = (await chain.newFundedAccount(0n)).address;
    const base = (await voucher(player, provider, { maxAmount: 2n * ATH })).auth;
    const good = await signAuth(player, base);
    assert.equal(await checkCode(base, good), 0);
    const v = Number.parseInt(good.slice(-2), 16);
    assert.equal(
      await checkCode(base, `${good.slice(0, -2)}${(v - 27).toString(16).padStart(2, '0')}` as Hex),
      2,
      'v 0/1',
    );
    assert.equal(await checkCode(base, good.slice(0, -2) as Hex), 2, '64 bytes');
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const sValue = BigInt(`0x${good.slice(66, 130)}`);
    const malleable =
      `${good.slice(0, 66)}${(n - sValue).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}` as Hex;
    assert.equal(await checkCode(base, malleable), 2, 'high s');
    const late = { ...base, expiry: 2n ** 32n + 1n };
    assert.equal(await checkCode(late, await signAuth(player, late)), 4, 'expiry beyond 32 bits');
    const past = { ...base, expiry: (await now()) - 1n };
    assert.equal(await checkCode(past, await signAuth(player, past)), 3, 'expired');
    const huge = { ...base, maxAmount: 2n ** 80n };
    assert.equal(await checkCode(huge, await signAuth(player, huge)), 4, 'cap beyond 80 bits');
    const pricey = { ...base, pricePerSecond: 2n ** 80n };
    assert.equal(await checkCode(pricey, await signAuth(player, pricey)), 5, 'price beyond 80 bits');
    const greedy = { ...base, maxAmount: 6n * ATH };
    assert.equal(await checkCode(greedy, await signAuth(player, greedy)), 6, 'more than the free balance');
  });

  test('the final voucher releases the rest of the reserve; the session is closed for good', async () => {
    const player = await fundedPlayer(10n * ATH);
    const provider = (await chain.newFundedAccount(0n)).address;
    const v = await voucher(player, provider, { maxAmount: 6n * ATH }, ATH, 100n);
    await send(chain.meter, { functionName: 'redeem', args: [r(v)] });
    assert.equal(await read<bigint>('freeBalance', [player.address]), 4n * ATH, '10 − 1 paid − 5 reserved');
    // The session ends at 1.5 ATH: the final voucher pays 0.5 and releases the 4.5 left of the cap.
    const last = { ...(await next(v, (3n * ATH) / 2n, 150n)), close: true };
    const stranger = await chain.newFundedAccount(0n);
    await send(stranger, { functionName: 'redeem', args: [r(last)] });
    assert.equal(await read<boolean>('closed', [v.auth.sessionId]), false, 'only the meter closes a session');
    await send(chain.meter, { functionName: 'redeem', args: [r({ ...last, close: true })] });
    assert.equal(
      await read<boolean>('closed', [v.auth.sessionId]),
      true,
      'a final voucher at the claimed amount closes it',
    );
    assert.equal(await read<bigint>('freeBalance', [player.address]), (17n * ATH) / 2n);
    assert.deepEqual(await read<readonly [bigint, bigint]>('accounts', [player.address]), [(17n * ATH) / 2n, 0n]);
    assert.equal(await revertName(chain.meter, 'redeem', [r(await next(v, 2n * ATH, 200n))]), 'Closed');
    // A session whose first voucher is also its last reserves only that voucher.
    const once = { ...(await voucher(player, provider, { maxAmount: 8n * ATH }, ATH, 100n)), close: true };
    await send(chain.meter, { functionName: 'redeem', args: [r(once)] });
    assert.equal(await read<boolean>('closed', [once.auth.sessionId]), true);
    assert.deepEqual(await read<readonly [bigint, bigint]>('accounts', [player.address]), [(15n * ATH) / 2n, 0n]);
    // An open session whose authorization expired is released by anyone, with that authorization.
    const open = await voucher(player, provider, { maxAmount: 3n * ATH, expiry: (await now()) + 120n }, ATH, 100n);
    await send(chain.meter, { functionName: 'redeem', args: [r(open)] });
    assert.equal(await revertName(stranger, 'releaseExpired', [open.auth]), 'NotExpired');
    await chain.increaseTime(200);
    assert.equal(
      await revertName(stranger, 'releaseExpired', [{ ...open.auth, maxAmount: 5n * ATH }]),
      'WrongTerms',
      'not with other terms',
    );
    await send(stranger, { functionName: 'releaseExpired', args: [open.auth] });
    assert.deepEqual(await read<readonly [bigint, bigint]>('accounts', [player.address]), [(13n * ATH) / 2n, 0n]);
  });

  test('later packed vouchers need no signature (the stored tag binds them); a first one without a signature is skipped', async () => {
    const player = await fundedPlayer(10n * ATH);
    const provider = (await chain.newFundedAccount(0n)).address;
    const v = await voucher(player, provider, {}, ATH / 10n, 60n);
    const unsigned = packRedemptions([{ ...v, registered: true }]);
    const skipped = await send(chain.meter, { functionName: 'redeemPacked', args: [unsigned] });
    assert.equal(
      parseEventLogs({ abi: sessionEscrowAbi, logs: skipped.logs }).filter((e) => e.eventName === 'VoucherSkipped')
        .length,
      1,
    );
    await send(chain.meter, { functionName: 'redeemPacked', args: [packRedemptions([v])] });
    const later = await next(v, ATH / 5n, 120n);
    await send(chain.meter, {
      functionName: 'redeemPacked',
      args: [packRedemptions([{ ...later, registered: true }])],
    });
    assert.equal(await read<bigint>('claimed', [v.auth.sessionId]), ATH / 5n);
    // With other terms, the tag does not match: skipped.
    const other = {
      auth: { ...later.auth, provider: player.address },
      usage: { ...later.usage, cumulativeAmount: ATH / 4n, deliveredSeconds: 150n },
      authSignature: later.authSignature,
      registered: true,
    };
    const wrong = await send(chain.meter, { functionName: 'redeemPacked', args: [packRedemptions([other])] });
    const events = parseEventLogs({ abi: sessionEscrowAbi, eventName: 'VoucherSkipped', logs: wrong.logs });
    assert.equal(events[0]?.args.reason, 7, 'wrong terms');
  });

  test('a smart wallet that burns all its gas is refused within the gas cap and cannot sink a batch', async () => {
    const owner = await chain.newFundedAccount(20n * ATH);
    const wallet = await deploySmartWallet(owner, 10n * ATH);
    const provider = (await chain.newFundedAccount(0n)).address;
    earners.push(provider);
    const auth: SessionAuth = {
      sessionId: newSessionId(),
      player: wallet,
      provider,
      maxAmount: 5n * ATH,
      pricePerSecond: ATH,
      expiry: (await now()) + 3600n,
    };
    const signature = await signAuth(owner, auth);
    assert.equal(await checkCode(auth, signature), 0, 'honest, the wallet’s signature holds');
    await send(owner, { address: wallet, abi: testSmartWalletAbi, functionName: 'setGreedy', args: [true] });
    assert.equal(await checkCode(auth, signature), 2, 'greedy, it is refused within the cap');
    const usage: Usage = {
      sessionId: auth.sessionId,
      authHash: authHash(auth),
      cumulativeAmount: ATH,
      deliveredSeconds: 1n,
    };
    const greedyItem = redemptionOf(auth, signature, usage, await signUsage(usage));
    const players = [await fundedPlayer(20n * ATH), await fundedPlayer(20n * ATH)];
    const goods = await Promise.all(players.map((p) => voucher(p, provider)));
    const hash = await chain.walletFor(chain.meter).writeContract({
      address: chain.escrowAddress,
      abi: sessionEscrowAbi,
      functionName: 'redeemBatch',
      args: [[r(goods[0] as Voucher), r(greedyItem), r(goods[1] as Voucher)]],
      gas: 1_000_000n,
    });
    const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success', 'the batch went through');
    const skipped = parseEventLogs({ abi: sessionEscrowAbi, eventName: 'VoucherSkipped', logs: receipt.logs });
    assert.deepEqual(
      skipped.map((e) => [e.args.sessionId, e.args.reason]),
      [[auth.sessionId, 2]],
    );
    assert.ok(receipt.gasUsed < 600_000n, `the wallet got its cap, not the batch's gas (${receipt.gasUsed})`);
  });
});
