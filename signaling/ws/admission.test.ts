/**
 * Admission control on the signaling WebSocket, attacked for real over loopback: a register flood from one
 * address, a message flood on one socket, sockets that never say hello, two registrations in flight at once, free
 * player tokens each trying to hold a lease, a player who presses Play again and again and never pays.
 * Other addresses are 127.0.0.x sources (Linux routes all of 127/8 to loopback).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import WebSocket from 'ws';
import { startTestChain, type TestChain } from '../../edge/chain/testing/startTestChain.js';
import { paymentDeskOnTestChain } from '../../edge/economy/testing/paymentDeskOnTestChain.js';
import { openLedger } from '../../edge/ledger/index.js';
import { DEFAULT_ADMISSION_SETTINGS } from '../admission/AdmissionSettings.js';
import { issuePlayerToken } from '../auth/playerTokens.js';
import {
  boundHostId,
  checkerRegistrationMessage,
  hostRegistrationMessage,
  PROTOCOL_VERSION,
  WS_SUBPROTOCOL,
} from '../protocol/index.js';
import { DEFAULT_SIGNALING_SETTINGS } from '../SignalingSettings.js';
import {
  connectTestHost,
  connectTestPlayer,
  startTestSignaling,
  type TestSignaling,
} from '../testing/startTestSignaling.js';
import { TestPeer } from '../testing/TestPeer.js';
import { waitFind } from '../testing/waitFor.js';
import { loadUws } from './loadUws.js';

let chain: TestChain;
const cleanups: Array<() => Promise<void> | void> = [];
before(async () => {
  chain = await startTestChain();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
after(async () => {
  await chain.close();
});

const ADMISSION = {
  ...DEFAULT_ADMISSION_SETTINGS,
  maxConnections: 10_000,
  maxConnectionsPerIp: 16,
  upgradesPerIp: { ratePerSec: 200, burst: 400 },
  messagesPerSocket: { ratePerSec: 20, burst: 40 },
  messagesPerIp: { ratePerSec: 200, burst: 400 },
  helloTimeoutMs: 1_000,
  registerTimeoutMs: 5_000,
};

const GAME = {
  id: 'admission-game',
  title: 'Admission',
  description: '',
  width: 640,
  height: 360,
  fps: 30,
  inputMode: 'absolute' as const,
  audio: false,
};

async function signaling(secret = randomBytes(32)): Promise<TestSignaling> {
  const server = await startTestSignaling({
    chain,
    tokenSecret: secret,
    hostTtlMs: 1_000,
    heartbeatIntervalMs: 200,
    admission: ADMISSION,
  });
  cleanups.push(() => server.close());
  return server;
}

describe('admission control', () => {
  test('a register flood from one address is capped and memory stays bounded', async () => {
    const server = await signaling();
    // One staked provider (its tier allows 8 slots) and 400 attempts from one address: its key and fresh keys.
    const provider = privateKeyToAccount((await chain.newStakedAccount('software')).privateKey);
    const flooder = '127.0.0.5';
    const open: TestPeer[] = [];
    const refusedStatus: number[] = [];
    const retryAfter = new Set<string>();
    let registered = 0;
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, k) => {
          const i = batch * 20 + k;
          let peer: TestPeer;
          try {
            peer = await TestPeer.open(server.wsNodeUrl, { localAddress: flooder });
          } catch (error) {
            const { statusCode, retryAfter: after } = error as { statusCode?: number; retryAfter?: string };
            refusedStatus.push(statusCode ?? 0);
            if (after) retryAfter.add(after);
            return;
          }
          open.push(peer);
          cleanups.push(() => peer.terminate());
          peer.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'host' });
          const welcome = await peer.next('welcome', 5_000).catch(() => undefined);
          if (!welcome) return;
          const account = i % 2 ? provider : privateKeyToAccount(generatePrivateKey());
          const hostId = boundHostId(`flood-${i}`, account.address);
          peer.send({
            type: 'register',
            hostId,
            providerAddress: account.address,
            signature: await account.signMessage({ message: hostRegistrationMessage(hostId, welcome.nonce) }),
            region: { country: 'DE', lat: 50, lon: 8 },
            gpu: 'flood',
            encoder: 'x264',
            games: [
              {
                id: 'flood',
                title: 'F',
                description: '',
                width: 640,
                height: 360,
                fps: 30,
                inputMode: 'absolute',
                audio: false,
              },
            ],
            slots: 1,
            probeReserve: 1,
            priceWeiPerSec: '1000000000000000',
            endpoints: { probeUrl: 'ws://127.0.0.5:1/probe', metricsUrl: 'http://127.0.0.5:1/metrics' },
          });
          const answer = await peer.nextOf(['registered', 'error'], 5_000).catch(() => undefined);
          if (answer?.type === 'registered') registered++;
        }),
      );
    }
    const hostsAfterFlood = server.hub.hosts.size;
    // Someone else still gets in while the flooder holds its connections.
    const other = await connectTestHost(server, { localAddress: '127.0.0.6', hostId: 'bystander' });
    cleanups.push(() => other.terminate());

    assert.ok(open.length <= ADMISSION.maxConnectionsPerIp, `${open.length} sockets from one address were accepted`);
    assert.ok(refusedStatus.length >= 400 - ADMISSION.maxConnectionsPerIp);
    assert.ok(
      refusedStatus.every((status) => status === 429),
      'refused with 429',
    );
    assert.ok(retryAfter.size > 0, 'with Retry-After');
    assert.ok(registered <= 8, `${registered} flood hosts registered (the tier allows 8 slots)`);
    assert.ok(hostsAfterFlood <= 8, `the registry holds ${hostsAfterFlood} hosts after the flood`);
    // Gone sockets leave nothing behind once down hosts reach their TTL.
    for (const peer of open) peer.terminate();
    await waitFind(() => (server.hub.hosts.size === 1 ? true : undefined), { timeoutMs: 8_000 });
  });

  test('a message flood on one socket meets ATH_ERR_RATE_LIMITED with a retry time; the socket is not served past it', async () => {
    const secret = randomBytes(32);
    const server = await signaling(secret);
    const player = await connectTestPlayer(server, secret);
    cleanups.push(() => player.terminate());
    for (let i = 0; i < 500; i++) {
      player.send({ type: 'quit', sessionId: `0x${i.toString(16).padStart(64, '0')}` });
    }
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const errors = player.received.flatMap((m) => (m.type === 'error' ? [m] : []));
    const processed = errors.filter((m) => m.code === 'ATH_ERR_SESSION_NOT_FOUND').length;
    const limited = errors.filter((m) => m.code === 'ATH_ERR_RATE_LIMITED');
    assert.ok(limited.length > 0, `no ATH_ERR_RATE_LIMITED; ${processed} of 500 messages were processed`);
    assert.ok(limited.length <= 10, `${limited.length} rate-limit replies: the replies themselves must not flood`);
    assert.ok((limited[0]?.retryAfterMs ?? 0) > 0, 'the reply says when to retry');
    assert.ok(processed <= ADMISSION.messagesPerSocket.burst + 5, `${processed} of 500 messages were processed`);
  });

  test('a socket that never says hello is closed at the deadline', async () => {
    const server = await signaling();
    const peer = await TestPeer.open(server.wsNodeUrl);
    cleanups.push(() => peer.terminate());
    const closed = await Promise.race([
      peer.closed(),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 4_000)),
    ]);
    assert.ok(closed, 'the silent socket is still open after 4 s');
    assert.equal(closed.code, 4008);
  });

  test('two registrations in flight on one socket: the second is refused at once', async () => {
    const server = await signaling();
    const provider = privateKeyToAccount((await chain.newStakedAccount('software')).privateKey);
    const peer = await TestPeer.open(server.wsNodeUrl, { protocols: [WS_SUBPROTOCOL] });
    cleanups.push(() => peer.terminate());
    peer.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'host' });
    const { nonce } = await peer.next('welcome');
    const register = async (name: string) => ({
      type: 'register' as const,
      hostId: boundHostId(name, provider.address),
      providerAddress: provider.address,
      signature: await provider.signMessage({
        message: hostRegistrationMessage(boundHostId(name, provider.address), nonce),
      }),
      region: { country: 'DE', lat: 50, lon: 8 },
      gpu: 'x',
      encoder: 'x264' as const,
      games: [
        {
          id: 'g',
          title: 'G',
          description: '',
          width: 640,
          height: 360,
          fps: 30,
          inputMode: 'absolute' as const,
          audio: false,
        },
      ],
      slots: 1,
      probeReserve: 1,
      priceWeiPerSec: '1000000000000000',
      endpoints: { probeUrl: 'ws://127.0.0.1:1/probe', metricsUrl: 'http://127.0.0.1:1/metrics' },
    });
    peer.send(await register('twice-a'));
    peer.send(await register('twice-b'));
    const first = await peer.nextOf(['registered', 'error']);
    const second = await peer.nextOf(['registered', 'error']);
    const outcomes = [first, second].map((m) => (m.type === 'error' ? m.code : m.type)).sort();
    assert.deepEqual(outcomes, ['ATH_ERR_NOT_ALLOWED', 'registered']);
    const hosts = [...server.hub.hosts.all()].filter(
      (h) => h.providerAddress.toLowerCase() === provider.address.toLowerCase(),
    );
    assert.equal(hosts.length, 1, 'one socket, one host');
  });

  test('free player tokens cannot each hold a lease: one address holds at most maxSessionsPerIp live sessions', async () => {
    // Anonymous player tokens cost nothing; every lease may spawn a game on a host. One address, many tokens.
    const secret = randomBytes(32);
    const server = await startTestSignaling({
      chain,
      tokenSecret: secret,
      heartbeatIntervalMs: 600_000,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      admission: { ...ADMISSION, maxSessionsPerIp: 2 },
    });
    cleanups.push(() => server.close());
    const host = await connectTestHost(server, { slots: 8, games: [GAME] });
    cleanups.push(() => host.terminate());
    const player = async (localAddress: string) => {
      const peer = await TestPeer.open(server.wsPlayerUrl, {
        token: issuePlayerToken({ secret, ttlSec: 600 }).token,
        localAddress,
      });
      cleanups.push(() => peer.terminate());
      peer.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' });
      await peer.next('welcome');
      peer.send({ type: 'play', game: GAME.id, codecs: ['H264'], queue: false });
      const answer = await peer.nextOf(['session', 'error']);
      return { peer, answer: answer.type === 'session' ? answer : answer.code };
    };
    const results = [];
    for (let i = 0; i < 6; i += 1) results.push(await player('127.0.0.1'));
    const leased = results.filter((r) => typeof r.answer !== 'string');
    assert.equal(leased.length, 2, 'two live sessions from one address');
    assert.deepEqual(
      results.filter((r) => typeof r.answer === 'string').map((r) => r.answer),
      Array(4).fill('ATH_ERR_RATE_LIMITED'),
    );
    const busy = server.hub.hosts.get(host.hostId)?.slots.filter((slot) => slot.state !== 'free').length;
    assert.equal(busy, 2, 'the refused plays took no slot');
    // Another address is not held back by this one's.
    assert.notEqual(typeof (await player('127.0.0.2')).answer, 'string');
    // A session ended frees its place for the address.
    const first = leased[0]?.answer;
    assert.ok(first && typeof first !== 'string');
    leased[0]?.peer.send({ type: 'quit', sessionId: first.sessionId });
    await waitFind(() => (server.hub.getSession(first.sessionId)?.state === 'ended' ? true : undefined));
    assert.notEqual(typeof (await player('127.0.0.1')).answer, 'string');
  });

  test('register-checker is single-flight: of 30 at once on one socket, one is checked and 29 refused at once', async () => {
    const server = await signaling();
    const checker = privateKeyToAccount((await chain.newStakedAccount('checker')).privateKey);
    const peer = await TestPeer.open(server.wsNodeUrl, { protocols: [WS_SUBPROTOCOL] });
    cleanups.push(() => peer.terminate());
    peer.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'checker' });
    const { nonce } = await peer.next('welcome');
    const signature = await checker.signMessage({ message: checkerRegistrationMessage(checker.address, nonce) });
    for (let i = 0; i < 30; i += 1) peer.send({ type: 'register-checker', checkerAddress: checker.address, signature });
    const outcomes: string[] = [];
    for (let i = 0; i < 30; i += 1) {
      const answer = await peer.nextOf(['checker-registered', 'error']);
      outcomes.push(answer.type === 'error' ? answer.code : answer.type);
      // Refused at once, while the first one is checked — not each checked (signature, stake read) and then refused.
      if (answer.type === 'error') assert.match(answer.message, /already in progress/);
    }
    assert.equal(outcomes.filter((o) => o === 'checker-registered').length, 1, outcomes.join(' '));
    assert.deepEqual(
      outcomes.filter((o) => o !== 'checker-registered'),
      Array(29).fill('ATH_ERR_NOT_ALLOWED'),
    );
    assert.equal(server.hub.checkers.checkerCount, 1);
  });

  test('a player who never authorizes payment cannot chop free play into endless sessions: Play is refused after 3 unpaid endings', async () => {
    // A billing network streams at once and ends the session when no SessionAuth arrives within authTimeoutMs: each
    // Play is that much free play (and a host slot held). Real payment desk, PGlite ledger, anvil with the contracts.
    const secret = randomBytes(32);
    const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
    const ledger = await openLedger({});
    cleanups.push(() => ledger.close());
    const unpaidEndings = { max: 3, windowMs: 600_000, maxTracked: 1_000 };
    const server = await startTestSignaling({
      chain,
      tokenSecret: secret,
      heartbeatIntervalMs: 600_000,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      admission: { ...ADMISSION, unpaidEndings },
      log,
      payments: paymentDeskOnTestChain({ chain, ledger, log, authTimeoutMs: 1_000 }),
    });
    cleanups.push(() => server.close());
    const host = await connectTestHost(server, { slots: 2, games: [GAME], priceWeiPerSec: '1000000000000000' });
    cleanups.push(() => host.terminate());
    const open = async (localAddress: string, token = issuePlayerToken({ secret, ttlSec: 600 }).token) => {
      const peer = await TestPeer.open(server.wsPlayerUrl, { token, localAddress });
      cleanups.push(() => peer.terminate());
      peer.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' });
      await peer.next('welcome');
      return { peer, token };
    };
    const play = async (peer: TestPeer) => {
      peer.send({ type: 'play', game: GAME.id, codecs: ['H264'], queue: false });
      return peer.nextOf(['session', 'error']);
    };
    const attacker = await open('127.0.0.7');
    // Three free sessions: two run into the authorization deadline, one is quit at once; none is paid.
    for (let i = 0; i < 3; i += 1) {
      const session = await play(attacker.peer);
      assert.equal(session.type, 'session', `Play ${i + 1} is served`);
      if (session.type !== 'session') return;
      assert.ok(session.payment, 'a billing network asks for payment');
      if (i === 2) attacker.peer.send({ type: 'quit', sessionId: session.sessionId });
      const ended = await attacker.peer.next('session-ended', 5_000);
      assert.equal(ended.reason, i === 2 ? 'player-quit' : 'insufficient-funds');
    }
    // The fourth Play: refused with a typed error and when to come back, and no slot is taken.
    const fourth = await play(attacker.peer);
    assert.equal(fourth.type, 'error', 'the fourth unpaid Play is refused');
    if (fourth.type !== 'error') return;
    assert.equal(fourth.code, 'ATH_ERR_UNPAID_SESSIONS');
    assert.ok(
      (fourth.retryAfterMs ?? 0) > 0 && (fourth.retryAfterMs ?? 0) <= unpaidEndings.windowMs,
      'with retryAfterMs',
    );
    assert.equal(server.hub.hosts.get(host.hostId)?.slots.filter((slot) => slot.state !== 'free').length, 0);
    // A fresh free token from the same address does not help, nor does the same token from another address.
    const freshToken = await open('127.0.0.7');
    assert.equal((await play(freshToken.peer)).type, 'error', 'a new token from the same address is refused');
    const moved = await open('127.0.0.8', attacker.token);
    const movedAnswer = await play(moved.peer);
    assert.equal(movedAnswer.type === 'error' ? movedAnswer.code : movedAnswer.type, 'ATH_ERR_UNPAID_SESSIONS');
    // Someone else is served as before.
    const bystander = await open('127.0.0.9');
    assert.equal((await play(bystander.peer)).type, 'session', 'another address and token play on');
  });

  // uWS runs where a native build loads (Node 20 here; loadUws.test checks which Node and glibc should load one).
  const nativeUws = loadUws();
  for (const wsTransport of ['uws', 'fastify-ws'] as const) {
    const skip =
      wsTransport === 'uws' && !nativeUws.ok
        ? `no native uWebSockets.js build loads on Node ${process.versions.node} here`
        : false;
    test(`X-Forwarded-For is believed only from a trusted proxy (${wsTransport})`, { skip }, async () => {
      // maxConnectionsPerIp 2; 127.0.0.1 is the reverse proxy, 127.0.0.20 a client that connects directly.
      const server = await startTestSignaling({
        chain,
        wsTransport,
        admission: { ...ADMISSION, maxConnectionsPerIp: 2, trustedProxies: ['127.0.0.1'] },
      });
      cleanups.push(() => server.close());
      const connect = async (localAddress: string, forwardedFor: string) => {
        try {
          const peer = await TestPeer.open(server.wsNodeUrl, {
            localAddress,
            headers: { 'x-forwarded-for': forwardedFor },
          });
          cleanups.push(() => peer.terminate());
          return 'open';
        } catch (error) {
          return `refused ${(error as { statusCode?: number }).statusCode}`;
        }
      };
      // A direct client cannot pose as many by writing a new X-Forwarded-For each time: counted by its socket.
      const direct = [];
      for (let i = 1; i <= 3; i += 1) direct.push(await connect('127.0.0.20', `198.51.100.${i}`));
      assert.deepEqual(direct, ['open', 'open', 'refused 429']);
      // Through the proxy, each client is counted under its own address (a fake entry left of the proxy's is
      // ignored), and one client is still held to its cap.
      const proxied = [];
      for (let i = 1; i <= 3; i += 1) proxied.push(await connect('127.0.0.1', `10.9.9.${i}, 203.0.113.${i}`));
      for (let i = 1; i <= 3; i += 1) proxied.push(await connect('127.0.0.1', `10.9.9.${i}, 203.0.113.77`));
      assert.deepEqual(proxied, ['open', 'open', 'open', 'open', 'open', 'refused 429']);
      // IPv6 clients are counted by /64: other addresses of one network do not get more.
      const v6 = [];
      for (let i = 1; i <= 3; i += 1) v6.push(await connect('127.0.0.1', `2001:db8:5:6::${i}`));
      assert.deepEqual(v6, ['open', 'open', 'refused 429']);
    });
  }

  test('uWS keep-alive: a silent socket is pinged by the server (spread, not in uWS’s bursts) and its pongs keep it open', {
    skip: nativeUws.ok ? false : `no native uWebSockets.js build loads on Node ${process.versions.node} here`,
  }, async () => {
    const secret = randomBytes(32);
    const server = await startTestSignaling({ chain, wsTransport: 'uws', tokenSecret: secret, uwsPingAfterMs: 300 });
    cleanups.push(() => server.close());
    const socket = new WebSocket(server.wsPlayerUrl, [
      WS_SUBPROTOCOL,
      `token.${issuePlayerToken({ secret, ttlSec: 600 }).token}`,
    ]);
    cleanups.push(() => socket.terminate());
    const pings: number[] = [];
    socket.on('ping', () => pings.push(Date.now()));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    // Silent after its hello: pinged once per ~300 ms (each socket looked at every 2 s), answered by ws's pong.
    socket.send(JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' }));
    await waitFind(() => (pings.length >= 2 ? true : undefined), { timeoutMs: 8_000, what: 'two pings' });
    assert.equal(socket.readyState, WebSocket.OPEN);
  });
});
