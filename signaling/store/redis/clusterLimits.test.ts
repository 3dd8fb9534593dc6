/**
 * Limits an attacker must not escape by spreading over the signaling instances of one network (two instances on
 * one real redis-server started here on a free port, the real StakingRegistry on anvil): live sessions per address,
 * connections per address, new connections per address and second, and the payers whose sessions contradicted a
 * provider's signed receipts are counted for the network, not per instance. No player address goes to Redis or
 * over its channels (a keyed hash of it does).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { LocalAccount } from 'viem/accounts';
import { privateKeyToAccount } from 'viem/accounts';
import { parsePrometheusText, sampleValue } from '../../../metrics/parsePrometheusText.js';
import { DEFAULT_ADMISSION_SETTINGS } from '../../admission/AdmissionSettings.js';
import { issuePlayerToken } from '../../auth/playerTokens.js';
import { DEFAULT_CHECK_SETTINGS } from '../../checkers/CheckerDesk.js';
import { deliveryReceiptOf, PROTOCOL_VERSION, signDeliveryReceipt } from '../../protocol/index.js';
import { DEFAULT_SIGNALING_SETTINGS } from '../../SignalingSettings.js';
import { connectTestHost, type TestSignaling } from '../../testing/startTestSignaling.js';
import { TestPeer } from '../../testing/TestPeer.js';
import { waitUntil } from '../../testing/waitFor.js';
import { startRedisServer } from './startRedisServer.js';
import { useTwoInstances } from './testing/twoInstances.js';

const secret = randomBytes(32);
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const net = useTwoInstances({ secret, log });
const { network } = net;

const GAME = {
  id: 'limits-game',
  title: 'Limits',
  description: 'test game',
  width: 1280,
  height: 720,
  fps: 60,
  inputMode: 'absolute' as const,
  audio: false,
};

/** Per-address limits of these tests: small where a test attacks them, out of the way elsewhere. */
const ADMISSION = {
  ...DEFAULT_ADMISSION_SETTINGS,
  maxConnectionsPerIp: 1_000,
  upgradesPerIp: { ratePerSec: 1_000, burst: 1_000 },
  messagesPerIp: { ratePerSec: 100_000, burst: 100_000 },
  maxSessionsPerIp: 1_000,
};

async function player(server: TestSignaling, localAddress: string, token?: string): Promise<TestPeer> {
  const peer = await TestPeer.open(server.wsPlayerUrl, {
    token: token ?? issuePlayerToken({ secret, ttlSec: 600 }).token,
    localAddress,
  });
  net.closeLater(() => peer.terminate());
  peer.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' });
  await peer.next('welcome');
  return peer;
}

/** Play once: the session id (served, or waiting in line with `queue`), or the error code. */
async function play(peer: TestPeer, queue = false): Promise<{ sessionId: string } | string> {
  peer.send({ type: 'play', game: GAME.id, codecs: ['H264'], queue });
  const answer = await peer.nextOf(['session', 'queued', 'error']);
  return answer.type === 'error' ? answer.code : { sessionId: answer.sessionId };
}

/**
 * A socket from `localAddress` that says hello: open (welcomed), or how it was refused — the HTTP status of its
 * upgrade (this instance's counts), or its close code after an `ATH_ERR_RATE_LIMITED` error (the network's counts).
 */
async function upgrade(server: TestSignaling, localAddress: string): Promise<TestPeer | number> {
  let peer: TestPeer;
  try {
    peer = await TestPeer.open(server.wsPlayerUrl, {
      token: issuePlayerToken({ secret, ttlSec: 600 }).token,
      localAddress,
    });
  } catch (error) {
    return (error as { statusCode?: number }).statusCode ?? 0;
  }
  net.closeLater(() => peer.terminate());
  peer.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' });
  const answer = await peer.nextOf(['welcome', 'error']).catch(() => undefined);
  if (answer?.type === 'welcome') return peer;
  assert.equal(answer?.type === 'error' ? answer.code : answer, 'ATH_ERR_RATE_LIMITED');
  return (await peer.closed()).code;
}

/** A POST from `localAddress`: the HTTP status. */
function postStatus(url: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', localAddress }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.end();
  });
}

