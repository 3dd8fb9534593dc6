/**
 * The meter on real parts: a real signaling hub (scripted host and player over WebSocket), the real payment
 * desk checking a real SessionAuth against the escrow on anvil, an in-memory PGlite ledger, real checkers'
 * verdicts. Only the meter's clock is the test's, so seconds are exact and no test waits for them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { pino } from 'pino';
import {
  type Account,
  type Address,
  type Hex,
  hashTypedData,
  type PrivateKeyAccount,
  recoverTypedDataAddress,
} from 'viem';
import { createMetrics, SIGNALING_METRICS } from '../../metrics/index.js';
import { DEFAULT_CHECK_SETTINGS } from '../../signaling/checkers/CheckerDesk.js';
import type { DeliveryContradiction } from '../../signaling/index.js';
import {
  deliveryReceiptSigner,
  type ServerMessageOf,
  sessionAuthTypes,
  sessionEscrowDomain,
  signDeliveryReceipt,
  usageTypes,
  weiToString,
} from '../../signaling/protocol/index.js';
import { startTestSignaling, type TestSignaling } from '../../signaling/testing/startTestSignaling.js';
import { connectTestChecker, signTestReport } from '../../signaling/testing/TestChecker.js';
import type { TestPeer } from '../../signaling/testing/TestPeer.js';
import { waitUntil } from '../../signaling/testing/waitFor.js';
import { sessionEscrowAbi } from '../chain/index.js';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import { paymentDeskOnTestChain } from '../economy/testing/paymentDeskOnTestChain.js';
import {
  getSession,
  type Ledger,
  latestVoucher,
  listSettlements,
  listUsageTicks,
  openLedger,
  sessionAuthOf,
} from '../ledger/index.js';
import { METER_END_MESSAGES, type Meter } from './Meter.js';
import { authorizeTestSession, leaseTestSession, settleAndCheck, testMeter } from './testing/paidSessions.js';

const PRICE = 10n ** 15n;
const CHECKER = '0x00000000000000000000000000000000000c4ec4' as const;
const TICK_MS = 5_000;
const FRESH_MS = 6_000;
const EXPIRY_MARGIN_SEC = 900;
const SILENT_PAUSE_MS = 20_000;
const SILENT_END_MS = 30_000;
const DISPUTE_END_MS = 20_000;
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

let chain: TestChain;
let ledger: Ledger;
let server: TestSignaling;
let meter: Meter;
const secret = randomBytes(32);
const peers: TestPeer[] = [];
/** Every provider paid in this file (payers are found from the escrow's Deposited events). */
const earners: Address[] = [];
/** The meter's clock. */
let clock = 1_700_000_000_000;

before(async () => {
  chain = await startTestChain({ withdrawDelaySec: 0n });
  ledger = await openLedger({});
  const payments = paymentDeskOnTestChain({ chain, ledger, log });
  const metrics = createMetrics({ keys: SIGNALING_METRICS });
  server = await startTestSignaling({
    chain,
    tokenSecret: secret,
    // Scripted hosts send no heartbeats; the meter's tests decide when a host is quiet.
    heartbeatIntervalMs: 600_000,
    // One checker decides here (the meter's reaction to a verdict is tested, not the quorum).
    checks: {
      ...DEFAULT_CHECK_SETTINGS,
      checkersPerContainer: 1,
      minResponders: 1,
      intervalMs: 300,
      deadlineMs: 60_000,
      // Its hosts serve a player: check them every round anyway, from the player's first second on.
      busyDeferralMs: 0,
      startupQuietMs: 0,
      // One payer whose session contradicts its host's signed receipts drains the provider here (default 3), whatever
      // its record with other providers (default: 600 s of it; CheckerDesk.test tests that rule).
      contradictedPlayersToDrain: 1,
      contradictionMinPayerSec: 0,
    },
    metrics,
    payments,
  });
  meter = testMeter({
    chain,
    hub: server.hub,
    ledger,
    escrow: {
      balanceWei: async (payer) =>
        (
          await chain.publicClient.readContract({
            address: chain.escrowAddress,
            abi: sessionEscrowAbi,
            functionName: 'accounts',
            args: [payer],
          })
        )[0],
    },
    settings: {
      tickSec: TICK_MS / 1000,
      fpsFloor: 20,
      reportFreshMs: FRESH_MS,
      expiryMarginSec: EXPIRY_MARGIN_SEC,
      silentPauseMs: SILENT_PAUSE_MS,
      silentEndMs: SILENT_END_MS,
      disputeEndMs: DISPUTE_END_MS,
      checkerFreshMs: 30_000,
    },
    log,
    metrics,
    now: () => clock,
  });
});

