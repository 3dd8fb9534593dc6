/**
 * What an attacker must not escape by spreading over the signaling instances of one network (two instances on one
 * real redis-server, started here on a free port, and the real StakingRegistry on anvil): a provider drained on
 * one instance stays drained when its host connects to another, and is lifted there after probation; sessions
 * that ended unpaid on one instance count on the other. The player's address never goes to Redis (session records
 * carry a keyed hash of it).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { paymentDeskOnTestChain } from '../../../edge/economy/testing/paymentDeskOnTestChain.js';
import { openLedger } from '../../../edge/ledger/index.js';
import { DEFAULT_ADMISSION_SETTINGS } from '../../admission/AdmissionSettings.js';
import { issuePlayerToken } from '../../auth/playerTokens.js';
import { DEFAULT_CHECK_SETTINGS } from '../../checkers/CheckerDesk.js';
import { PROTOCOL_VERSION } from '../../protocol/index.js';
import { DEFAULT_SIGNALING_SETTINGS } from '../../SignalingSettings.js';
import { connectTestHost, startTestSignaling, type TestHost } from '../../testing/startTestSignaling.js';
import { connectTestChecker, signTestReport, type TestChecker } from '../../testing/TestChecker.js';
import { TestPeer } from '../../testing/TestPeer.js';
import { waitUntil } from '../../testing/waitFor.js';
import { useTwoInstances } from './testing/twoInstances.js';

const secret = randomBytes(32);
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const net = useTwoInstances({ secret, log });

const GAME = {
  id: 'shared-game',
  title: 'Shared',
  description: 'test game',
  width: 1280,
  height: 720,
  fps: 60,
  inputMode: 'absolute' as const,
  audio: false,
};

/** The host side of probes: each session it is asked for gets an offer and starts, as a render host's would. */
function serve(host: TestHost): void {
  void (async () => {
    for (;;) {
      const next = await host.next('start-session', 60_000).catch(() => undefined);
      if (!next) return;
      host.send({ type: 'offer', sessionId: next.sessionId, sdp: 'v=0 probe' });
      host.send({ type: 'session-started', sessionId: next.sessionId });
    }
  })();
}

/** A checker that reports `verdict.ok` for every probe it is assigned, once the host was asked for its session. */
function answer(checker: TestChecker, verdict: { ok: boolean }): void {
  void (async () => {
    for (;;) {
      const assignment = await checker.peer.next('check-assignment', 60_000).catch(() => undefined);
      if (!assignment) return;
      // The host's offer for the probe: the probe held a slot (a failing report of one that did not is not counted).
      await checker.peer.next('offer', 5_000).catch(() => undefined);
      const signed = await signTestReport({ account: checker.account, assignment, ok: verdict.ok });
      checker.peer.send({ type: 'check-report', ...signed });
    }
  })();
}