/** Every message on the network's channels while the test runs (feed and direct), to look for addresses in. */
async function tapChannels(prefix: string): Promise<{ messages: string[]; close(): void }> {
  const client = new Redis(net.redis.url);
  const messages: string[] = [];
  client.on('pmessage', (_pattern: string, _channel: string, message: string) => messages.push(message));
  await client.psubscribe(`${prefix}*`);
  const close = () => client.disconnect();
  net.closeLater(close);
  return { messages, close };
}

describe('limits counted for the whole network, not per instance', () => {
  test('one address holds maxSessionsPerIp live sessions on the network, however it spreads its Plays; its address never reaches Redis', async () => {
    const [a, b, prefix] = await network('ses', {
      heartbeatIntervalMs: 600_000,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      admission: { ...ADMISSION, maxSessionsPerIp: 2 },
    });
    const tap = await tapChannels(prefix);
    // The host is connected to b; the sessions below run on a: its frames about them go from b to a over Redis.
    const host = await connectTestHost(b, { slots: 8, games: [GAME], localAddress: '127.0.0.50' });
    net.closeLater(() => host.terminate());
    void (async () => {
      for (;;) {
        const start = await host.next('start-session', 60_000).catch(() => undefined);
        if (!start) return;
        host.send({ type: 'offer', sessionId: start.sessionId, sdp: 'v=0 test' });
      }
    })();
    await waitUntil(() => a.hub.hosts.get(host.hostId)?.state === 'up', { what: 'the host on a' });
    const attacker = '127.0.0.31';
    // Two sessions on a: the address's limit.
    const firstPeer = await player(a, attacker);
    const first = await play(firstPeer);
    const second = await play(await player(a, attacker));
    assert.equal(typeof first, 'object', 'Play 1 on a served');
    assert.equal(typeof second, 'object', 'Play 2 on a served');
    // More from the same address on b (fresh tokens): refused, and no slot taken for them.
    const onB = [await play(await player(b, attacker)), await play(await player(b, attacker))];
    assert.deepEqual(onB, ['ATH_ERR_RATE_LIMITED', 'ATH_ERR_RATE_LIMITED'], 'b counts a’s sessions of this address');
    const busy = () => b.hub.hosts.get(host.hostId)?.slots.filter((slot) => slot.state !== 'free').length;
    assert.equal(busy(), 2);
    // Another address plays on b as before.
    assert.equal(typeof (await play(await player(b, '127.0.0.32'))), 'object', 'another address is served on b');
    // The first player quits: the address has a place again, on b too.
    if (typeof first !== 'object') return;
    await waitUntil(() => a.hub.getSession(first.sessionId)?.state === 'connecting', {
      what: 'the host’s offer reached a',
    });
    firstPeer.send({ type: 'quit', sessionId: first.sessionId });
    await waitUntil(() => b.hub.getSession(first.sessionId)?.state !== 'connecting', { what: 'the session ended' });
    await waitUntil(
      async () => {
        const answer = await play(await player(b, attacker));
        return typeof answer === 'object';
      },
      { what: 'a place for the address on b' },
    );

    // Neither Redis nor its channels ever carried the address (nor the other player's).
    for (const [key, value] of await net.contents(prefix)) {
      assert.ok(!/127\.0\.0\.3\d/.test(key + value), `no player address in ${key}: ${value.slice(0, 200)}`);
    }
    assert.ok(tap.messages.length > 0);
    for (const message of tap.messages) {
      assert.ok(!/127\.0\.0\.3\d/.test(message), `no player address on a channel: ${message.slice(0, 300)}`);
    }
    // A frame handed to another instance names its sender by role and id (hosts' addresses are their public
    // endpoints, in their records; a peer's connecting address is not sent along).
    // (Direct messages travel in batches of lines: envelopes, and the bodies after them.)
    const lines = tap.messages.flatMap((raw) => raw.split('\n')).filter((line) => line.startsWith('{'));
    const frames = lines.map((line) => JSON.parse(line) as { k?: string; peer?: { identity: object } });
    const forwarded = frames.filter((message) => message.k === 'frame');
    assert.ok(forwarded.length > 0, 'the host’s frames went from b to a');
    for (const frame of forwarded) assert.ok(!('remoteIp' in (frame.peer?.identity ?? {})), JSON.stringify(frame.peer));
    tap.close();
  });

  for (const wsTransport of ['auto', 'fastify-ws'] as const) {
    test(`connections per address and new connections per address and second are capped on the network (${wsTransport})`, async () => {
      const [a, b] = await network('con', {
        wsTransport,
        admission: { ...ADMISSION, maxConnectionsPerIp: 3, upgradesPerIp: { ratePerSec: 0.001, burst: 8 } },
      });
      // Three sockets on a: the address's cap. A fourth on b is refused.
      const held = [];
      for (let i = 0; i < 3; i += 1) held.push(await upgrade(a, '127.0.0.41'));
      assert.ok(
        held.every((peer) => typeof peer === 'object'),
        'three sockets on a',
      );
      assert.equal(await upgrade(b, '127.0.0.41'), 4029, 'b counts the sockets open on a');
      // One closes on a: b takes one.
      const closing = held[0];
      if (typeof closing === 'object') closing.terminate();
      await waitUntil(
        async () => {
          const peer = await upgrade(b, '127.0.0.41');
          return typeof peer === 'object';
        },
        { what: 'a socket on b once one closed on a' },
      );

      // Eight new sockets (opened and closed) spread over a and b use the address's burst: the ninth is refused.
      for (let i = 0; i < 8; i += 1) {
        const peer = await upgrade(i % 2 ? b : a, '127.0.0.42');
        assert.equal(typeof peer, 'object', `upgrade ${i + 1}`);
        if (typeof peer === 'object') {
          peer.terminate();
          await peer.closed();
        }
      }
      assert.equal(await upgrade(b, '127.0.0.42'), 4029, 'the network’s burst of new connections is used');
      // a's own bucket has tokens left (it saw 4 of the 8): the network's refuses.
      assert.equal(await upgrade(a, '127.0.0.42'), 4029);
      assert.equal(typeof (await upgrade(b, '127.0.0.43')), 'object', 'another address connects');
    });
  }

  test('payers contradicting a provider’s signed receipts on different instances add up to its drain', async () => {
    const [a, b] = await network('con', {
      checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 600_000, contradictedPlayersToDrain: 3 },
    });
    const provider = await net.chain.newStakedAccount('software');
    const host = await connectTestHost(a, { hostId: 'two-faced', privateKey: provider.privateKey, games: [GAME] });
    net.closeLater(() => host.terminate());
    await waitUntil(() => b.hub.hosts.get(host.hostId) !== undefined, { what: 'the host on b' });
    const account = privateKeyToAccount(provider.privateKey);
    const contradicted = async (server: TestSignaling, payer: number) => {
      const sessionId = `0x${randomBytes(32).toString('hex')}`;
      return server.hub.checkers.contradicted({
        sessionId,
        hostId: host.hostId,
        payerAddress: `0x${String(payer).padStart(40, '0')}`,
        receipts: await signedReceipts(account, sessionId),
        // Payers with a record with other providers (contradictionMinPayerSec).
        payerDeliveredSecElsewhere: 3_600,
      });
    };
    // Two payers' sessions were metered on a, a third one's on b (players are spread by the balancer).
    assert.equal(await contradicted(a, 1), 'counted');
    assert.equal(await contradicted(a, 2), 'counted');
    assert.equal(await contradicted(b, 2), 'counted', 'the same payer again, on b');
    assert.equal(b.hub.hosts.get(host.hostId)?.drained, false);
    assert.equal(await contradicted(b, 3), 'drained', 'the third distinct payer, wherever it was metered');
    await waitUntil(() => a.hub.hosts.get(host.hostId)?.drained === true, { what: 'drained as a sees it' });
    assert.match(b.hub.checkers.drainOf(host.providerAddress)?.reason ?? '', /3 players counted far fewer frames/);
  });
  test('the HTTP API’s per-address limits are the network’s: player tokens asked of two instances add up', async () => {
    const [a, b] = await network('http', {
      admission: { ...ADMISSION, http: { ...ADMISSION.http, requestsPerMinute: 1_000, playerTokensPerMinute: 3 } },
    });
    const tokens = (server: TestSignaling, localAddress: string) =>
      postStatus(`${server.httpUrl}/api/session`, localAddress);
    assert.deepEqual(
      [await tokens(a, '127.0.0.81'), await tokens(b, '127.0.0.81'), await tokens(a, '127.0.0.81')],
      [200, 200, 200],
    );
    assert.equal(await tokens(b, '127.0.0.81'), 429, 'the fourth token a minute, wherever asked, is refused');
    assert.equal(await tokens(a, '127.0.0.81'), 429);
    assert.equal(await tokens(b, '127.0.0.82'), 200, 'another address is served');
  });

  test('a crashed instance’s places stop counting: the address is served again once its lease ran out', async () => {
    const [, b, prefix] = await network('crash', {
      heartbeatIntervalMs: 600_000,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      admission: { ...ADMISSION, maxSessionsPerIp: 2 },
    });
    const host = await connectTestHost(b, { slots: 8, games: [GAME] });
    net.closeLater(() => host.terminate());
    // Another instance holds the address's two places (its players' sessions), then dies without a word.
    const holder = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('../../testing/holdLimitPlaces.ts', import.meta.url)),
        ...['--redis', net.redis.url, '--prefix', prefix, '--instance', 'crashc', '--secret', secret.toString('hex')],
        ...['--address', '127.0.0.61', '--count', '2', '--lease-ms', '1000'],
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    net.closeLater(() => void holder.kill('SIGKILL'));
    const [line] = (await Promise.race([
      once(createInterface({ input: holder.stdout as Readable }), 'line'),
      once(holder, 'exit').then(() => ['(the holder exited)']),
    ])) as [string];
    assert.equal(line, 'held');
    assert.equal(await play(await player(b, '127.0.0.61')), 'ATH_ERR_RATE_LIMITED', 'the live instance’s places count');
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    // Nobody gives its places back: they stop counting when its lease ends, and the honest player plays.
    await waitUntil(async () => typeof (await play(await player(b, '127.0.0.61'))) === 'object', {
      what: 'the address served on b',
    });
    assert.equal(typeof (await play(await player(b, '127.0.0.61'))), 'object', 'a second one');
    assert.equal(await play(await player(b, '127.0.0.61')), 'ATH_ERR_RATE_LIMITED', 'the limit holds again');
  });

  test('Redis down: each instance keeps its own limits (logged, counted); back up, the places are written back', async () => {
    const own = await startRedisServer();
    net.closeLater(() => own.close());
    const [a, b] = await network(
      'down',
      {
        heartbeatIntervalMs: 600_000,
        probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
        admission: { ...ADMISSION, maxSessionsPerIp: 2 },
      },
      own.url,
    );
    const host = await connectTestHost(a, { slots: 8, games: [GAME] });
    net.closeLater(() => host.terminate());
    await waitUntil(() => b.hub.hosts.get(host.hostId)?.state === 'up', { what: 'the host on b' });
    const address = '127.0.0.71';
    const peers = [await player(a, address), await player(a, address), await player(a, address)];
    own.kill();
    // No shared count: a admits on its own (the players wait in line: no slot can be leased without Redis either).
    const plays = [];
    for (const peer of peers) plays.push(await play(peer, true));
    assert.equal(typeof plays[0], 'object', 'Play 1 on a, Redis down');
    assert.equal(typeof plays[1], 'object', 'Play 2 on a, Redis down');
    assert.equal(plays[2], 'ATH_ERR_RATE_LIMITED', 'a’s own limit holds');
    const degraded = parsePrometheusText(await a.metrics.registry.metrics());
    assert.ok(
      (sampleValue(degraded, 'ath_edge_cluster_limits_degraded_total', { limit: 'sessions' }) ?? 0) >= 2,
      'counted in the metric',
    );
    // Redis is back (empty): a writes its places back, and b counts them.
    await own.restart();
    await waitUntil(
      async () => {
        const peer = await player(b, address);
        const answer = await play(peer, true);
        // Served before a wrote its places back: that session ends at once (b's own count stays under 2).
        if (typeof answer === 'object') peer.send({ type: 'quit', sessionId: answer.sessionId });
        return answer === 'ATH_ERR_RATE_LIMITED';
      },
      { what: 'a’s places counted on b', timeoutMs: 15_000 },
    );
  });
});

async function signedReceipts(account: LocalAccount, sessionId: string) {
  return Promise.all(
    [0, 1].map(async (i) => {
      const report = { sessionId, framesSent: 300 * i, fpsMilli: 60_000, bitrateBps: 4_000_000 };
      const wire = await signDeliveryReceipt({
        account,
        report,
        seq: i + 1,
        timestampMs: 1_700_000_000_000 + i * 5_000,
      });
      return deliveryReceiptOf(report, wire);
    }),
  );
}