// Property 7 after every billing rule: what the meter billed settles on chain; the escrow holds exactly what it
// owes, the ledger's settled amounts are the chain's claims, and no charge is refused for good.
afterEach(async () => {
  await meter.idle();
  await settleAndCheck(chain, ledger, earners);
  const stuck = (await listSettlements(ledger)).filter((row) => !['confirmed', 'superseded'].includes(row.state));
  assert.deepEqual(
    stuck.map((row) => [row.sessionId, row.state, row.lastError]),
    [],
    'every charge billed so far settled on chain',
  );
});

after(async () => {
  await meter?.close();
  for (const peer of peers) peer.terminate();
  await server?.close();
  await ledger?.close();
  await chain?.close();
});

type Paid = {
  sessionId: Hex;
  payer: Account;
  host: TestPeer;
  player: TestPeer;
  hostId: string;
  /**
   * Sends a report from one side and waits until the hub (and so the meter) has it. The host's carries its signed
   * delivery receipt; each side's cumulative frame count (frames sent, frames decoded) grows by `fps` × the seconds
   * of the meter's clock since that side's last report, or by `frames` when given.
   */
  report(source: 'host' | 'player', fps: number, options?: { inputIdleMs?: number; frames?: number }): Promise<void>;
  /** The host's provider key (it signs the receipts). */
  hostAccount: PrivateKeyAccount;
  /** Both sides at 60 fps. */
  bothAlive(): Promise<void>;
  /** Moves the meter's clock and runs what is due. */
  advance(ms: number): Promise<void>;
  ticks(): Promise<number[]>;
};

/** A leased, streaming session whose player authorized `maxSeconds` of play from an escrow of `depositWei`. */
async function paidSession({
  maxSeconds = 3600n,
  depositWei = PRICE * 3600n,
}: {
  maxSeconds?: bigint;
  depositWei?: bigint;
} = {}): Promise<Paid> {
  const payer = await chain.newDepositedAccount(depositWei);
  const hostAccount = await chain.newStakedAccount('software');
  // Two slots: the player's, and a free one for the checkers' probes (a probe that never gets a slot measures
  // nothing, and its report does not count).
  const leased = await leaseTestSession({
    server,
    secret,
    name: `meter-${randomBytes(3).toString('hex')}`,
    title: 'Meter test',
    priceWei: PRICE,
    slots: 2,
    privateKey: hostAccount.privateKey,
  });
  const { host, player } = leased;
  peers.push(host, player);
  earners.push(leased.provider);
  const auth = await authorizeTestSession(chain, leased, payer, PRICE * maxSeconds);
  host.send({ type: 'session-started', sessionId: auth.sessionId });
  await waitUntil(() => server.hub.getSession(auth.sessionId)?.state === 'streaming');

  const counted = { host: { frames: 0, atMs: clock }, player: { frames: 0, atMs: clock } };
  let seq = 0;
  const report = async (
    source: 'host' | 'player',
    fps: number,
    { inputIdleMs = 0, frames = undefined as number | undefined } = {},
  ) => {
    const count = counted[source];
    count.frames += frames ?? Math.round((fps * (clock - count.atMs)) / 1000);
    count.atMs = clock;
    const arrived = new Promise<void>((resolve) => {
      const off = server.hub.on('report', (r) => {
        if (r.sessionId !== auth.sessionId || r.source !== source) return;
        off();
        resolve();
      });
    });
    if (source === 'host') {
      const figures = { sessionId: auth.sessionId, fpsMilli: fps * 1000, framesSent: count.frames, bitrateBps: 1 };
      seq += 1;
      host.send({
        type: 'host-report',
        ...figures,
        inputIdleMs,
        receipt: await signDeliveryReceipt({ account: hostAccount, report: figures, seq, timestampMs: clock }),
      });
    } else {
      player.send({
        type: 'player-report',
        sessionId: auth.sessionId,
        fpsMilli: fps * 1000,
        rttMicros: 5_000,
        framesDecoded: count.frames,
        packetsLost: 0,
      });
    }
    await arrived;
  };
  return {
    sessionId: auth.sessionId,
    payer,
    host,
    player,
    hostId: host.hostId,
    report,
    hostAccount,
    bothAlive: async () => {
      await report('host', 60);
      await report('player', 60);
    },
    advance: async (ms) => {
      clock += ms;
      await meter.tickNow();
    },
    ticks: async () => (await listUsageTicks(ledger, { sessionId: auth.sessionId })).map((t) => t.deliveredSec),
  };
}

