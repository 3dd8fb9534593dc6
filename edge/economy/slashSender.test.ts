/**
 * The SlashSender against a checker that leaves after its report: real anvil and StakingRegistry, a real PGlite
 * ledger, real EIP-712 CheckReports. A host's colluder in the failing majority reports the truth (it is paid and
 * not exposed), then unstakes once the slash is decided and before it is sent (`GET /api/slashes` shows it): the
 * registry refuses evidence with an unstaked checker in it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type { Address, Hex } from 'viem';
import { checkerDomain, checkReportTypes, hostRegistrationMessage } from '../../signaling/protocol/index.js';
import { DEFAULT_MIN_STAKES_WEI, stakingRegistryAbi } from '../chain/index.js';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import { type Ledger, listSlashes, openLedger, recordSlash } from '../ledger/index.js';
import { SlashSender } from './SlashSender.js';
import { type ContainerEvidence, containerEvidenceHash, toWireReport } from './slashEvidence.js';

const SOFTWARE_MIN = DEFAULT_MIN_STAKES_WEI.software ?? 0n;
const CHECKER_MIN = DEFAULT_MIN_STAKES_WEI.checker ?? 0n;
const log = pino({ level: 'silent' });

let chain: TestChain;
let ledger: Ledger;
before(async () => {
  chain = await startTestChain();
  ledger = await openLedger();
});
after(async () => {
  await ledger?.close();
  await chain?.close();
});

test('a checker that unstakes after the slash is decided does not void it: the rest of the quorum slashes', async () => {
  const provider = await chain.newStakedAccount('software');
  const checkers = await Promise.all([0, 1, 2].map(() => chain.newStakedAccount('checker')));
  const container = 'evader-host';
  const round = 1_765_000_000_000n;
  const nonce = randomBytes(16).toString('hex');
  const domain = checkerDomain({ chainId: chain.anvil.chainId, verifyingContract: chain.stakingAddress });
  const reports = await Promise.all(
    checkers.map(async (checker) => {
      const report = {
        container,
        checker: checker.address,
        round,
        rttMicros: 0xffffffff,
        fpsMilli: 0,
        lossPpm: 0,
        ok: false,
        timestamp: BigInt(Math.floor(Date.now() / 1000)),
      };
      const signature = await checker.signTypedData({
        domain,
        types: checkReportTypes,
        primaryType: 'CheckReport',
        message: report,
      });
      return { report: toWireReport(report), signature };
    }),
  );
  reports.sort((a, b) => (a.report.checker.toLowerCase() < b.report.checker.toLowerCase() ? -1 : 1));
  const evidence: ContainerEvidence = {
    type: 'container',
    operator: provider.address.toLowerCase(),
    container,
    round: round.toString(),
    kind: 'downtime',
    finding: 'down',
    expected: { fps: 60 },
    binding: { nonce, signature: await provider.signMessage({ message: hostRegistrationMessage(container, nonce) }) },
    reports,
  };
  const third = (SOFTWARE_MIN * 3333n) / 10_000n;
  await recordSlash(ledger, {
    operatorAddress: provider.address,
    amountWei: third,
    evidenceHash: containerEvidenceHash(container, round),
    evidence,
    reason: 'down while rendering',
    kind: 'downtime',
    container,
    round,
  });
  // The colluder leaves between the decision and the send.
  const colluder = checkers[0] ?? assert.fail('checkers');
  const wallet = chain.walletFor(colluder);
  await chain.publicClient.waitForTransactionReceipt({
    hash: await wallet.writeContract({
      address: chain.stakingAddress,
      abi: stakingRegistryAbi,
      functionName: 'requestUnbond',
      args: [CHECKER_MIN],
    }),
  });
  const sender = new SlashSender({
    ledger,
    publicClient: chain.publicClient,
    walletClient: chain.walletFor(chain.slasher),
    stakingAddress: chain.stakingAddress as Address,
    workerId: 'slash-sender-test',
    intervalMs: 3_600_000,
    log,
  });
  try {
    await sender.runSoon();
  } finally {
    await sender.close();
  }
  const [slash] = await listSlashes(ledger, { operatorAddress: provider.address });
  assert.deepEqual([slash?.state, slash?.slashedWei, slash?.lastError ?? null], ['confirmed', third, null]);
  const [stakeWei] = (await chain.publicClient.readContract({
    address: chain.stakingAddress,
    abi: stakingRegistryAbi,
    functionName: 'operators',
    args: [provider.address],
  })) as readonly [bigint, bigint, bigint, Hex];
  assert.equal(stakeWei, SOFTWARE_MIN - third);
});
