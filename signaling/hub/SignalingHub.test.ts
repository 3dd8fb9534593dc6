import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { issuePlayerToken } from '../auth/playerTokens.js';
import { hostRegistrationMessage, MAX_MESSAGE_BYTES, PROTOCOL_VERSION } from '../protocol/index.js';

import {
  connectTestHost,
  connectTestPlayer,
  startTestSignaling,
  type TestSignaling,
} from '../testing/startTestSignaling.js';
import { TestPeer } from '../testing/TestPeer.js';
import { waitUntil } from '../testing/waitFor.js';

const secret = randomBytes(32);
let server: TestSignaling;
const peers: TestPeer[] = [];

const track = <T extends TestPeer>(peer: T): T => {
  peers.push(peer);
  return peer;
};
const player = async () => track(await connectTestPlayer(server, secret));
const host = async (options = {}) => track(await connectTestHost(server, options));

before(async () => {
  server = await startTestSignaling({ tokenSecret: secret, reloadGraceMs: 200, leaseTtlMs: 5_000 });
});
after(async () => {
  for (const peer of peers) peer.terminate();
  await server.close();
});

describe('pairing and relaying', () => {
  test('a player gets a slot; offer, answer and ICE are relayed; quit frees the slot', async () => {
    const h = await host({ slots: 1, games: [game('relay-game')] });
    const p = await player();
    p.send({ type: 'play', game: 'relay-game', codecs: ['H264', 'VP8'] });
    const start = await h.next('start-session');
    assert.equal(start.game, 'relay-game');
    assert.deepEqual(start.codecs, ['H264', 'VP8']);
    const assigned = await p.next('session');
    assert.equal(assigned.sessionId, start.sessionId);
    assert.equal(assigned.state, 'leased');

    h.send({ type: 'offer', sessionId: start.sessionId, sdp: 'v=0 offer' });
    assert.equal((await p.next('offer')).sdp, 'v=0 offer');
    p.send({ type: 'answer', sessionId: start.sessionId, sdp: 'v=0 answer' });
    assert.equal((await h.next('answer')).sdp, 'v=0 answer');
    const candidate = { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 };
    h.send({ type: 'ice', sessionId: start.sessionId, candidate });
    assert.deepEqual((await p.next('ice')).candidate, candidate);
    p.send({ type: 'ice', sessionId: start.sessionId, candidate: null });
    assert.equal((await h.next('ice')).candidate, null);

    h.send({ type: 'session-started', sessionId: start.sessionId });
    await waitUntil(() => server.hub.getSession(start.sessionId)?.state === 'streaming', { timeoutMs: 5_000 });

    p.send({ type: 'quit', sessionId: start.sessionId });
    assert.equal((await h.next('stop-session')).reason, 'player-quit');
    assert.equal((await p.next('session-ended')).reason, 'player-quit');
    const record = server.hub.hosts.get(assigned.hostId);
    assert.equal(record?.slots[0]?.state, 'free');
  });

  test('a third player is queued with a position, and served when a slot frees', async () => {
    const h = await host({ slots: 2, games: [game('queue-game')] });
    const [a, b, c] = [await player(), await player(), await player()];
    a.send({ type: 'play', game: 'queue-game', codecs: ['H264'] });
    b.send({ type: 'play', game: 'queue-game', codecs: ['H264'] });
    const sa = await a.next('session');
    await b.next('session');
    c.send({ type: 'play', game: 'queue-game', codecs: ['H264'] });
    const queued = await c.next('queued');
    assert.equal(queued.position, 1);
    await h.next('start-session');
    await h.next('start-session');
    a.send({ type: 'quit', sessionId: sa.sessionId });
    const sc = await c.next('session');
    assert.equal(sc.game, 'queue-game');
    assert.equal((await h.next('start-session')).sessionId, sc.sessionId);
  });

  test('`queue: false` answers no free slot at once', async () => {
    await host({ slots: 1, games: [game('busy-game')] });
    const a = await player();
    a.send({ type: 'play', game: 'busy-game', codecs: ['H264'] });
    await a.next('session');
    const b = await player();
    b.send({ type: 'play', game: 'busy-game', codecs: ['H264'], queue: false });
    assert.equal((await b.next('error')).code, 'ATH_ERR_NO_FREE_SLOT');
  });

  test('a lease that never reaches streaming lapses, and a closed tab frees its slot', async () => {
    const short = await startTestSignaling({ tokenSecret: secret, leaseTtlMs: 300, reloadGraceMs: 200 });
    try {
      const h = track(await connectTestHost(short, { slots: 1 }));
      const p = track(await connectTestPlayer(short, secret));
      p.send({ type: 'play', game: 'neon-drift', codecs: ['H264'] });
      const { sessionId } = await h.next('start-session');
      assert.equal((await p.next('session-ended')).reason, 'connect-timeout');
      assert.equal((await h.next('stop-session')).sessionId, sessionId);

      const p2 = track(await connectTestPlayer(short, secret));
      p2.send({ type: 'play', game: 'neon-drift', codecs: ['H264'] });
      const second = await h.next('start-session');
      h.send({ type: 'session-started', sessionId: second.sessionId });
      p2.close();
      assert.equal((await h.next('stop-session')).reason, 'player-left');
    } finally {
      await short.close();
    }
  });

  test('a host that disconnects ends its sessions with host-lost', async () => {
    const h = await host({ slots: 1, games: [game('lost-game')] });
    const p = await player();
    p.send({ type: 'play', game: 'lost-game', codecs: ['H264'] });
    await h.next('start-session');
    h.terminate();
    const ended = await p.next('session-ended');
    assert.equal(ended.reason, 'host-lost');
  });
});