/**
 * The checker answers the rounds of the session's host it is assigned (probes beside the session) with signed
 * reports until one of them reaches the meter as an observation of the session (a round under way at the
 * dispute does not count for it; the sampling round after it does). Returns what was observed.
 */
async function sampleDisputed(
  s: Paid,
  checker: Awaited<ReturnType<typeof connectTestChecker>>,
  { ok, fpsMilli }: { ok: boolean; fpsMilli: number },
): Promise<number[]> {
  const observed: number[] = [];
  const offReport = server.hub.on('report', (r) => {
    if (r.sessionId === s.sessionId && r.source === 'checker') observed.push(r.fpsMilli);
  });
  try {
    while (observed.length === 0) {
      const assignment = await checker.peer.next('check-assignment', 10_000);
      if (assignment.container !== s.hostId) continue;
      assert.equal(assignment.expected.game, server.hub.getSession(s.sessionId)?.game);
      const decided = new Promise<void>((resolve) => {
        const off = server.hub.on('verdict', (v) => {
          if (v.hostId !== s.hostId || v.round !== BigInt(assignment.round)) return;
          off();
          resolve();
        });
      });
      const signed = await signTestReport({ account: checker.account, assignment, ok, fpsMilli });
      checker.peer.send({ type: 'check-report', ...signed });
      await decided;
    }
    return observed;
  } finally {
    offReport();
  }
}

/** Ends a session the way a player does, and waits until the meter has closed it in the ledger. */
async function quit(s: Paid): Promise<ServerMessageOf<'session-ended'>> {
  s.player.send({ type: 'quit', sessionId: s.sessionId });
  const ended = await s.player.next('session-ended');
  await meter.idle();
  return ended;
}

