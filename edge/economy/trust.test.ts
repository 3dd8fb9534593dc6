/**
 * Earned trust, paid for real (issue 14), end to end on real parts: anvil with the real contracts (time travel
 * with evm_setNextBlockTimestamp across two Thursdays), the economy as `ath-edge signaling` runs it (PGlite
 * ledger, settlement worker, slash desk and sender, rewards job), real signaling over WebSocket, a scripted host
 * and scripted checkers that sign real EIP-712 CheckReports, and real pool money from sessions the settler
 * redeems on chain.
 *
 *   - a failing container is slashed once per evidence at ⅓ of its unit, with the signed reports as evidence,
 *     by the slasher key (not the meter's), and is taken out of matching;
 *   - a checker that contradicted two confirmed majorities in one epoch is barred and slashed;
 *   - across two Thursdays: the staker who joined mid-week is paid only from the second epoch; checkers are
 *     paid for agreeing reports, to the wei; Σ paid = what each period's pool held, on chain and in the ledger;
 *   - a crash between computing and paying pays exactly once.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { type Address, type Hex, type PrivateKeyAccount, parseEventLogs } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { DEFAULT_CHECK_SETTINGS } from '../../signaling/checkers/CheckerDesk.js';
import {
  DEFAULT_SIGNALING_SETTINGS,
  type RoundVerdict,
  type SignalingServer,
  startSignaling,
} from '../../signaling/index.js';
import {
  type ProviderStatus,
  type ServerMessageOf,
  sessionAuthTypes,
  sessionEscrowDomain,
} from '../../signaling/protocol/index.js';
import { connectTestHost, connectTestPlayer } from '../../signaling/testing/startTestSignaling.js';
import { connectTestChecker, signTestReport, type TestChecker } from '../../signaling/testing/TestChecker.js';
import type { TestPeer } from '../../signaling/testing/TestPeer.js';
import { athTokenAbi, DEFAULT_MIN_STAKES_WEI, stakingRegistryAbi, tierId } from '../chain/index.js';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import { DEFAULT_EDGE_CONFIG, type EdgeConfig } from '../config/EdgeConfig.js';
import {
  createSession,
  getSession,
  journalTotals,
  listCheckRounds,
  listRewardAllocations,
  listRewardPeriods,
  listSettlements,
  listSlashes,
  SYSTEM_ACCOUNTS,
} from '../ledger/index.js';
import { formatProviderStatus } from '../provider/formatProviderStatus.js';
import { meterSigner, meterTick } from '../settler/testing/settlementWorld.js';
import { RewardsJob } from './RewardsJob.js';
import { parseSlashEvidence } from './slashEvidence.js';
import { type Economy, startEconomy } from './startEconomy.js';

const ATH = 10n ** 18n;
const WEEK = 604_800n;
const DAY = 86_400n;
const SOFTWARE_MIN = DEFAULT_MIN_STAKES_WEI.software ?? 0n;
const CHECKER_MIN = DEFAULT_MIN_STAKES_WEI.checker ?? 0n;
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

let chain: TestChain;
let economy: Economy;
let server: SignalingServer;
let dataDir: string;
let config: EdgeConfig;
const checkers: TestChecker[] = [];
const checkerKeys: Hex[] = [];
const peers: TestPeer[] = [];
const tokenSecret = randomBytes(32);

async function until<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const registry = <T>(functionName: string, args: readonly unknown[] = []) =>
  chain.publicClient.readContract({
    address: chain.stakingAddress,
    abi: stakingRegistryAbi,
    functionName: functionName as 'operators',
    args: args as [Address],
  }) as unknown as Promise<T>;

const operator = async (address: Address) => {
  const [stakeWei, rewardsWei] = await registry<readonly [bigint, bigint]>('operators', [address]);
  return { stakeWei, rewardsWei };
};

async function chainNow(): Promise<bigint> {
  return (await chain.publicClient.getBlock({ blockTag: 'pending' })).timestamp;
}

/** Funds `account` from the admin and stakes `amount` in `tier`. */
async function stake(account: PrivateKeyAccount, tier: string, amount: bigint): Promise<void> {
  const admin = chain.walletFor(chain.admin);
  const wait = (hash: Hex) => chain.publicClient.waitForTransactionReceipt({ hash });
  await wait(await admin.sendTransaction({ to: account.address, value: ATH }));
  await wait(
    await admin.writeContract({
      address: chain.tokenAddress,
      abi: athTokenAbi,
      functionName: 'transfer',
      args: [account.address, amount],
    }),
  );
  const wallet = chain.walletFor(account);
  await wait(
    await wallet.writeContract({
      address: chain.tokenAddress,
      abi: athTokenAbi,
      functionName: 'approve',
      args: [chain.stakingAddress, amount],
    }),
  );
  await wait(
    await wallet.writeContract({
      address: chain.stakingAddress,
      abi: stakingRegistryAbi,
      functionName: 'stake',
      args: [amount, tierId(tier)],
    }),
  );
}

