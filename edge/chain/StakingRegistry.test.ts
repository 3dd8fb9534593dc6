import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  type Account,
  BaseError,
  ContractFunctionRevertedError,
  type Hex,
  hashTypedData,
  type LocalAccount,
  parseEventLogs,
} from 'viem';
import {
  type CheckReport,
  checkerDomain,
  checkReportTypes,
  hostRegistrationMessage,
} from '../../signaling/protocol/index.js';
import { athTokenAbi, stakingRegistryAbi } from './abis.js';
import { abisSource } from './build/abisSource.js';
import { compileContracts } from './build/compileContracts.js';
import { DEFAULT_MIN_STAKES_WEI, tierId } from './deployContracts.js';
import { gasWithHeadroom } from './gasWithHeadroom.js';
import { startTestChain, type TestChain } from './testing/startTestChain.js';

const ATH = 10n ** 18n;
const WEEK = 7n * 86_400n;
const DAY = 86_400n;
const CHECKER_MIN = DEFAULT_MIN_STAKES_WEI.checker ?? 0n;
const SOFTWARE_MIN = DEFAULT_MIN_STAKES_WEI.software ?? 0n;
let chain: TestChain;

before(async () => {
  chain = await startTestChain({ unbondingDelaySec: 86_400n });
});
after(async () => {
  await chain?.close();
});

type Fn = (typeof stakingRegistryAbi)[number] extends infer E
  ? E extends { type: 'function'; name: infer N }
    ? N
    : never
  : never;

/** Sends as the product does: the estimate plus headroom (a bare estimate can fall short a block later). */
async function send(account: Account, functionName: Fn | 'approve', args: readonly unknown[], address?: Hex) {
  const call = {
    account,
    address: address ?? chain.stakingAddress,
    abi: (address ? athTokenAbi : stakingRegistryAbi) as typeof stakingRegistryAbi,
    functionName: functionName as 'stake',
    args: args as [bigint, Hex],
  };
  const gas = gasWithHeadroom(await chain.publicClient.estimateContractGas(call));
  const hash = await chain.walletFor(account).writeContract({ ...call, gas });
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
  assert.equal(receipt.status, 'success');
  return receipt;
}

async function revertName(account: Account, functionName: Fn, args: readonly unknown[]): Promise<string> {
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
    if (revert instanceof ContractFunctionRevertedError) {
      const name = revert.data?.errorName ?? 'unknown';
      const why = name === 'BadEvidence' ? `: ${String(revert.data?.args?.[1])}` : '';
      return `${name}${why}`;
    }
    throw error;
  }
  throw new Error(`${functionName} did not revert`);
}

const read = <T>(functionName: Fn, args: readonly unknown[] = []) =>
  chain.publicClient.readContract({
    address: chain.stakingAddress,
    abi: stakingRegistryAbi,
    functionName: functionName as 'operators',
    args: args as [Hex],
  }) as Promise<T>;

const operator = async (address: Hex) => {
  const [stake, rewards, lastChangeAt] = await read<readonly [bigint, bigint, bigint, Hex]>('operators', [address]);
  return { stake, rewards, lastChangeAt };
};

const balanceOf = (address: Hex) =>
  chain.publicClient.readContract({
    address: chain.tokenAddress,
    abi: athTokenAbi,
    functionName: 'balanceOf',
    args: [address],
  });

async function staker(tier: string, amount: bigint): Promise<LocalAccount> {
  const account = await chain.newFundedAccount(amount * 2n);
  await send(account, 'approve', [chain.stakingAddress, amount * 2n], chain.tokenAddress);
  await send(account, 'stake', [amount, tierId(tier)]);
  return account;
}

async function blockTime(): Promise<bigint> {
  return (await chain.publicClient.getBlock()).timestamp;
}

/** Moves the chain to `offsetSec` into a fresh epoch; returns that epoch. */
async function toFreshEpoch(offsetSec = 60n): Promise<bigint> {
  const epoch = (await blockTime()) / WEEK + 1n;
  await chain.setNextTimestamp(epoch * WEEK + offsetSec);
  return epoch;
}

