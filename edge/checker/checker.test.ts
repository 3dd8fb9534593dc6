/**
 * Checkers against real render hosts: in-process signaling with short rounds, three real checker nodes (one of
 * them lying), and one real render host at a time — a probe is a real player session now (the real game at its
 * real size and rate, ≈½ core), so the hosts take turns. Each probe is a real werift session with real RTP.
 *
 * The hosts: a healthy one, which then degrades a live player's session (the player's dispute brings the
 * checkers at once); one that serves its players 10 fps and declares 10 fps for a 60 fps game (the attack "good
 * probes, degraded sessions": its probes are such sessions, so they are degraded too — and it is held to the
 * game's manifest, not to its word); one 200 ms away that forges the time its pongs echo to look near.
 * Measurement windows are short (0.5 s warm-up, 1.5 s window) and each scenario that can share a host does.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { privateKeyToAccount } from 'viem/accounts';
import { createMetrics, RENDER_HOST_METRICS } from '../../metrics/index.js';
import { startTestRenderHost, TEST_ENCODER_SETTINGS } from '../../render-host/host/testing/startTestRenderHost.js';
import {
  BUILTIN_GAMES,
  createBuiltinSessionDriver,
  type RenderHostHandle,
  SessionWorkerPool,
  TestHookSwitch,
  type TestHooks,
} from '../../render-host/index.js';
import type { RoundVerdict } from '../../signaling/checkers/CheckerDesk.js';
import { DEFAULT_CHECK_SETTINGS } from '../../signaling/checkers/CheckerDesk.js';
import type { DeliveryReport } from '../../signaling/index.js';
import { deliveryReceiptSigner, type GameInfoRecord } from '../../signaling/protocol/index.js';
import {
  connectTestPlayer,
  startTestSignaling,
  type TestSignaling,
} from '../../signaling/testing/startTestSignaling.js';
import type { TestPeer } from '../../signaling/testing/TestPeer.js';
import { waitFind } from '../../signaling/testing/waitFor.js';
import type { SentCheckReport } from './CheckerNode.js';
import { ProbeReceiver } from './ProbeReceiver.js';
import { type CheckerHandle, startChecker } from './startChecker.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const GAME = BUILTIN_GAMES[0] as GameInfoRecord;

let server: TestSignaling;
const checkers: CheckerHandle[] = [];
const verdicts: RoundVerdict[] = [];
const reports: SentCheckReport[] = [];
let liar: `0x${string}`;
const tokenSecret = randomBytes(32);

type RunningHost = {
  /** The network's id of the host: its name bound to its provider. */
  hostId: string;
  provider: ReturnType<typeof privateKeyToAccount>;
  testHooks: TestHookSwitch;
  close(): Promise<void>;
};

/** A real render host on the test's signaling, streaming the real game to every session it is given. */
async function startHost(
  name: string,
  hooks: TestHooks,
  games: readonly GameInfoRecord[] = [GAME],
  slots = 1,
): Promise<RunningHost> {
  const testHooks = new TestHookSwitch(hooks);
  const hostLog = log.child({ hostId: name });
  // As `ath-edge render-host` runs: a booted session worker per slot and one for the probe reserve waits for the
  // next session (a probe is one).
  const pool = new SessionWorkerPool({ size: slots + 1, log: hostLog });
  const metrics = createMetrics({ keys: RENDER_HOST_METRICS });
  const provider = privateKeyToAccount((await server.chain.newStakedAccount('software')).privateKey);
  let handle: RenderHostHandle;
  try {
    handle = await startTestRenderHost({
      hostId: name,
      provider,
      signalingNodeUrl: server.wsNodeUrl,
      games,
      slots,
      testHooks,
      metrics,
      sessions: createBuiltinSessionDriver({ encoder: TEST_ENCODER_SETTINGS, metrics, log: hostLog, testHooks, pool }),
      log: hostLog,
    });
  } catch (error) {
    await pool.close();
    throw error;
  }
  return {
    hostId: handle.host.hostId,
    provider,
    testHooks,
    close: async () => {
      await handle.close();
      await pool.close();
    },
  };
}

/** The first verdict on a host that `until` accepts (by default: its first decided round). */
function verdictOn(
  hostId: string,
  until: (v: RoundVerdict) => boolean = (v) => v.verdict !== 'inconclusive',
): Promise<RoundVerdict> {
  return waitFind(() => verdicts.find((v) => v.hostId === hostId && until(v)), {
    what: `a verdict on ${hostId}`,
    timeoutMs: 120_000,
    intervalMs: 100,
  });
}

/** Runs one host until its first decided round (or what `until` waits for), then stops it. */
async function checkHost(
  hostId: string,
  hooks: TestHooks,
  games: readonly GameInfoRecord[] = [GAME],
  until?: (v: RoundVerdict) => boolean,
): Promise<RoundVerdict> {
  const host = await startHost(hostId, hooks, games);
  try {
    return await verdictOn(host.hostId, until);
  } finally {
    await host.close();
  }
}

const honestReports = (hostId: string) =>
  reports.filter((r) => r.assignment.container === hostId && r.report.checker.toLowerCase() !== liar);