/** Every round signaling decided (the hub's `verdict` events), in order. */
const verdicts: RoundVerdict[] = [];

/**
 * A probe of `checker` got its slot (`probe-started`, as a real checker learns it) within `timeoutMs`; false when
 * it never did (its round closed first). Older probes' notices on the way are passed over.
 */
async function probeStarted(checker: TestChecker, sessionId: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const started = await checker.peer.next('probe-started', Math.max(1, deadline - Date.now())).catch(() => undefined);
    if (!started) return false;
    if (started.sessionId === sessionId) return true;
  }
}

/**
 * Checker `i` answers its next live assignment on `container` and returns the round signaling accepted the report
 * for; undefined when signaling dropped the checker (its connection closed, or its stake fell below the tier). A
 * failing report counts only for a probe that got a slot (CheckerDesk): it is sent once the probe holds one. Rounds
 * run every 200 ms here and close at their deadline unanswered while the test does something else, so an assignment
 * waiting in the connection's buffer may be stale: the desk refuses its report (ATH_ERR_NOT_ASSIGNED) and the next
 * assignment is answered — a report is done only when the desk says it took it.
 */
async function answer(i: number, container: string, ok: boolean): Promise<bigint | undefined> {
  const checker = checkers[i];
  assert.ok(checker);
  for (;;) {
    const assignment = await checker.peer.next('check-assignment', 30_000).catch((error: unknown): undefined => {
      if (checker.peer.isClosed) return undefined;
      throw error;
    });
    if (!assignment) return undefined;
    if (assignment.container !== container) continue;
    if (!ok && !(await probeStarted(checker, assignment.probeSessionId, assignment.deadlineMs + 5_000))) continue;
    checker.peer.send({
      type: 'check-report',
      ...(await signTestReport({
        account: checker.account,
        assignment,
        ok,
        fpsMilli: ok ? 60_000 : 0,
        rttMicros: ok ? 5_000 : 0xffffffff,
        domain: economy.checkerDomain,
      })),
    });
    for (;;) {
      const reply: ServerMessageOf<'report-accepted' | 'error'> | undefined = await checker.peer
        .nextOf(['report-accepted', 'error'], 30_000)
        .catch((error: unknown): undefined => {
          if (checker.peer.isClosed) return undefined;
          throw error;
        });
      if (!reply) return undefined;
      if (reply.type === 'report-accepted') return BigInt(reply.round);
      // Dropped below the checker tier: signaling says so and closes the connection.
      if (reply.code === 'ATH_ERR_STAKE_TOO_LOW') return undefined;
      if (reply.ref !== 'check-report') continue;
      if (reply.code === 'ATH_ERR_NOT_ASSIGNED') break;
      assert.fail(`checker ${i}'s report refused: ${reply.code} ${reply.message}`);
    }
  }
}

/**
 * Every checker answers a round of `container` (`ok(i)` says what checker i reports); resolves with its verdict once
 * signaling decided it (a checker dropped meanwhile leaves the round to its deadline).
 */
async function answerRound(container: string, ok: (i: number) => boolean): Promise<RoundVerdict> {
  const rounds = await Promise.all(checkers.map((_, i) => answer(i, container, ok(i))));
  const answered = [...new Set(rounds.filter((round) => round !== undefined))];
  assert.ok(answered.length > 0, `no checker answered a round of ${container}`);
  const decided = await until(
    `the round(s) ${answered.join(', ')} of ${container} decided`,
    async () => {
      const found = answered.map((round) => verdicts.find((v) => v.hostId === container && v.round === round));
      return found.every((v) => v !== undefined) ? found : undefined;
    },
    // A checker dropped mid-round leaves it to its deadline (20 s here), then to its reassignment's.
    60_000,
  );
  const last = decided.at(-1);
  assert.ok(last);
  return last;
}