async function fundRewards(amount: bigint) {
  const hash = await chain.walletFor(chain.admin).writeContract({
    address: chain.tokenAddress,
    abi: athTokenAbi,
    functionName: 'transfer',
    args: [chain.checkerPool.address, amount],
  });
  await chain.publicClient.waitForTransactionReceipt({ hash });
  await send(chain.checkerPool, 'approve', [chain.stakingAddress, amount], chain.tokenAddress);
}

type SignedReport = { report: CheckReport; signature: Hex };

async function signReport(checker: LocalAccount, fields: Partial<CheckReport> & { container: string; round: bigint }) {
  const report: CheckReport = {
    checker: checker.address,
    rttMicros: 0xffffffff,
    fpsMilli: 0,
    lossPpm: 0,
    ok: false,
    timestamp: await blockTime(),
    ...fields,
  };
  const signature = await checker.signTypedData({
    domain: checkerDomain({ chainId: chain.anvil.chainId, verifyingContract: chain.stakingAddress }),
    types: checkReportTypes,
    primaryType: 'CheckReport',
    message: report,
  });
  return { report, signature } satisfies SignedReport;
}

const ascending = (reports: SignedReport[]) =>
  [...reports].sort((a, b) => (a.report.checker.toLowerCase() < b.report.checker.toLowerCase() ? -1 : 1));

async function binding(provider: LocalAccount, container: string) {
  const nonce = '0123456789abcdef0123456789abcdef';
  return { nonce, signature: await provider.signMessage({ message: hostRegistrationMessage(container, nonce) }) };
}

let checkers: LocalAccount[] = [];