describe('checker nodes on real render hosts', { timeout: 600_000 }, () => {
  before(async () => {
    server = await startTestSignaling({
      tokenSecret,
      checks: {
        ...DEFAULT_CHECK_SETTINGS,
        intervalMs: 1_500,
        deadlineMs: 60_000,
        // The manifests signaling knows (edge's runSignaling passes the whole catalogue).
        gameSpecs: { [GAME.id]: { width: GAME.width, height: GAME.height, fps: GAME.fps } },
      },
    });
    server.hub.on('verdict', (verdict) => verdicts.push(verdict));
    for (const [i, lie] of [false, false, true].entries()) {
      const checker = await startChecker({
        account: privateKeyToAccount((await server.chain.newStakedAccount('checker')).privateKey),
        signalingUrl: server.httpUrl,
        bindHost: '127.0.0.1',
        metricsPort: 0,
        // 30 % of the game's rate: a shared, loaded test box still passes a healthy host streaming the real game
        // at 720p60 (≈½ core); 10 of 60 fps never does.
        thresholds: { minFpsRatio: 0.3, maxRttMs: 150, maxLossPpm: 50_000 },
        window: { warmupMs: 500, windowMs: 1_500, pings: 10, connectTimeoutMs: 20_000, pingTimeoutMs: 3_000 },
        lie,
        log: log.child({ checker: i }),
      });
      checker.node.on('report', (sent) => reports.push(sent));
      checkers.push(checker);
    }
    liar = checkers[2]?.address.toLowerCase() as `0x${string}`;
  });

  after(async () => {
    for (const checker of checkers) await checker.close();
    await server?.close();
  });

  test('a healthy container passes (its real game at its manifest size and rate; the lying checker is the minority) — and when it then degrades a live session, the player’s dispute brings the checkers at once', async () => {
    // One slot: free for the first rounds' probes, then the player's — and the dispute's probe beside it runs in the
    // host's probe reserve (a host whose every slot is busy is still checked).
    const host = await startHost('healthy', { dataChannelDelayMs: 0 });
    let player: TestPeer | undefined;
    let receiver: ProbeReceiver | undefined;
    const observations: Array<{ sessionId: string; fpsMilli: number; checker: string | undefined }> = [];
    const hostReports: DeliveryReport[] = [];
    const offReport = server.hub.on('report', (r) => {
      if (r.source === 'checker')
        observations.push({ sessionId: r.sessionId, fpsMilli: r.fpsMilli, checker: r.checkerAddress });
      if (r.source === 'host') hostReports.push(r);
    });
    try {
      // On a loaded shared box an honest probe can fall short now and then (a real 720p60 stream costs ≈½ core);
      // a healthy host passes, with the liar alone against it, within a few rounds.
      const verdict = await verdictOn(host.hostId, (v) => v.verdict === 'ok' && v.minority.includes(liar));
      assert.equal(verdict.verdict, 'ok', JSON.stringify(verdict.reports.map((r) => r.report)));
      assert.equal(verdict.sampled, undefined);
      assert.deepEqual(verdict.minority, [liar]);
      assert.equal(verdict.majority.length, 2);
      assert.deepEqual(verdict.expected, { game: GAME.id, width: GAME.width, height: GAME.height, fps: GAME.fps });
      assert.equal(server.hub.hosts.get(verdict.hostId)?.drained, false);
      const honest = honestReports(verdict.hostId).filter((sent) => sent.assignment.round === String(verdict.round));
      assert.ok(honest.length >= 2);
      for (const sent of honest) {
        assert.equal(sent.measurement.live, true);
        assert.ok(sent.measurement.pongsReceived >= 10, `pongs ${sent.measurement.pongsReceived}`);
        assert.deepEqual([sent.measurement.width, sent.measurement.height], [GAME.width, GAME.height]);
        assert.equal(sent.report.ok, true, sent.reasons.join('; '));
      }

      // The turncoat: a player plays on it, as a browser would (offer, answer, the host's ICE); then the host drops
      // to 10 fps. The meter flags such a session when its player reports under the floor (`deliveryDisputed`,
      // Meter.test.ts); here the hub is told so directly. The checkers sample the host now — a probe beside the
      // session, on its game, that the host cannot tell from a player — and what their majority measured reaches
      // the meter as observations of that session (`report` with source `checker`), under the floor.
      player = await connectTestPlayer(server, tokenSecret);
      player.send({ type: 'play', game: GAME.id, codecs: ['H264'] });
      const offer = await player.next('offer', 60_000);
      const answered = await ProbeReceiver.answer(offer.sdp);
      receiver = answered.receiver;
      player.send({ type: 'answer', sessionId: offer.sessionId, sdp: answered.answerSdp });
      const playing = player;
      const playingReceiver = receiver;
      void (async () => {
        for (;;) {
          const ice = await playing.next('ice', 60_000).catch(() => undefined);
          if (!ice) return;
          await playingReceiver.addIceCandidate(ice.candidate).catch(() => undefined);
        }
      })();
      const window = { warmupMs: 500, windowMs: 1_500, pings: 4, connectTimeoutMs: 30_000, pingTimeoutMs: 3_000 };
      const before = await receiver.measure(window);
      assert.equal(before.live, true, 'the player’s session streams');
      // The turn: from now on the host serves its streams 10 fps (it cannot tell which are checks).
      await host.testHooks.set({ fpsCap: 10, dataChannelDelayMs: 0 });
      const after = await receiver.measure(window);
      assert.ok(after.fps < 15, `the player now gets ${after.fps.toFixed(1)} fps`);
      const roundsBefore = verdicts.filter((v) => v.hostId === host.hostId).length;
      server.hub.disputeDelivery({
        sessionId: offer.sessionId,
        hostId: host.hostId,
        hostFpsMilli: 60_000,
        playerFpsMilli: Math.round(after.fps * 1000),
        atMs: Date.now(),
      });
      const sampled = await waitFind(
        () =>
          verdicts
            .slice(roundsBefore)
            .find(
              (v) => v.hostId === host.hostId && v.verdict !== 'inconclusive' && v.sampled?.includes(offer.sessionId),
            ),
        { what: 'the sampled round', timeoutMs: 180_000, intervalMs: 100 },
      );
      assert.equal(sampled.verdict, 'fail', JSON.stringify(sampled.reports.map((r) => r.report)));
      assert.equal(server.hub.hosts.get(host.hostId)?.freeSlots, 0, 'the player held the one slot throughout');
      assert.ok(sampled.minority.every((address) => address === liar));
      // Every report of the player's session carried the host's delivery receipt, signed with its provider key:
      // what it claimed for this session (60 fps while it served 10) is its own signed word.
      const claims = hostReports.filter((r) => r.sessionId === offer.sessionId);
      assert.ok(claims.length > 0, 'the host reported the player’s session');
      for (const claim of claims) {
        assert.ok(claim.receipt, 'a host report without its receipt');
        assert.equal(claim.receipt.receipt.sessionId, offer.sessionId);
        assert.equal(await deliveryReceiptSigner(claim.receipt), host.provider.address);
      }
      const seqs = claims.map((c) => c.receipt?.receipt.seq ?? 0n);
      assert.ok(
        seqs.every((seq, i) => i === 0 || seq > (seqs[i - 1] ?? 0n)),
        'receipts numbered in order',
      );
      const seen = observations.filter((o) => o.sessionId === offer.sessionId);
      assert.ok(seen.length >= 2, `observations of the session: ${JSON.stringify(seen)}`);
      for (const o of seen) {
        assert.notEqual(o.checker, liar);
        assert.ok(o.fpsMilli < 20_000, `a checker saw ${o.fpsMilli / 1000} fps — under the meter's 20 fps floor`);
      }
    } finally {
      offReport();
      await receiver?.close();
      player?.terminate();
      await host.close();
    }
  });

  test('a host that would serve good probes and degraded sessions is caught: its probes are such sessions — held to its game’s manifest, not to what it declares (10 fps declared for a 60 fps game)', async () => {
    // Its players get 10 fps. Before probes were sessions, its separate probe stream stayed perfect and the
    // checkers passed it (see the report); now the host cannot tell a probe from a player. It declares 10 fps for
    // the 60 fps game: the checkers hold it to the manifest.
    const drained = await checkHost(
      'two-faced',
      { fpsCap: 10, dataChannelDelayMs: 0 },
      [{ ...GAME, fps: 10 }],
      (v) => v.drained,
    );
    assert.equal(drained.expected?.fps, GAME.fps);
    assert.equal(drained.verdict, 'fail');
    assert.ok(drained.minority.every((address) => address === liar));
    assert.equal(server.hub.hosts.get(drained.hostId)?.drained, true);
    const measured = honestReports(drained.hostId).filter((sent) => sent.measurement.live);
    assert.ok(measured.length > 0 && measured.every((sent) => sent.measurement.fps < 20 && !sent.report.ok));
  });

  test('a host that forges the time its pongs echo cannot look closer than it is', async () => {
    const verdict = await checkHost('forger', { dataChannelDelayMs: 200, forgePongAheadMs: 200 });
    assert.equal(verdict.verdict, 'fail');
    const measured = honestReports(verdict.hostId).filter((sent) => sent.measurement.live);
    assert.ok(measured.length > 0);
    for (const sent of measured) assert.ok(sent.measurement.rttMs >= 200, `rtt ${sent.measurement.rttMs} ms`);
  });

  test('each checker serves /healthz and /metrics with what it sent', async () => {
    for (const checker of checkers) {
      const health = (await (await fetch(checker.healthUrl)).json()) as { ok: boolean; reportsSent: number };
      assert.equal(health.ok, true);
      assert.ok(health.reportsSent > 0);
      const text = await (await fetch(checker.metricsUrl)).text();
      assert.match(text, /ath_edge_checker_reports_total\{verdict="(ok|fail)"\} [1-9]/);
      assert.match(text, /ath_edge_checker_probe_rtt_seconds_count [1-9]/);
    }
  });
});