/**
 * Every checker connected and staked at the checker tier's minimum. The first suite's lying checker is slashed below
 * the tier, dropped by signaling and topped up there; when that suite failed before it got there, this does it, so
 * the suites after it test their own behaviour rather than fail on its leftovers.
 */
async function ensureCheckers(): Promise<void> {
  // Slashes decided so far have landed: one still in flight would drop a checker in the middle of the next suite.
  await economy.trust?.desk.settled();
  await until(
    'no slash in flight',
    async () => {
      const inFlight = [
        ...(await listSlashes(economy.ledger, { state: 'pending' })),
        ...(await listSlashes(economy.ledger, { state: 'sent' })),
      ];
      return inFlight.length === 0 ? true : undefined;
    },
    60_000,
  );
  for (const [i, key] of checkerKeys.entries()) {
    const checker = checkers[i];
    assert.ok(checker);
    const { stakeWei } = await operator(checker.account.address);
    if (stakeWei < CHECKER_MIN) {
      // Signaling drops a checker below the tier once the registry's event reaches it; then it is topped up.
      await Promise.race([
        checker.peer.closed(),
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`checker ${i} below the tier was not dropped`)), 30_000).unref(),
        ),
      ]);
      await stake(checker.account, 'checker', CHECKER_MIN - stakeWei);
    }
    if (checker.peer.isClosed) {
      checkers[i] = await connectTestChecker({ wsNodeUrl: server.wsNodeUrl, chain }, { privateKey: key });
    }
  }
}

/** Real money into the rewards pool: a session the meter charges and the settler redeems on chain. */
async function payIntoPool(seconds: number): Promise<bigint> {
  const payer = await chain.newDepositedAccount(10n * ATH);
  const price = 10n ** 15n;
  const auth = {
    sessionId: `0x${randomBytes(32).toString('hex')}` as Hex,
    player: payer.address,
    provider: privateKeyToAccount(generatePrivateKey()).address,
    maxAmount: 5n * ATH,
    pricePerSecond: price,
    expiry: (await chainNow()) + 4n * 3600n,
  };
  const authSignature = await payer.signTypedData({
    domain: sessionEscrowDomain({ chainId: chain.anvil.chainId, verifyingContract: chain.escrowAddress }),
    types: sessionAuthTypes,
    primaryType: 'SessionAuth',
    message: auth,
  });
  await createSession(economy.ledger, {
    auth,
    authSignature,
    hostId: 'host-1',
    game: 'neon-drift',
    state: 'streaming',
  });
  await meterTick(economy.ledger, meterSigner(chain), chain.meter.address, {
    sessionId: auth.sessionId,
    tickIndex: 0,
    deliveredSec: seconds,
  });
  await until('the session settled on chain', async () => {
    const settled = (await getSession(economy.ledger, auth.sessionId))?.settledWei;
    return settled === price * BigInt(seconds) ? true : undefined;
  });
  return price * BigInt(seconds);
}

before(async () => {
  chain = await startTestChain({ withdrawDelaySec: 0n });
  dataDir = mkdtempSync(join(tmpdir(), 'i14-trust-'));
  config = structuredClone(DEFAULT_EDGE_CONFIG);
  config.dataDir = dataDir;
  config.chain = {
    ...config.chain,
    network: 'anvil',
    rpcUrl: chain.anvil.rpcUrl,
    chainId: chain.anvil.chainId,
    tokenAddress: chain.tokenAddress,
    escrowAddress: chain.escrowAddress,
    stakingAddress: chain.stakingAddress,
  };
  config.economy = {
    ...config.economy,
    faucet: false,
    settleIntervalMs: 500,
    slashing: { ...config.economy.slashing, intervalMs: 300 },
    // The test runs the rewards job's passes itself.
    rewards: { ...config.economy.rewards, intervalMs: 3_600_000 },
  };
  economy = await startEconomy({ config, log });
  server = await startSignaling({
    settings: {
      ...DEFAULT_SIGNALING_SETTINGS,
      tokenSecret,
      heartbeatIntervalMs: 600_000,
      checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 200, deadlineMs: 20_000, domain: economy.checkerDomain },
    },
    log,
    stakes: economy.stakes,
    drains: economy.drains,
    payments: economy.payments,
    routes: economy.routes,
  });
  await economy.attach(server.hub, server.metrics);
  server.hub.on('verdict', (verdict) => verdicts.push(verdict));
  for (let i = 0; i < 3; i++) {
    // Signaling admits staked checkers only: stake first, then register.
    const privateKey = generatePrivateKey();
    await stake(privateKeyToAccount(privateKey), 'checker', CHECKER_MIN);
    checkerKeys.push(privateKey);
    checkers.push(await connectTestChecker({ wsNodeUrl: server.wsNodeUrl, chain }, { privateKey }));
  }
});