describe('Meter', () => {
  test('every tick turns verified delivered seconds × the price into a cumulative voucher the meter signed', async () => {
    const s = await paidSession();
    await s.bothAlive();
    await s.advance(TICK_MS);
    await s.bothAlive();
    await s.advance(TICK_MS);
    assert.deepEqual(await s.ticks(), [5, 5]);
    const session = await getSession(ledger, s.sessionId);
    assert.equal(session?.deliveredSec, 10);
    assert.equal(session?.cumulativeWei, 10n * PRICE);

    const voucher = await latestVoucher(ledger, s.sessionId);
    assert.ok(voucher);
    assert.equal(voucher.cumulativeWei, 10n * PRICE);
    assert.equal(voucher.deliveredSec, 10);
    const signer = await recoverTypedDataAddress({
      domain: sessionEscrowDomain({ chainId: chain.anvil.chainId, verifyingContract: chain.escrowAddress }),
      types: usageTypes,
      primaryType: 'Usage',
      message: {
        sessionId: s.sessionId,
        // The voucher names the authorization it pays.
        authHash: hashTypedData({
          domain: sessionEscrowDomain({ chainId: chain.anvil.chainId, verifyingContract: chain.escrowAddress }),
          types: sessionAuthTypes,
          primaryType: 'SessionAuth',
          message: sessionAuthOf(session as NonNullable<typeof session>),
        }),
        cumulativeAmount: voucher.cumulativeWei,
        deliveredSeconds: 10n,
      },
      signature: voucher.signature,
    });
    assert.equal(signer, chain.meter.address);
    // Queued for settlement: the outbox holds the highest voucher.
    const queued = await listSettlements(ledger, { sessionId: s.sessionId });
    assert.ok(queued.some((row) => row.state === 'pending' && row.cumulativeWei === 10n * PRICE));
    // The player's ticker saw both charges.
    assert.equal((await s.player.next('charge')).cumulativeWei, weiToString(5n * PRICE));
    assert.equal((await s.player.next('charge')).cumulativeWei, weiToString(10n * PRICE));

    // Quitting mid-interval bills the whole seconds delivered since the last tick.
    await s.bothAlive();
    clock += 2_400;
    await quit(s);
    assert.deepEqual(await s.ticks(), [5, 5, 2]);
    const ended = await getSession(ledger, s.sessionId);
    assert.equal(ended?.state, 'ended');
    assert.equal(ended?.cumulativeWei, 12n * PRICE);
  });

  test('the host’s word bills; no bill while the host is quiet, under the fps floor, or disputed by the player', async () => {
    const s = await paidSession();
    // Only the host has reported: its word is the evidence (the player's silence does not stop the billing).
    await s.report('host', 60);
    await s.advance(TICK_MS);
    await s.bothAlive();
    await s.advance(TICK_MS);
    // The host goes quiet; the player keeps reporting. Its last report vouches for FRESH_MS (6 s) only.
    await s.report('player', 60);
    await s.advance(TICK_MS);
    await s.report('player', 60);
    await s.advance(TICK_MS);
    // The host is back: billing restarts from its report, not back over the gap.
    await s.bothAlive();
    await s.advance(TICK_MS);
    // The host renders under the floor (10 fps < 20) from 2 s into the tick.
    await s.bothAlive();
    clock += 2_000;
    await s.report('host', 10);
    await s.advance(TICK_MS - 2_000);
    // The player's stream stalls (0 fps) although the host is fine: a dispute, held until a checker looks.
    await s.report('host', 60);
    await s.report('player', 0);
    await s.advance(TICK_MS);
    assert.deepEqual(await s.ticks(), [5, 5, 1, 0, 5, 2, 0]);
    const session = await getSession(ledger, s.sessionId);
    assert.equal(session?.cumulativeWei, 18n * PRICE);
    assert.equal((await latestVoucher(ledger, s.sessionId))?.cumulativeWei, 18n * PRICE);
    await quit(s);
  });

  test('a failed checker verdict stops the billing until a verdict passes again', async () => {
    const s = await paidSession();
    await s.bothAlive();
    await s.advance(TICK_MS);

    const checker = await connectTestChecker(server);
    peers.push(checker.peer);
    const answer = async (ok: boolean) => {
      for (;;) {
        const assignment = await checker.peer.next('check-assignment', 10_000);
        if (assignment.container !== s.hostId) continue;
        const verdict = new Promise<string>((resolve) => {
          const off = server.hub.on('verdict', (v) => {
            if (v.hostId !== s.hostId) return;
            off();
            resolve(v.verdict);
          });
        });
        checker.peer.send({
          type: 'check-report',
          ...(await signTestReport({ account: checker.account, assignment, ok })),
        });
        return verdict;
      }
    };
    assert.equal(await answer(false), 'fail');
    await s.bothAlive();
    await s.advance(TICK_MS);
    await s.bothAlive();
    await s.advance(TICK_MS);
    assert.equal(await answer(true), 'ok');
    await s.bothAlive();
    await s.advance(TICK_MS);
    checker.peer.terminate();
    assert.deepEqual(await s.ticks(), [5, 0, 0, 5]);
    assert.equal((await getSession(ledger, s.sessionId))?.cumulativeWei, 10n * PRICE);
    await quit(s);
  });

  test('when the next tick would pass the authorization, the session ends with a clear message', async () => {
    // 62 s authorized: 12 full ticks fit (60 s), a 13th would not.
    const s = await paidSession({ maxSeconds: 62n });
    for (let i = 0; i < 12; i += 1) {
      await s.bothAlive();
      await s.advance(TICK_MS);
    }
    const ended = await s.player.next('session-ended');
    assert.equal(ended.reason, 'insufficient-funds');
    assert.equal(ended.message, METER_END_MESSAGES.authorization);
    await meter.idle();
    const session = await getSession(ledger, s.sessionId);
    assert.equal(session?.state, 'ended');
    assert.equal(session?.cumulativeWei, 60n * PRICE);
    assert.ok((session?.cumulativeWei ?? 0n) <= (session?.authMaxWei ?? 0n));
  });

  test('when the escrow runs short (a withdrawal mid-session), the last tick is capped and the session ends', async () => {
    const s = await paidSession({ maxSeconds: 100n, depositWei: 100n * PRICE });
    await s.bothAlive();
    await s.advance(TICK_MS);
    await s.bothAlive();
    await s.advance(TICK_MS);
    // 10 s charged, not settled yet (no settler here); the player withdraws 87 s worth: 3 s remain payable.
    const wallet = chain.walletFor(s.payer);
    for (const functionName of ['requestWithdraw', 'withdraw'] as const) {
      const hash = await wallet.writeContract({
        address: chain.escrowAddress,
        abi: sessionEscrowAbi,
        functionName,
        ...(functionName === 'requestWithdraw' ? { args: [87n * PRICE] } : {}),
      } as Parameters<typeof wallet.writeContract>[0]);
      assert.equal((await chain.publicClient.waitForTransactionReceipt({ hash })).status, 'success');
    }
    await s.bothAlive();
    await s.advance(TICK_MS);
    const ended = await s.player.next('session-ended');
    assert.equal(ended.reason, 'insufficient-funds');
    assert.equal(ended.message, METER_END_MESSAGES.escrow);
    await meter.idle();
    assert.deepEqual(await s.ticks(), [5, 5, 3, 0]);
    const session = await getSession(ledger, s.sessionId);
    assert.equal(session?.cumulativeWei, 13n * PRICE);
    const [balance] = await chain.publicClient.readContract({
      address: chain.escrowAddress,
      abi: sessionEscrowAbi,
      functionName: 'accounts',
      args: [s.payer.address],
    });
    assert.equal(balance, 13n * PRICE, 'every charged wei is still in the escrow');
  });

  test('a session ends before its authorization expires, with a message that says why', async () => {
    const s = await paidSession();
    const session = await getSession(ledger, s.sessionId);
    assert.ok(session);
    const saved = clock;
    try {
      // The meter's clock reaches the point where one more tick would leave less than the settlement margin.
      clock = (Number(session.authExpirySec) - EXPIRY_MARGIN_SEC - 3 * (TICK_MS / 1000)) * 1000;
      await s.bothAlive();
      await s.advance(TICK_MS);
      assert.equal(server.hub.getSession(s.sessionId)?.state, 'streaming', 'a tick short of the margin it goes on');
      await s.bothAlive();
      await s.advance(TICK_MS);
      const ended = await s.player.next('session-ended');
      assert.equal(ended.message, METER_END_MESSAGES.expiry);
      await meter.idle();
      const closed = await getSession(ledger, s.sessionId);
      assert.equal(closed?.state, 'ended');
      assert.ok(
        BigInt(Math.floor(clock / 1000)) + BigInt(EXPIRY_MARGIN_SEC) <= (closed?.authExpirySec ?? 0n),
        'it ended with the whole settlement margin left',
      );
      assert.ok((closed?.cumulativeWei ?? 0n) > 0n, 'what was delivered is billed');
    } finally {
      clock = saved;
    }
  });
});