describe('StakingRegistry', () => {
  before(async () => {
    checkers = [];
    for (let i = 0; i < 4; i++) checkers.push(await staker('checker', CHECKER_MIN));
  });

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
    const account = await chain.newFundedAccount(CHECKER_MIN * 3n);
    await send(account, 'approve', [chain.stakingAddress, CHECKER_MIN * 3n], chain.tokenAddress);
    assert.equal(await revertName(account, 'stake', [CHECKER_MIN - 1n, tierId('checker')]), 'BelowMinimum');
    await send(account, 'stake', [CHECKER_MIN, tierId('checker')]);
    assert.equal(await revertName(account, 'stake', [CHECKER_MIN, tierId('software')]), 'TierMismatch');
    assert.equal(await revertName(account, 'requestUnbond', [1n]), 'BelowMinimum');
  });

  test('unbonding waits for its delay', async () => {
    const account = await staker('checker', 2_000n * ATH);
    await send(account, 'requestUnbond', [2_000n * ATH]);
    assert.equal(await revertName(account, 'withdrawUnbonded', []), 'NotUnlocked');
    await chain.increaseTime(86_401);
    await send(account, 'withdrawUnbonded', []);
    assert.equal(await balanceOf(account.address), 4_000n * ATH);
  });

  test('weekly rewards: only for stake held through a whole epoch from Thursday 00:00 UTC, once, even after a later change', async () => {
    const epoch = await toFreshEpoch();
    assert.equal(new Date(Number(epoch * WEEK) * 1000).getUTCDay(), 4, 'epochs start on Thursday');
    const early = await staker('checker', 1_000n * ATH); // staked in `epoch`: held through `epoch + 1`
    await chain.setNextTimestamp((epoch + 1n) * WEEK + 60n);
    const late = await staker('checker', 1_000n * ATH); // staked during `epoch + 1`
    assert.equal(
      await revertName(chain.checkerPool, 'creditRewards', [epoch + 1n, [early.address], [5n * ATH]]),
      'EpochNotOver',
    );
    await chain.setNextTimestamp((epoch + 2n) * WEEK + 60n);
    // A change after the epoch ended (more stake) does not take that epoch's reward away.
    await send(early, 'stake', [ATH, tierId('checker')]);
    assert.equal(await read<bigint>('stakeHeldThrough', [early.address, epoch + 1n]), 1_000n * ATH);
    assert.equal(await read<boolean>('isEligible', [late.address, epoch + 1n]), false);
    await fundRewards(10n * ATH);
    const poolBefore = await balanceOf(chain.checkerPool.address);
    const receipt = await send(chain.checkerPool, 'creditRewards', [
      epoch + 1n,
      [early.address, late.address],
      [5n * ATH, 3n * ATH],
    ]);
    const skipped = parseEventLogs({ abi: stakingRegistryAbi, eventName: 'RewardSkipped', logs: receipt.logs });
    assert.deepEqual(
      skipped.map((log) => [log.args.operator, log.args.reason]),
      [[late.address, 1]],
      'the late staker is skipped, not the batch',
    );
    assert.equal(
      poolBefore - (await balanceOf(chain.checkerPool.address)),
      5n * ATH,
      'only what was credited is pulled',
    );
    assert.equal((await operator(early.address)).rewards, 5n * ATH);
    // Once per epoch: a second credit for the same epoch is skipped as already paid, and pulls nothing.
    const again = await send(chain.checkerPool, 'creditRewards', [epoch + 1n, [early.address], [5n * ATH]]);
    assert.deepEqual(
      parseEventLogs({ abi: stakingRegistryAbi, eventName: 'RewardSkipped', logs: again.logs }).map(
        (l) => l.args.reason,
      ),
      [2],
    );
    assert.equal((await operator(early.address)).rewards, 5n * ATH);
    // Only the rewards role credits; the staker claims.
    assert.equal(
      await revertName(early, 'creditRewards', [epoch + 1n, [early.address], [1n]]),
      'AccessControlUnauthorizedAccount',
    );
    const before = await balanceOf(early.address);
    await send(early, 'claimRewards', []);
    assert.equal((await balanceOf(early.address)) - before, 5n * ATH);
  });

  test('checkers are paid per period, once, staked or not', async () => {
    const now = await blockTime();
    const start = (now / DAY - 2n) * DAY;
    const unstaked = await chain.newFundedAccount(0n);
    const [c0] = checkers;
    assert.ok(c0);
    assert.equal(
      await revertName(chain.checkerPool, 'payCheckers', [start, (now / DAY + 1n) * DAY, [c0.address], [ATH]]),
      'PeriodNotOver',
    );
    await fundRewards(3n * ATH);
    await send(chain.checkerPool, 'payCheckers', [start, start + DAY, [c0.address, unstaked.address], [ATH, 2n * ATH]]);
    assert.equal(await read<bigint>('checkerPaidUntil', [unstaked.address]), start + DAY);
    assert.equal((await operator(unstaked.address)).rewards, 2n * ATH);
    const again = await send(chain.checkerPool, 'payCheckers', [start, start + DAY, [c0.address], [ATH]]);
    assert.equal(parseEventLogs({ abi: stakingRegistryAbi, eventName: 'CheckerPaid', logs: again.logs }).length, 0);
  });

  describe('slashing a container', () => {
    test('needs a quorum of staked checkers’ signed failing reports and the operator’s host binding', async () => {
      const provider = await staker('software', SOFTWARE_MIN);
      const [c0, c1, c2] = checkers;
      assert.ok(c0 && c1 && c2);
      const container = 'host-slashed';
      const bind = await binding(provider, container);
      const failing = ascending([
        await signReport(c0, { container, round: 3n }),
        await signReport(c1, { container, round: 3n }),
      ]);
      const args = (reports: SignedReport[], b = bind, who: Hex = provider.address, kind = 0) => [
        who,
        kind,
        b,
        reports,
      ];
      // The meter is not the slasher.
      assert.equal(await revertName(chain.meter, 'slashContainer', args(failing)), 'AccessControlUnauthorizedAccount');
      // Made-up or insufficient evidence slashes nothing.
      assert.equal(
        await revertName(chain.slasher, 'slashContainer', args(failing.slice(0, 1))),
        'BadEvidence: below quorum',
      );
      assert.equal(
        await revertName(chain.slasher, 'slashContainer', args([...failing].reverse())),
        'BadEvidence: checkers not distinct and ascending',
      );
      assert.equal(
        await revertName(
          chain.slasher,
          'slashContainer',
          args([failing[0] as SignedReport, failing[0] as SignedReport]),
        ),
        'BadEvidence: checkers not distinct and ascending',
      );
      const unstaked = await chain.newFundedAccount(0n);
      assert.equal(
        await revertName(
          chain.slasher,
          'slashContainer',
          args(ascending([failing[0] as SignedReport, await signReport(unstaked, { container, round: 3n })])),
        ),
        'BadEvidence: checker not staked',
      );
      assert.equal(
        await revertName(
          chain.slasher,
          'slashContainer',
          args(ascending([failing[0] as SignedReport, await signReport(c2, { container, round: 3n, ok: true })])),
        ),
        'BadEvidence: verdict',
      );
      assert.equal(
        await revertName(
          chain.slasher,
          'slashContainer',
          args(ascending([failing[0] as SignedReport, await signReport(c2, { container, round: 4n })])),
        ),
        'BadEvidence: other round',
      );
      const forged = {
        ...(failing[1] as SignedReport),
        report: { ...(failing[1] as SignedReport).report, fpsMilli: 1 },
      };
      assert.equal(
        await revertName(chain.slasher, 'slashContainer', args(ascending([failing[0] as SignedReport, forged]))),
        'BadEvidence: signature',
      );
      // Reports about one provider's container cannot slash another operator.
      const other = await staker('software', SOFTWARE_MIN);
      assert.equal(
        await revertName(chain.slasher, 'slashContainer', args(failing, bind, other.address)),
        'BadEvidence: host binding',
      );
      assert.equal(
        await revertName(chain.slasher, 'slashContainer', args(failing, await binding(provider, 'host-other'))),
        'BadEvidence: host binding',
        'the binding names the reports’ container',
      );
      assert.equal(
        await revertName(chain.slasher, 'slashContainer', args(failing, bind, provider.address, 2)),
        'BadKind',
      );
      assert.equal((await operator(provider.address)).stake, SOFTWARE_MIN);
    });

    test('downtime takes ⅓ of the unit — unclaimed rewards first, then stake, then unbonding — once per failing round', async () => {
      const epoch = await toFreshEpoch();
      const provider = await staker('software', SOFTWARE_MIN + 300n * ATH);
      await chain.setNextTimestamp((epoch + 2n) * WEEK + 60n);
      await fundRewards(100n * ATH);
      await send(chain.checkerPool, 'creditRewards', [epoch + 1n, [provider.address], [100n * ATH]]);
      await send(provider, 'requestUnbond', [300n * ATH]);
      const treasuryBefore = await balanceOf(chain.treasury.address);
      const [c0, c1, c2] = checkers;
      assert.ok(c0 && c1 && c2);
      const container = 'host-down';
      const bind = await binding(provider, container);
      const round = async (n: bigint, by = [c0, c1, c2]) =>
        ascending(await Promise.all(by.map((c) => signReport(c, { container, round: n }))));
      const unit = SOFTWARE_MIN;
      const third = (unit * 3333n) / 10_000n;
      const receipt = await send(chain.slasher, 'slashContainer', [provider.address, 0, bind, await round(1n)]);
      const [slashed] = parseEventLogs({ abi: stakingRegistryAbi, eventName: 'Slashed', logs: receipt.logs });
      assert.equal(slashed?.args.fromRewards, 100n * ATH, 'unpaid rewards go first');
      assert.equal(slashed?.args.fromStake, third - 100n * ATH, 'then stake');
      assert.equal(slashed?.args.kind, 0);
      let state = await operator(provider.address);
      assert.equal(state.rewards, 0n);
      assert.equal(state.stake, SOFTWARE_MIN - (third - 100n * ATH));
      // The same failing round again, even with another set of reports, slashes nothing more.
      assert.equal(
        await revertName(chain.slasher, 'slashContainer', [provider.address, 0, bind, await round(1n, [c0, c2])]),
        'EvidenceUsed',
      );
      // Fraud (far below spec) takes the whole unit: the rest of the stake, then the unbonding stake.
      const fraud = await send(chain.slasher, 'slashContainer', [provider.address, 1, bind, await round(2n)]);
      const [second] = parseEventLogs({ abi: stakingRegistryAbi, eventName: 'Slashed', logs: fraud.logs });
      state = await operator(provider.address);
      const stakeLeft = SOFTWARE_MIN - (third - 100n * ATH);
      assert.equal(state.stake, 0n);
      assert.equal(second?.args.fromStake, stakeLeft);
      assert.equal(second?.args.fromUnbonding, 300n * ATH, 'then unbonding stake (all of it: the unit is more)');
      assert.equal(
        (await balanceOf(chain.treasury.address)) - treasuryBefore,
        third + stakeLeft + 300n * ATH,
        'slashed ATH goes to the treasury',
      );
      // A slash (from stake) ends the holding: the epoch in progress earns nothing.
      assert.equal(await read<bigint>('stakeHeldThrough', [provider.address, epoch + 2n]), 0n);
    });
  });

  describe('slashing a lying checker', () => {
    test('two reports against quorum majorities in one epoch: barred from rewards for a month and slashed', async () => {
      await toFreshEpoch();
      const liar = await staker('checker', CHECKER_MIN);
      const [c0, c1, c2] = checkers;
      assert.ok(c0 && c1 && c2);
      const lie = async (container: string, round: bigint) => ({
        told: await signReport(liar, { container, round, ok: true, fpsMilli: 60_000 }),
        majority: ascending([await signReport(c0, { container, round }), await signReport(c1, { container, round })]),
      });
      const lies = [await lie('host-a', 1n), await lie('host-b', 9n)];
      assert.equal(
        await revertName(chain.slasher, 'slashChecker', [liar.address, lies.slice(0, 1)]),
        'BadEvidence: too few contradictions',
      );
      const passed = { container: 'host-c', round: 1n, ok: true, fpsMilli: 60_000 };
      const agreed = {
        told: await signReport(liar, passed),
        majority: ascending([await signReport(c0, passed), await signReport(c1, passed)]),
      };
      assert.equal(
        await revertName(chain.slasher, 'slashChecker', [liar.address, [lies[0], agreed]]),
        'BadEvidence: verdict',
        'agreeing with the majority is no lie',
      );
      assert.equal(
        await revertName(chain.slasher, 'slashChecker', [c2.address, lies]),
        "BadEvidence: not the checker's report",
      );
      // A failing report outvoted by a passing majority is no lie: a host makes one at will by serving one probe badly.
      const outvoted = async (container: string) => ({
        told: await signReport(liar, { container, round: 1n }),
        majority: ascending([
          await signReport(c0, { container, round: 1n, ok: true, fpsMilli: 60_000 }),
          await signReport(c1, { container, round: 1n, ok: true, fpsMilli: 60_000 }),
        ]),
      });
      assert.equal(
        await revertName(chain.slasher, 'slashChecker', [
          liar.address,
          [await outvoted('host-d'), await outvoted('host-e')],
        ]),
        'BadEvidence: a failing report is no lie',
      );
      const receipt = await send(chain.slasher, 'slashChecker', [liar.address, lies]);
      const [slashed] = parseEventLogs({ abi: stakingRegistryAbi, eventName: 'Slashed', logs: receipt.logs });
      assert.equal(slashed?.args.fromStake, (CHECKER_MIN * 3333n) / 10_000n);
      assert.equal(slashed?.args.kind, 2);
      const barredUntil = await read<bigint>('rewardsBarredUntil', [liar.address]);
      assert.equal(barredUntil, (await blockTime()) + 30n * DAY);
      // Each contradicted report is used once.
      assert.equal(await revertName(chain.slasher, 'slashChecker', [liar.address, lies]), 'EvidenceUsed');
      // Barred: its pay is skipped.
      const start = ((await blockTime()) / DAY - 1n) * DAY;
      await fundRewards(ATH);
      const pay = await send(chain.checkerPool, 'payCheckers', [start, start + DAY, [liar.address], [ATH]]);
      assert.deepEqual(
        parseEventLogs({ abi: stakingRegistryAbi, eventName: 'RewardSkipped', logs: pay.logs }).map(
          (l) => l.args.reason,
        ),
        [3],
      );
    });
  });
});