after(async () => {
  for (const peer of peers) peer.terminate();
  for (const checker of checkers) checker.peer.terminate();
  await server?.close();
  await economy?.close();
  await chain?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('slashing on confirmed verdicts', { timeout: 120_000 }, () => {
  let providerKey: Hex;
  let provider: PrivateKeyAccount;

  test('a failing container is slashed once per evidence at ⅓ of its unit, by the slasher key, and leaves matching', async () => {
    providerKey = generatePrivateKey();
    provider = privateKeyToAccount(providerKey);
    await stake(provider, 'software', SOFTWARE_MIN);
    const host = await connectTestHost(
      { wsNodeUrl: server.wsNodeUrl, chain },
      { privateKey: providerKey, hostId: 'failing' },
    );
    const failing = host.hostId;
    peers.push(host);
    // Two rounds: two staked checkers find it down, the third says it is fine (a lie).
    for (let round = 0; round < 2; round++) {
      const verdict = await answerRound(failing, (i) => i === 2);
      assert.deepEqual([verdict.verdict, verdict.minority], ['fail', [checkers[2]?.account.address.toLowerCase()]]);
    }
    const slash = await until('the container slash confirmed', async () => {
      const [found] = await listSlashes(economy.ledger, { operatorAddress: provider.address, state: 'confirmed' });
      return found;
    });
    const third = (SOFTWARE_MIN * 3333n) / 10_000n;
    assert.equal(slash.kind, 'downtime');
    assert.equal(slash.slashedWei, third);
    assert.equal((await operator(provider.address)).stakeWei, SOFTWARE_MIN - third);
    // The evidence is the signed failing reports of staked checkers plus the provider's host binding.
    const evidence = parseSlashEvidence(slash.evidence);
    assert.equal(evidence.type, 'container');
    if (evidence.type === 'container') {
      assert.equal(evidence.reports.length, 2);
      assert.ok(evidence.reports.every((r) => !r.report.ok && r.report.container === failing));
      assert.equal(evidence.binding.signature, server.hub.hosts.get(failing)?.registration?.signature);
    }
    // Sent by the slasher, not the meter.
    assert.ok(slash.txHash);
    const tx = await chain.publicClient.getTransaction({ hash: slash.txHash });
    assert.equal(tx.from.toLowerCase(), chain.slasher.address.toLowerCase());
    // Once per evidence: the second failing round of the same incident is not slashed again.
    await economy.trust?.desk.settled();
    const all = await listSlashes(economy.ledger, { operatorAddress: provider.address });
    assert.equal(all.length, 1, 'one slash for one incident');
    // Out of matching until it tops up.
    assert.equal(server.hub.hosts.get(failing)?.drained, true);
    assert.ok((await operator(provider.address)).stakeWei < SOFTWARE_MIN);
    // The journal has it once.
    assert.deepEqual(await journalTotals(economy.ledger, provider.address.toLowerCase() as Address), {
      'slash:debit': third,
    });
    // The provider sees the slash with its evidence: `GET /api/providers/:address` and `ath-edge provider status`.
    const status = (await (
      await fetch(`${server.httpUrl}/api/providers/${provider.address}`)
    ).json()) as ProviderStatus;
    const shown = status.trust.slashes.find((s) => s.kind === 'downtime');
    assert.deepEqual(
      shown && [shown.state, shown.container, shown.slashedWei, shown.evidenceReports, shown.evidenceHash],
      ['confirmed', failing, String(third), 2, slash.evidenceHash],
    );
    assert.ok(status.trust.checks.some((round) => round.container === failing && !round.ok));
    assert.ok(BigInt(status.trust.schedule.nextEpochStartSec) > BigInt(status.trust.schedule.chainNowSec));
    const printed = formatProviderStatus(status);
    assert.match(printed, new RegExp(`downtime ${failing} round \\d+: .* confirmed`));
    assert.ok(printed.includes(`evidence ${slash.evidenceHash} (2 signed report(s)`), printed);
    assert.match(printed, /Rewards: +0 ATH claimable/);
    // A player of its game waits (it is the only host of the game) ...
    const player = await connectTestPlayer(server, tokenSecret);
    peers.push(player);
    player.send({ type: 'play', game: 'neon-drift', codecs: ['H264'] });
    await player.next('queued');
    // ... and passing checks alone do not bring it back: they lift the verdicts' drain (probation), not the
    // slashed stake's shortfall. (The lying checker may be gone by now, slashed below its tier: the others answer.)
    for (let pass = 0; server.hub.checkers.drainOf(provider.address) !== undefined; pass++) {
      assert.ok(pass < 6, 'probation passed within a few rounds');
      await answerRound(failing, () => true);
    }
    assert.equal(server.hub.hosts.get(failing)?.drained, true, 'still out: its stake is short of its tier');
    // (The host still gets its checks' probes: to it they are sessions like a player's.)
    await assert.rejects(player.next('session', 1_000), 'the waiting player is not sent to it');
    // It tops the slashed third up: back in matching, and the waiting player is served by it.
    await stake(provider, 'software', third);
    const assigned = await player.next('session', 20_000);
    assert.equal(assigned.hostId, failing);
    assert.equal(server.hub.hosts.get(failing)?.drained, false);
    player.terminate();
    host.terminate();
  });

  test('a checker with two reports against confirmed majorities in one epoch is barred for a month and slashed', async () => {
    const liar = checkers[2];
    assert.ok(liar);
    const slash = await until('the checker slash confirmed', async () => {
      const [found] = await listSlashes(economy.ledger, {
        operatorAddress: liar.account.address,
        kind: 'checker-lie',
        state: 'confirmed',
      });
      return found;
    });
    assert.equal(slash.slashedWei, (CHECKER_MIN * 3333n) / 10_000n);
    assert.equal((await operator(liar.account.address)).stakeWei, CHECKER_MIN - (slash.slashedWei ?? 0n));
    const barredUntil = await registry<bigint>('rewardsBarredUntil', [liar.account.address]);
    assert.equal(slash.barredUntilSec, barredUntil);
    assert.ok(barredUntil >= (await chainNow()) + 29n * DAY);
    const evidence = parseSlashEvidence(slash.evidence);
    assert.equal(evidence.type === 'checker' && evidence.lies.length, 2);
    // The API shows both slashes with their evidence.
    const listed = (await (await fetch(`${server.httpUrl}/api/slashes`)).json()) as {
      slashes: Array<{ kind: string; operatorAddress: string; evidence: unknown; state: string }>;
    };
    assert.deepEqual(
      listed.slashes.map((s) => [s.kind, s.operatorAddress, s.state]).sort(),
      [
        ['checker-lie', liar.account.address.toLowerCase(), 'confirmed'],
        ['downtime', provider.address.toLowerCase(), 'confirmed'],
      ].sort(),
    );
    // The checker sees it too, with its evidence (its contradicted reports and the majorities they contradicted).
    const status = (await (
      await fetch(`${server.httpUrl}/api/providers/${liar.account.address}`)
    ).json()) as ProviderStatus;
    const shown = status.trust.slashes.find((s) => s.kind === 'checker-lie');
    assert.equal(shown?.barredUntilSec, String(barredUntil));
    assert.ok((shown?.evidenceReports ?? 0) >= 4, `2 lies and the majorities: ${shown?.evidenceReports}`);
    assert.equal(status.trust.rewards.barredUntilSec, String(barredUntil));
    assert.match(formatProviderStatus(status), /barred until \d{4}-/);
    // Below the checker tier after the slash, signaling dropped it; topped up, it checks again.
    await liar.peer.closed();
    await stake(liar.account, 'checker', slash.slashedWei ?? 0n);
    const key = checkerKeys[2];
    assert.ok(key);
    checkers[2] = await connectTestChecker({ wsNodeUrl: server.wsNodeUrl, chain }, { privateKey: key });
  });
});

describe('a host cannot frame a checker', { timeout: 120_000 }, () => {
  before(ensureCheckers);

  test('a host that starves one checker’s probe in two rounds does not get that checker barred or slashed', async () => {
    // The host passes (two of three probes served well) and serves the third badly: that checker's honest failing
    // report is outvoted. Costless to the host, so it is no evidence of a lie (a pass against a failing majority
    // is: the host paid for it with a failed round).
    const framerKey = generatePrivateKey();
    await stake(privateKeyToAccount(framerKey), 'software', SOFTWARE_MIN);
    const host = await connectTestHost(
      { wsNodeUrl: server.wsNodeUrl, chain },
      { privateKey: framerKey, hostId: 'framer' },
    );
    peers.push(host);
    const framed = checkers[0];
    assert.ok(framed);
    await answerRound(host.hostId, (i) => i !== 0);
    await answerRound(host.hostId, (i) => i !== 0);
    await until('both rounds decided', async () =>
      (await listCheckRounds(economy.ledger, { container: host.hostId })).length >= 2 ? true : undefined,
    );
    await economy.trust?.desk.settled();
    const slashes = await listSlashes(economy.ledger, { operatorAddress: framed.account.address });
    assert.deepEqual(
      slashes.map((s) => [s.kind, s.state]),
      [],
      'the framed checker is not slashed',
    );
    assert.equal(await registry<bigint>('rewardsBarredUntil', [framed.account.address]), 0n, 'nor barred');
    host.terminate();
  });
});

describe('weekly rewards and checker pay across two Thursdays', { timeout: 240_000 }, () => {
  before(ensureCheckers);
  const early = privateKeyToAccount(generatePrivateKey());
  const late = privateKeyToAccount(generatePrivateKey());
  let epoch: bigint;
  let pooled = 0n;

  test('a staker who joined mid-week is paid only from the second epoch; checkers for agreeing reports, to the wei', async () => {
    await stake(early, 'software', SOFTWARE_MIN);
    const healthyKey = generatePrivateKey();
    await stake(privateKeyToAccount(healthyKey), 'software', SOFTWARE_MIN);
    // Thursday #0: the first epoch of the test starts.
    epoch = (await chainNow()) / WEEK + 1n;
    await chain.setNextTimestamp(epoch * WEEK + 60n);
    const host = await connectTestHost(
      { wsNodeUrl: server.wsNodeUrl, chain },
      { privateKey: healthyKey, hostId: 'healthy' },
    );
    const healthy = host.hostId;
    peers.push(host);
    for (let i = 0; i < 3; i++) await answerRound(healthy, () => true);
    pooled += await payIntoPool(1_000);
    const job = economy.trust?.rewards;
    assert.ok(job);
    await job.runSoon();
    // Mid-week: `late` joins.
    await chain.setNextTimestamp(epoch * WEEK + WEEK / 2n);
    await stake(late, 'software', SOFTWARE_MIN);
    for (let i = 0; i < 2; i++) await answerRound(healthy, () => true);
    pooled += await payIntoPool(500);
    await job.runSoon();
    // Thursday #1.
    await chain.setNextTimestamp((epoch + 1n) * WEEK + 60n);
    await job.runSoon();
    const [first] = await listRewardPeriods(economy.ledger, { kind: 'stakers', limit: 1 });
    assert.equal(first?.periodKey, epoch);
    const firstShares = await listRewardAllocations(economy.ledger, { kind: 'stakers', periodKey: epoch });
    const of = (shares: typeof firstShares, who: Address) =>
      shares.find((s) => s.operatorAddress === who.toLowerCase());
    assert.ok(of(firstShares, early.address), 'a staker of the whole week is paid');
    assert.equal(of(firstShares, late.address), undefined, 'the mid-week staker is not paid for that week');
    assert.equal((await operator(late.address)).rewardsWei, 0n);
    assert.equal((await operator(early.address)).rewardsWei, of(firstShares, early.address)?.amountWei);

    // The second week: both held it whole.
    for (let i = 0; i < 2; i++) await answerRound(healthy, () => true);
    pooled += await payIntoPool(700);
    await job.runSoon();
    await chain.setNextTimestamp((epoch + 2n) * WEEK + 60n);
    await job.runSoon();
    const secondShares = await listRewardAllocations(economy.ledger, { kind: 'stakers', periodKey: epoch + 1n });
    const lateShare = of(secondShares, late.address);
    assert.ok(lateShare, 'paid from the second epoch');
    assert.equal(lateShare.weight, SOFTWARE_MIN);
    assert.equal(lateShare.payoutState, 'confirmed');
    assert.equal((await operator(late.address)).rewardsWei, lateShare.amountWei);
    // Pro rata to the wei: every staker's share is floor(pool · stake / Σ stake) or one wei more, Σ = pool.
    const [second] = await listRewardPeriods(economy.ledger, { kind: 'stakers', limit: 1 });
    assert.ok(second);
    const total = secondShares.reduce((sum, s) => sum + s.weight, 0n);
    for (const share of secondShares) {
      const floor = (second.poolWei * share.weight) / total;
      assert.ok(share.amountWei === floor || share.amountWei === floor + 1n);
    }
    assert.equal(
      secondShares.reduce((sum, s) => sum + s.amountWei, 0n),
      second.poolWei,
    );

    // Checkers: paid in proportion to reports that agreed with confirmed majorities; the barred liar gets none.
    const checkerShares = await listRewardAllocations(economy.ledger, { kind: 'checkers', limit: 10_000 });
    const [honestA, honestB, liar] = checkers;
    assert.ok(honestA && honestB && liar);
    const paid = (who: Address) =>
      checkerShares
        .filter((s) => s.operatorAddress === who.toLowerCase() && s.state === 'paid')
        .reduce((sum, s) => sum + s.amountWei, 0n);
    assert.equal(paid(liar.account.address), 0n, 'a barred checker is not paid');
    assert.ok(paid(honestA.account.address) > 0n);
    // Same agreeing reports in every period → the same pay, within the one wei a remainder may add.
    const diff = paid(honestA.account.address) - paid(honestB.account.address);
    assert.ok(diff >= -7n && diff <= 7n, `honest checkers paid alike (diff ${diff})`);
    for (const period of await listRewardPeriods(economy.ledger, { kind: 'checkers', limit: 1000 })) {
      const shares = checkerShares.filter((s) => s.periodKey === period.periodKey);
      if (shares.length === 0) continue;
      const weights = shares.reduce((sum, s) => sum + s.weight, 0n);
      for (const share of shares) {
        const floor = (period.poolWei * share.weight) / weights;
        assert.ok(share.amountWei === floor || share.amountWei === floor + 1n, 'checker pay ∝ agreeing reports');
      }
    }
    // What each checker was credited on chain matches the ledger, to the wei.
    const events = await chain.publicClient.getContractEvents({
      address: chain.stakingAddress,
      abi: stakingRegistryAbi,
      eventName: 'CheckerPaid',
      fromBlock: 0n,
    });
    for (const checker of [honestA, honestB]) {
      const onChain = events
        .filter((e) => e.args.operator?.toLowerCase() === checker.account.address.toLowerCase())
        .reduce((sum, e) => sum + (e.args.amount ?? 0n), 0n);
      assert.equal(onChain, paid(checker.account.address));
    }
    host.terminate();
  });

  test('conservation: Σ rewards credited on chain = what the periods’ pools held = what the pool received', async () => {
    const periods = await listRewardPeriods(economy.ledger, { limit: 1000 });
    const allocated = periods.reduce((sum, p) => sum + p.allocatedWei, 0n);
    const credited = await chain.publicClient.getContractEvents({
      address: chain.stakingAddress,
      abi: stakingRegistryAbi,
      fromBlock: 0n,
    });
    const onChain = credited
      .filter((e) => e.eventName === 'RewardsCredited' || e.eventName === 'CheckerPaid')
      .reduce((sum, e) => sum + ((e.args as { amount?: bigint }).amount ?? 0n), 0n);
    // The contract test credits rewards on its own chain only: here every credit is the job's.
    assert.equal(onChain, allocated, 'Σ paid on chain = Σ allocated');
    const poolIn = (await journalTotals(economy.ledger, SYSTEM_ACCOUNTS.checkerPool))['checker_pool:credit'] ?? 0n;
    assert.equal(poolIn, (pooled * 2000n * 2500n) / 10_000n / 10_000n, 'the pool got 5 % of what was settled');
    const carried = periods.filter((p) => p.kind === 'checkers').reduce((sum, p) => sum + p.freshWei, 0n);
    assert.equal(carried, poolIn, 'every wei of the pool was attributed to exactly one period');
    // Each period paid what its pool held (every period here had recipients).
    for (const period of periods.filter((p) => p.recipients > 0)) assert.equal(period.allocatedWei, period.poolWei);
    const rewardDebits = (await journalTotals(economy.ledger, SYSTEM_ACCOUNTS.checkerPool))['reward:debit'] ?? 0n;
    assert.equal(rewardDebits, onChain, 'the journal debited the pool exactly what the chain credited');
  });

  test('a crash between computing an epoch and paying it pays it exactly once', async () => {
    await payIntoPool(300);
    await economy.trust?.rewards?.runSoon();
    await chain.setNextTimestamp((epoch + 3n) * WEEK + 60n);
    const running = economy.trust?.rewards;
    assert.ok(running);
    await running.close();
    const make = (hooks: Partial<ConstructorParameters<typeof RewardsJob>[0]>) =>
      new RewardsJob({
        ledger: economy.ledger,
        publicClient: chain.publicClient,
        walletClient: chain.walletFor(chain.checkerPool),
        stakingAddress: chain.stakingAddress,
        escrowAddress: chain.escrowAddress,
        tokenAddress: chain.tokenAddress,
        clock: economy.trust?.clock ?? assert.fail('no clock'),
        rules: { stakerShareBps: 4_000, checkerPeriodSec: 86_400, intervalMs: 3_600_000, chunkSize: 100 },
        workerId: `crash-${randomBytes(3).toString('hex')}`,
        log,
        leaseTtlMs: 3_000,
        ...hooks,
      });
    // Crash #1: right after computing, before paying anything.
    const crashAfterCompute = make({
      afterCompute: () => {
        throw new Error('crash after computing');
      },
    });
    await assert.rejects(crashAfterCompute.runSoon(), /crash after computing/);
    await crashAfterCompute.close();
    const [computed] = await listRewardPeriods(economy.ledger, { kind: 'stakers', limit: 1 });
    assert.equal(computed?.periodKey, epoch + 2n);
    const shares = await listRewardAllocations(economy.ledger, { kind: 'stakers', periodKey: epoch + 2n });
    assert.ok(shares.length > 0 && shares.every((s) => s.payoutState === 'pending'));
    const before = await operator(early.address);
    // Crash #2: after the payout transaction went out, before its receipt was recorded.
    await new Promise((resolve) => setTimeout(resolve, 3_100));
    const crashAfterBroadcast = make({
      afterBroadcast: () => {
        throw new Error('crash after broadcasting');
      },
    });
    await assert.rejects(crashAfterBroadcast.runSoon(), /crash after broadcasting/);
    await crashAfterBroadcast.close();
    await new Promise((resolve) => setTimeout(resolve, 3_100));
    const recovered = make({});
    await recovered.runSoon();
    await recovered.runSoon();
    await recovered.close();
    const paidShares = await listRewardAllocations(economy.ledger, { kind: 'stakers', periodKey: epoch + 2n });
    assert.ok(paidShares.every((s) => s.state === 'paid' && s.payoutState === 'confirmed'));
    const earlyShare = paidShares.find((s) => s.operatorAddress === early.address.toLowerCase());
    assert.ok(earlyShare);
    assert.equal((await operator(early.address)).rewardsWei - before.rewardsWei, earlyShare.amountWei, 'once');
    const credits = await chain.publicClient.getContractEvents({
      address: chain.stakingAddress,
      abi: stakingRegistryAbi,
      eventName: 'RewardsCredited',
      args: { epoch: epoch + 2n },
      fromBlock: 0n,
    });
    const perOperator = new Map<string, number>();
    for (const e of credits)
      perOperator.set(String(e.args.operator), (perOperator.get(String(e.args.operator)) ?? 0) + 1);
    assert.ok(
      [...perOperator.values()].every((n) => n === 1),
      'each operator credited once for the epoch',
    );
    assert.equal(
      credits.reduce((sum, e) => sum + (e.args.amount ?? 0n), 0n),
      paidShares.reduce((sum, s) => sum + s.amountWei, 0n),
    );
    // A staker claims.
    const claimable = (await operator(early.address)).rewardsWei;
    const wallet = chain.walletFor(early);
    const claim = await wallet.writeContract({
      address: chain.stakingAddress,
      abi: stakingRegistryAbi,
      functionName: 'claimRewards',
    });
    const receipt = await chain.publicClient.waitForTransactionReceipt({ hash: claim });
    const [claimed] = parseEventLogs({ abi: stakingRegistryAbi, eventName: 'RewardsClaimed', logs: receipt.logs });
    assert.equal(claimed?.args.amount, claimable);
    assert.equal((await operator(early.address)).rewardsWei, 0n);
    assert.ok((await listSettlements(economy.ledger, { state: 'failed' })).length === 0);
  });
});
