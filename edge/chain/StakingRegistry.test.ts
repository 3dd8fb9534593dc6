import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  type Account,
  BaseError,
  ContractFunctionRevertedError,
  type Hex,
  hashTypedData,
  keccak256,
  stringToHex,
} from 'viem';
import { type CheckReport, checkerDomain, checkReportTypes } from '../../signaling/protocol/index.js';
import { athTokenAbi, stakingRegistryAbi } from './abis.js';
import { abisSource } from './build/abisSource.js';
import { compileContracts } from './build/compileContracts.js';
import { DEFAULT_MIN_STAKES_WEI, tierId } from './deployContracts.js';
import { startTestChain, type TestChain } from './testing/startTestChain.js';

const ATH = 10n ** 18n;
const WEEK = 7n * 86_400n;
let chain: TestChain;

before(async () => {
  chain = await startTestChain({ unbondingDelaySec: 86_400n });
});
after(async () => {
  await chain?.close();
});

async function send(account: Account, functionName: string, args: readonly unknown[], address?: Hex) {
  const hash = await chain.walletFor(account).writeContract({
    address: address ?? chain.stakingAddress,
    abi: (address ? athTokenAbi : stakingRegistryAbi) as typeof stakingRegistryAbi,
    functionName: functionName as 'stake',
    args: args as [bigint, Hex],
  });
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
  assert.equal(receipt.status, 'success');
}

async function revertName(account: Account, functionName: string, args: readonly unknown[]): Promise<string> {
  try {
    await chain.publicClient.simulateContract({
      account,
      address: chain.stakingAddress,
      abi: stakingRegistryAbi,
      functionName: functionName as 'stake',
      args: args as [bigint, Hex],
    });
  } catch (error) {
    const revert =
      error instanceof BaseError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : undefined;
    if (revert instanceof ContractFunctionRevertedError) return revert.data?.errorName ?? 'unknown';
    throw error;
  }
  throw new Error(`${functionName} did not revert`);
}

const read = <T>(functionName: string, args: readonly unknown[]) =>
  chain.publicClient.readContract({
    address: chain.stakingAddress,
    abi: stakingRegistryAbi,
    functionName: functionName as 'operators',
    args: args as [Hex],
  }) as Promise<T>;

async function staker(tier: string, amount: bigint): Promise<Account> {
  const operator = await chain.newFundedAccount(amount * 2n);
  await send(operator, 'approve', [chain.stakingAddress, amount * 2n], chain.tokenAddress);
  await send(operator, 'stake', [amount, tierId(tier)]);
  return operator;
}

async function blockTime(): Promise<bigint> {
  return (await chain.publicClient.getBlock()).timestamp;
}