describe('bad input gets a typed error and others are unaffected', () => {
  test('malformed, oversized, unknown frames; the connection keeps serving', async () => {
    const p = await player();
    p.sendRaw('{"type":');
    assert.equal((await p.next('error')).code, 'ATH_ERR_BAD_MESSAGE');
    p.sendRaw(
      JSON.stringify({ type: 'answer', sessionId: `0x${'1'.repeat(64)}`, sdp: 'x'.repeat(MAX_MESSAGE_BYTES + 10) }),
    );
    assert.equal((await p.next('error')).code, 'ATH_ERR_MESSAGE_TOO_LARGE');
    p.sendRaw(JSON.stringify({ type: 'warp-drive' }));
    assert.equal((await p.next('error')).code, 'ATH_ERR_UNKNOWN_TYPE');
    p.send({ type: 'play', game: 'no-such-game', codecs: ['H264'] });
    assert.equal((await p.next('error')).code, 'ATH_ERR_UNKNOWN_GAME');
  });

  test('SDP from the wrong party is refused', async () => {
    const p = await player();
    p.sendRaw(JSON.stringify({ type: 'offer', sessionId: `0x${'2'.repeat(64)}`, sdp: 'v=0' }));
    const error = await p.next('error');
    assert.equal(error.code, 'ATH_ERR_NOT_ALLOWED');
    assert.equal(error.ref, 'offer');
  });

  test("answers, ICE, input and quit for a session you do not own are refused; the owner's session goes on", async () => {
    const h = await host({ slots: 1, games: [game('owned-game')] });
    const owner = await player();
    owner.send({ type: 'play', game: 'owned-game', codecs: ['H264'] });
    const { sessionId } = await h.next('start-session');
    const intruder = await player();
    for (const message of [
      { type: 'answer', sessionId, sdp: 'v=0' },
      { type: 'ice', sessionId, candidate: null },
      { type: 'input', sessionId, data: 'AQcAAAA1AAE=' },
      { type: 'quit', sessionId },
    ] as const) {
      intruder.send(message);
      const error = await intruder.next('error');
      assert.equal(error.code, 'ATH_ERR_NOT_YOUR_SESSION', message.type);
    }
    // A host cannot speak for another host's session either.
    const other = await host({ slots: 1, games: [game('owned-game')] });
    other.send({ type: 'offer', sessionId, sdp: 'v=0' });
    assert.equal((await other.next('error')).code, 'ATH_ERR_NOT_YOUR_SESSION');
    owner.send({ type: 'input', sessionId, data: 'AQcAAAA1AAE=' });
    assert.equal((await h.next('input')).data, 'AQcAAAA1AAE=');
    assert.equal(server.hub.getSession(sessionId)?.state, 'leased');
  });

  test('messages before hello, a second hello, and a wrong protocol version', async () => {
    const { token } = issuePlayerToken({ secret, ttlSec: 60 });
    const p = track(await TestPeer.open(server.wsPlayerUrl, { token }));
    p.send({ type: 'play', game: 'neon-drift', codecs: ['H264'] });
    assert.equal((await p.next('error')).code, 'ATH_ERR_HELLO_REQUIRED');
    p.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' });
    await p.next('welcome');
    p.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' });
    assert.equal((await p.next('error')).code, 'ATH_ERR_NOT_ALLOWED');

    const old = track(await TestPeer.open(server.wsPlayerUrl, { token }));
    old.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION + 1, role: 'player' });
    assert.equal((await old.next('error')).code, 'ATH_ERR_PROTOCOL_VERSION');
    assert.equal((await old.closed()).code, 4000);
  });
});