describe('trust shared by the instances of a network', () => {
  test('a provider drained on one instance stays drained when its host connects to another, and is lifted there after probation', async () => {
    const checks = {
      ...DEFAULT_CHECK_SETTINGS,
      intervalMs: 200,
      deadlineMs: 3_000,
      checkersPerContainer: 1,
      minResponders: 1,
      failedVerdictsToDrain: 2,
      probationPasses: 2,
    };
    const [a, b] = await net.network('d', { checks });
    const { privateKey } = await net.chain.newStakedAccount('software');
    const onA = await connectTestHost(a, { privateKey, hostId: 'spread', slots: 2, games: [GAME] });
    net.closeLater(() => onA.terminate());
    const provider = onA.providerAddress;
    serve(onA);
    const checkerA = await connectTestChecker(a);
    net.closeLater(() => checkerA.peer.terminate());
    answer(checkerA, { ok: false });
    await waitUntil(() => a.hub.checkers.drainOf(provider) !== undefined, {
      what: 'the provider drained on a',
      timeoutMs: 30_000,
    });
    checkerA.peer.terminate();

    // The provider's host leaves a and registers on b, as a host would to shake off its drain.
    onA.terminate();
    await waitUntil(() => b.hub.hosts.get(onA.hostId)?.state !== 'up', { what: 'the host down' });
    const onB = await connectTestHost(b, { privateKey, hostId: 'spread', slots: 2, games: [GAME] });
    net.closeLater(() => onB.terminate());
    assert.equal(onB.hostId, onA.hostId);
    await waitUntil(() => b.hub.hosts.get(onB.hostId)?.state === 'up', { what: 'the host up on b' });
    assert.equal(b.hub.hosts.get(onB.hostId)?.drained, true, 'drained on the instance it moved to');
    assert.equal(a.hub.hosts.get(onB.hostId)?.drained, true, 'and as the other instance sees it');
    assert.match(b.hub.hosts.get(onB.hostId)?.drainReason ?? '', /failed checks/);
    // The drain is the network's, not a's: b shows it to the provider too.
    assert.equal(b.hub.checkers.drainOf(provider)?.hostId, onA.hostId);

    // Probation runs where the host is now: passing checks on b lift the drain for the whole network.
    serve(onB);
    const checkerB = await connectTestChecker(b);
    net.closeLater(() => checkerB.peer.terminate());
    answer(checkerB, { ok: true });
    await waitUntil(() => b.hub.checkers.drainOf(provider) === undefined, {
      what: 'the drain lifted on b',
      timeoutMs: 30_000,
    });
    await waitUntil(() => a.hub.checkers.drainOf(provider) === undefined, { what: 'and on a' });
    await waitUntil(() => a.hub.hosts.get(onB.hostId)?.drained === false, { what: 'the host back in service' });
    checkerB.peer.terminate();
  });

  test('sessions that ended unpaid on one instance count on the other: the player cannot start over there', async () => {
    const prefix = `unpaid${randomBytes(3).toString('hex')}:`;
    const unpaidEndings = { max: 2, windowMs: 600_000, maxTracked: 1_000 };
    const instance = async (instanceId: string) => {
      const ledger = await openLedger({});
      net.closeLater(() => ledger.close());
      const server = await startTestSignaling(
        {
          chain: net.chain,
          tokenSecret: secret,
          heartbeatIntervalMs: 600_000,
          probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
          admission: {
            ...DEFAULT_ADMISSION_SETTINGS,
            maxConnectionsPerIp: 1_000,
            upgradesPerIp: { ratePerSec: 1_000, burst: 1_000 },
            unpaidEndings,
          },
          log,
          payments: paymentDeskOnTestChain({ chain: net.chain, ledger, log, authTimeoutMs: 60_000, instanceId }),
        },
        { redisUrl: net.redis.url, prefix, instanceId },
      );
      net.closeLater(() => server.close());
      return server;
    };
    const a = await instance('ua');
    const b = await instance('ub');
    const host = await connectTestHost(a, { slots: 2, games: [GAME], priceWeiPerSec: '1000000000000000' });
    net.closeLater(() => host.terminate());
    await waitUntil(() => b.hub.hosts.get(host.hostId)?.state === 'up', { what: 'the host on b' });
    const token = issuePlayerToken({ secret, ttlSec: 600 }).token;
    const open = async (server: typeof a, localAddress: string, playerToken = token) => {
      const peer = await TestPeer.open(server.wsPlayerUrl, { token: playerToken, localAddress });
      net.closeLater(() => peer.terminate());
      peer.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' });
      await peer.next('welcome');
      return peer;
    };
    const play = async (peer: TestPeer) => {
      peer.send({ type: 'play', game: GAME.id, codecs: ['H264'], queue: false });
      return peer.nextOf(['session', 'error']);
    };
    // Two sessions on a, each quit before paying: a's limit for this address and token is reached.
    const onA = await open(a, '127.0.0.21');
    for (let i = 0; i < 2; i += 1) {
      const session = await play(onA);
      assert.equal(session.type, 'session', `Play ${i + 1} on a is served`);
      if (session.type !== 'session') return;
      onA.send({ type: 'quit', sessionId: session.sessionId });
      await onA.next('session-ended', 5_000);
    }
    // A later change a shares (a bystander's session) reaches b after the endings: b has heard of them by then.
    const bystander = await open(a, '127.0.0.29', issuePlayerToken({ secret, ttlSec: 600 }).token);
    const seen = await play(bystander);
    assert.equal(seen.type, 'session');
    if (seen.type !== 'session') return;
    await waitUntil(() => b.hub.getSession(seen.sessionId) !== undefined, { what: 'the bystander’s session on b' });

    // The same address with a fresh token on b, and the same token from another address on b: both refused.
    const freshToken = await open(b, '127.0.0.21', issuePlayerToken({ secret, ttlSec: 600 }).token);
    const fresh = await play(freshToken);
    assert.equal(fresh.type === 'error' ? fresh.code : fresh.type, 'ATH_ERR_UNPAID_SESSIONS', 'same address on b');
    const moved = await open(b, '127.0.0.22');
    const movedAnswer = await play(moved);
    assert.equal(movedAnswer.type === 'error' ? movedAnswer.code : movedAnswer.type, 'ATH_ERR_UNPAID_SESSIONS');
    // Someone else plays on b as before.
    const other = await open(b, '127.0.0.23', issuePlayerToken({ secret, ttlSec: 600 }).token);
    assert.equal((await play(other)).type, 'session', 'another address and token play on b');

    // What Redis holds: no table of unpaid endings (they travel on the feed), and no session record has an address.
    const held = await net.contents(prefix);
    assert.ok(held.size > 0);
    for (const [key, value] of held) {
      assert.ok(!key.slice(prefix.length).includes('unpaid'), `no unpaid table in Redis: ${key}`);
      assert.ok(!/127\.0\.0\.2\d/.test(value), `no player address in ${key}`);
    }
  });
});