describe('StakingRegistry', () => {
  test('the committed ABIs match a fresh compile (npm run build:contracts)', () => {
    const committed = readFileSync(new URL('./abis.ts', import.meta.url), 'utf8');
    assert.equal(committed, abisSource(compileContracts()));
  });

  test('the CheckReport digest matches the protocol struct', async () => {
    const report: CheckReport = {
      container: 'host-1',
      checker: chain.meter.address,
      round: 7n,
      rttMicros: 4_200,
      fpsMilli: 59_800,
      lossPpm: 12,
      ok: true,
      timestamp: 1_800_000_000n,
    };
    const onChain = await read<Hex>('hashCheckReport', [report]);
    const domain = checkerDomain({ chainId: chain.anvil.chainId, verifyingContract: chain.stakingAddress });
    assert.equal(
      onChain,
      hashTypedData({ domain, types: checkReportTypes, primaryType: 'CheckReport', message: report }),
    );
  });

  test('stake below the tier minimum is refused; an operator keeps its tier', async () => {
    const min = DEFAULT_MIN_STAKES_WEI['checker'] ?? 0n;
    const operator = await chain.newFundedAccount(min * 3n);
    await send(operator, 'approve', [chain.stakingAddress, min * 3n], chain.tokenAddress);
    assert.equal(await revertName(operator, 'stake', [min - 1n, tierId('checker')]), 'BelowMinimum');
    await send(operator, 'stake', [min, tierId('checker')]);
    assert.equal(await revertName(operator, 'stake', [min, tierId('software')]), 'TierMismatch');
    assert.equal(await revertName(operator, 'requestUnbond', [1n]), 'BelowMinimum');
  });

  test('unbonding waits for its delay', async () => {
    const operator = await staker('checker', 2_000n * ATH);
    await send(operator, 'requestUnbond', [2_000n * ATH]);
    assert.equal(await revertName(operator, 'withdrawUnbonded', []), 'NotUnlocked');
    await chain.increaseTime(86_401);
    await send(operator, 'withdrawUnbonded', []);
    const balance = await chain.publicClient.readContract({
      address: chain.tokenAddress,
      abi: athTokenAbi,
      functionName: 'balanceOf',
      args: [operator.address],
    });
    assert.equal(balance, 4_000n * ATH);
  });

  test('weekly rewards only for stake held through a whole epoch starting Thursday 00:00 UTC', async () => {
    // Move to just after an epoch boundary; Unix time 0 was Thursday 00:00 UTC.
    const epochNow = (await blockTime()) / WEEK;
    await chain.setNextTimestamp((epochNow + 1n) * WEEK + 60n);
    const epoch = epochNow + 1n;
    assert.equal(new Date(Number(epoch * WEEK) * 1000).getUTCDay(), 4, 'epochs start on Thursday');
    const early = await staker('checker', 1_000n * ATH); // staked in `epoch`, so it held through `epoch + 1`
    await chain.setNextTimestamp((epoch + 1n) * WEEK + 60n);
    const late = await staker('checker', 1_000n * ATH); // staked during `epoch + 1`
    assert.equal(
      await revertName(chain.admin, 'creditRewards', [epoch + 1n, [early.address], [5n * ATH]]),
      'EpochNotOver',
    );
    await chain.setNextTimestamp((epoch + 2n) * WEEK + 60n);
    assert.equal(await read<boolean>('isEligible', [early.address, epoch + 1n]), true);
    assert.equal(await read<boolean>('isEligible', [late.address, epoch + 1n]), false);
    assert.equal(
      await revertName(chain.admin, 'creditRewards', [epoch + 1n, [late.address], [5n * ATH]]),
      'NotEligible',
    );
    await send(chain.admin, 'approve', [chain.stakingAddress, 5n * ATH], chain.tokenAddress);
    await send(chain.admin, 'creditRewards', [epoch + 1n, [early.address], [5n * ATH]]);
    assert.equal(await revertName(chain.admin, 'creditRewards', [epoch + 1n, [early.address], [1n]]), 'NotEligible');
    assert.equal((await read<readonly [bigint, bigint]>('operators', [early.address]))[1], 5n * ATH);
    // Only the rewards role credits.
    assert.equal(
      await revertName(early, 'creditRewards', [epoch + 1n, [early.address], [1n]]),
      'AccessControlUnauthorizedAccount',
    );
  });

  test('a slash takes unclaimed rewards first, then stake, then unbonding stake; evidence slashes once', async () => {
    const epochNow = (await blockTime()) / WEEK;
    const operator = await staker('software', 3_000n * ATH);
    await chain.setNextTimestamp((epochNow + 2n) * WEEK + 60n);
    await send(chain.admin, 'approve', [chain.stakingAddress, 100n * ATH], chain.tokenAddress);
    await send(chain.admin, 'creditRewards', [epochNow + 1n, [operator.address], [100n * ATH]]);
    await send(operator, 'requestUnbond', [1_000n * ATH]);
    const treasuryBefore = await chain.publicClient.readContract({
      address: chain.tokenAddress,
      abi: athTokenAbi,
      functionName: 'balanceOf',
      args: [chain.treasury.address],
    });
    const evidence = keccak256(stringToHex('signed reports of round 2'));
    // Only the slasher (the meter key on the embedded chain) slashes.
    assert.equal(
      await revertName(operator, 'slash', [operator.address, ATH, evidence]),
      'AccessControlUnauthorizedAccount',
    );
    await send(chain.meter, 'slash', [operator.address, 150n * ATH, evidence]);
    let [stake, rewards] = await read<readonly [bigint, bigint]>('operators', [operator.address]);
    assert.equal(rewards, 0n, 'rewards go first');
    assert.equal(stake, 2_000n * ATH - 50n * ATH, 'then stake');
    assert.equal(await revertName(chain.meter, 'slash', [operator.address, ATH, evidence]), 'EvidenceUsed');
    await send(chain.meter, 'slash', [operator.address, 2_000n * ATH, keccak256(stringToHex('round 3'))]);
    [stake, rewards] = await read<readonly [bigint, bigint]>('operators', [operator.address]);
    assert.equal(stake, 0n);
    const [unbondingLeft] = await read<readonly [bigint, bigint]>('unbonding', [operator.address]);
    assert.equal(unbondingLeft, 1_000n * ATH - 50n * ATH, 'then unbonding stake');
    const treasuryAfter = await chain.publicClient.readContract({
      address: chain.tokenAddress,
      abi: athTokenAbi,
      functionName: 'balanceOf',
      args: [chain.treasury.address],
    });
    assert.equal(treasuryAfter - treasuryBefore, 2_150n * ATH, 'slashed ATH goes to the treasury');
  });
});