describe('authentication', () => {
  test('a player upgrade without a valid token is refused before any message', async () => {
    await assert.rejects(TestPeer.open(server.wsPlayerUrl), /upgrade refused: 401/);
    await assert.rejects(TestPeer.open(server.wsPlayerUrl, { token: 'forged.token' }), /upgrade refused: 401/);
    const { token } = issuePlayerToken({ secret, ttlSec: -1 });
    await assert.rejects(TestPeer.open(server.wsPlayerUrl, { token }), /upgrade refused: 401/);
    const foreign = issuePlayerToken({ secret: randomBytes(32), ttlSec: 60 }).token;
    await assert.rejects(TestPeer.open(server.wsPlayerUrl, { token: foreign }), /upgrade refused: 401/);
  });

  test('a host registration signed by another key is refused', async () => {
    const h = track(await TestPeer.open(server.wsNodeUrl));
    h.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'host' });
    const { nonce } = await h.next('welcome');
    const provider = privateKeyToAccount(generatePrivateKey());
    const forger = privateKeyToAccount(generatePrivateKey());
    h.send({
      type: 'register',
      hostId: 'forged-host',
      providerAddress: provider.address,
      signature: await forger.signMessage({ message: hostRegistrationMessage('forged-host', nonce) }),
      region: { country: 'DE', lat: 0, lon: 0 },
      gpu: 'x',
      encoder: 'x264',
      games: [game('forged-game')],
      slots: 1,
      probeReserve: 1,
      priceWeiPerSec: '1',
      endpoints: { probeUrl: 'ws://127.0.0.1:1/', metricsUrl: 'http://127.0.0.1:1/' },
    });
    assert.equal((await h.next('error')).code, 'ATH_ERR_BAD_SIGNATURE');
    assert.equal(server.hub.hosts.get('forged-host'), undefined);
  });

  test('players cannot use the node endpoint', async () => {
    const h = track(await TestPeer.open(server.wsNodeUrl));
    h.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' });
    assert.equal((await h.next('error')).code, 'ATH_ERR_NOT_ALLOWED');
  });
});

describe('HTTP API', () => {
  test('games, hosts, health, a player token, the OpenAPI document and metrics', async () => {
    await host({ slots: 3, games: [game('http-game')] });
    const games = (await server.http.inject({ method: 'GET', url: '/api/games' })).json();
    assert.ok(games.games.some((g: { id: string; freeSlots: number }) => g.id === 'http-game' && g.freeSlots === 3));
    const hosts = (await server.http.inject({ method: 'GET', url: '/api/hosts' })).json();
    assert.ok(hosts.hosts.length > 0);
    assert.match(hosts.hosts[0].priceWeiPerSec, /^[0-9]+$/);
    assert.equal((await server.http.inject({ method: 'GET', url: '/healthz' })).json().ok, true);
    const session = (await server.http.inject({ method: 'POST', url: '/api/session' })).json();
    assert.match(session.token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const openapi = (await server.http.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    assert.ok(openapi.paths['/api/games']);
    const metrics = (await server.http.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /ath_edge_ws_connections\{role="host"\} [1-9]/);
    const missing = await server.http.inject({ method: 'GET', url: '/api/nope' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().code, 'ATH_ERR_NOT_FOUND');
  });
});

function game(id: string) {
  return {
    id,
    title: id,
    description: '',
    width: 1280,
    height: 720,
    fps: 60,
    inputMode: 'absolute' as const,
    audio: true,
  };
}