describe('Meter: billing rests on evidence the payer cannot withhold (issue 12)', () => {
  test('a player that sends no reports (but plays) is billed for what the host delivered', async () => {
    const s = await paidSession();
    // The hostile client plays (its input reaches the host) and never reports.
    for (let i = 0; i < 6; i += 1) {
      await s.report('host', 60, { inputIdleMs: 500 });
      await s.advance(TICK_MS);
    }
    const ticks = await s.ticks();
    assert.equal(
      ticks.reduce((sum, t) => sum + t, 0),
      30,
      `30 s delivered by the host's word: ${ticks}`,
    );
    assert.equal(server.hub.getSession(s.sessionId)?.state, 'streaming');
    await quit(s);
  });

  test('a player reporting 0 fps disputes: billing waits for a checker, the session is flagged, and a checker settles it', async () => {
    const s = await paidSession();
    const disputes: string[] = [];
    const off = server.hub.on('deliveryDisputed', (d) => disputes.push(d.sessionId));
    try {
      await s.bothAlive();
      await s.advance(TICK_MS);
      // The player now claims a black screen while the host streams 60 fps and the input keeps coming — and its
      // own decoder goes on counting 60 frames a second (its counter-report to the host's receipts).
      await s.report('host', 60);
      await s.report('player', 0, { frames: 300 });
      await s.advance(TICK_MS);
      assert.deepEqual(disputes, [s.sessionId], 'flagged for the checkers, once');
      await s.report('host', 60);
      await s.report('player', 0, { frames: 300 });
      // A checker observes the host's stream: it is delivered, and the player's decoder counted the session's
      // frames. The held stretch is billed, and billing goes on.
      server.hub.reportCheckerObservation({ sessionId: s.sessionId, checkerAddress: CHECKER, fpsMilli: 58_000 });
      await s.report('host', 60);
      await s.report('player', 0, { frames: 0 });
      await s.advance(TICK_MS);
      assert.deepEqual(await s.ticks(), [5, 0, 10], 'the disputed 5 s were held, then billed on the checker’s word');
      assert.equal(server.hub.getSession(s.sessionId)?.state, 'streaming');
    } finally {
      off();
    }
    await quit(s);
  });

  test('a dispute brings the checkers at once; what their majority measured settles it (issue 14: live sampling)', async () => {
    // Each case: the player disputes, the checkers sample the host (a probe beside the session, on its game), and
    // their signed measurement — with the session's own evidence — decides the held time.
    for (const { checkerFps, ok, decodedPer5s, expectedTicks } of [
      // A lying player (its own decoder counted 60 frames a second): the checkers saw the host deliver; the held
      // 5 s are billed and billing goes on.
      { checkerFps: 58, ok: true, decodedPer5s: 300, expectedTicks: [5, 0, 10] },
      // A host that serves its players 10 fps (its earlier probes were good): the held 5 s are dropped and
      // billing stops although the host says 60.
      { checkerFps: 10, ok: false, decodedPer5s: 50, expectedTicks: [5, 0, 0] },
    ]) {
      const s = await paidSession();
      const checker = await connectTestChecker(server);
      peers.push(checker.peer);
      try {
        await s.bothAlive();
        await s.advance(TICK_MS);
        await s.report('host', 60);
        await s.report('player', 0, { frames: decodedPer5s });
        await s.advance(TICK_MS);
        await s.report('host', 60);
        await s.report('player', 0, { frames: decodedPer5s });
        const observed = await sampleDisputed(s, checker, { ok, fpsMilli: checkerFps * 1000 });
        assert.deepEqual(observed, [checkerFps * 1000], 'the majority’s measurement, as an observation of the session');
        await s.report('host', 60);
        await s.report('player', 0, { frames: 0 });
        await s.advance(TICK_MS);
        assert.deepEqual(await s.ticks(), expectedTicks);
      } finally {
        checker.peer.terminate();
      }
      await quit(s);
    }
  });

  test('a host that serves good probes and a degraded live session is caught: its signed receipts against the player’s decoder (issue 14)', async () => {
    // The two-faced host streams its probes perfectly and this session at 8 fps, while its host reports — and the
    // receipts it signs with its provider key — claim 60. The player disputes; the checkers sample the host and
    // find it fine. That probe says nothing about this session: the player's decoder counted 8 frames a second
    // over the disputed stretch, against 60 the host signed for. The held time is not billed, the session is not
    // billed on the host's word while the dispute stands, and the signed receipts go out as evidence.
    const s = await paidSession();
    const checker = await connectTestChecker(server);
    peers.push(checker.peer);
    const contradictions: Array<DeliveryContradiction & { payerAddress: string | undefined }> = [];
    const off = server.hub.on('deliveryContradicted', (c) => contradictions.push(c));
    try {
      await s.bothAlive();
      await s.advance(TICK_MS);
      await s.report('host', 60);
      await s.report('player', 8);
      await s.advance(TICK_MS);
      await s.report('host', 60);
      await s.report('player', 8);
      // The checkers' probe of the host (beside the session, on its game) is good.
      assert.deepEqual(await sampleDisputed(s, checker, { ok: true, fpsMilli: 59_000 }), [59_000]);
      await s.report('host', 60);
      await s.report('player', 8);
      await s.advance(TICK_MS);
      assert.deepEqual(await s.ticks(), [5, 0, 0], 'the disputed seconds are not billed on a probe of the host');
      // The evidence: the host's own signed receipts (its provider key) for 60 fps, against 8 decoded — and the
      // payer's record with other providers from the ledger (none: this is its only session).
      await waitUntil(() => contradictions.length > 0);
      assert.equal(contradictions.length, 1);
      const [evidence] = contradictions;
      assert.ok(evidence);
      assert.equal(evidence.payerDeliveredSecElsewhere, 0);
      assert.equal(evidence.hostId, s.hostId);
      assert.equal(evidence.payerAddress?.toLowerCase(), s.payer.address.toLowerCase());
      assert.equal(evidence.decodedFpsMilli, 8_000);
      assert.equal(evidence.claimedFpsMilli, 60_000);
      assert.equal(evidence.droppedMs, TICK_MS);
      assert.equal(evidence.receipts.length, 2);
      for (const signed of evidence.receipts) {
        assert.equal(signed.receipt.sessionId, s.sessionId);
        assert.equal(await deliveryReceiptSigner(signed), s.hostAccount.address);
      }
      // The checker desk verified them against the host's provider and counted the payer: the provider is drained
      // (no new players are matched to it), with the reason in its status.
      await waitUntil(() => server.hub.hosts.get(s.hostId)?.drained === true);
      assert.match(
        server.hub.checkers.drainOf(s.hostAccount.address)?.reason ?? '',
        /counted far fewer frames than .* signed for while its probes passed/,
      );
      // The dispute stands: the host's word bills nothing more, and the session ends within the bound.
      for (let elapsed = 0; elapsed < DISPUTE_END_MS + 2 * TICK_MS; elapsed += TICK_MS) {
        if (server.hub.getSession(s.sessionId)?.state === 'ended') break;
        await s.report('host', 60);
        await s.report('player', 8);
        await s.advance(TICK_MS);
      }
      const ended = await s.player.next('session-ended');
      assert.equal(ended.message, METER_END_MESSAGES.contradicted);
      await meter.idle();
      const ticks = await s.ticks();
      assert.equal(
        ticks.reduce((sum, t) => sum + t, 0),
        5,
        `only the undisputed 5 s are billed: ${ticks}`,
      );
    } finally {
      off();
      checker.peer.terminate();
    }
  });

  test('a dispute no checker settles stops the billing and ends the session within a bounded time', async () => {
    const s = await paidSession();
    await s.bothAlive();
    await s.advance(TICK_MS);
    for (let elapsed = 0; elapsed < DISPUTE_END_MS + 2 * TICK_MS; elapsed += TICK_MS) {
      if (server.hub.getSession(s.sessionId)?.state === 'ended') break;
      await s.report('host', 60);
      await s.report('player', 0);
      await s.advance(TICK_MS);
    }
    const ended = await s.player.next('session-ended');
    assert.equal(ended.message, METER_END_MESSAGES.disputed);
    await meter.idle();
    const ticks = await s.ticks();
    assert.equal(
      ticks.reduce((sum, t) => sum + t, 0),
      5,
      `only the undisputed 5 s are billed: ${ticks}`,
    );
  });

  test('a silent player (no reports, no input) is paused, then ended, billed for what was delivered', async () => {
    const s = await paidSession();
    await s.bothAlive();
    await s.advance(TICK_MS);
    // Silence from now on: no player report, and the host sees no input (its idle time grows).
    let idleMs = 0;
    for (let elapsed = 0; elapsed < SILENT_END_MS + 2 * TICK_MS; elapsed += TICK_MS) {
      if (server.hub.getSession(s.sessionId)?.state === 'ended') break;
      idleMs += TICK_MS;
      await s.report('host', 60, { inputIdleMs: idleMs });
      await s.advance(TICK_MS);
    }
    const ended = await s.player.next('session-ended');
    assert.equal(ended.reason, 'afk');
    assert.equal(ended.message, METER_END_MESSAGES.silent);
    await meter.idle();
    const ticks = await s.ticks();
    const billed = ticks.reduce((sum, t) => sum + t, 0);
    // The host's word bills from the player's last sign (its report, then no input) until the pause.
    assert.equal(billed, SILENT_PAUSE_MS / 1000, `billed until the pause: ${ticks}`);
    assert.ok(ticks.length <= 1 + SILENT_END_MS / TICK_MS + 1, `ended within the bound: ${ticks}`);
  });
});
