import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { issuePlayerToken } from '../auth/playerTokens.js';

import {
  connectTestHost,
  connectTestPlayer,
  startTestSignaling,
  type TestSignaling,
} from '../testing/startTestSignaling.js';
import type { TestPeer } from '../testing/TestPeer.js';
import { waitFind } from '../testing/waitFor.js';

const secret = randomBytes(32);
let server: TestSignaling;
const peers: TestPeer[] = [];
const track = <T extends TestPeer>(peer: T): T => {
  peers.push(peer);
  return peer;
};

before(async () => {
  server = await startTestSignaling({ tokenSecret: secret, heartbeatIntervalMs: 200, reloadGraceMs: 500 });
});
after(async () => {
  for (const peer of peers) peer.terminate();
  await server.close();
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

/** Test host names → the network's ids (each name bound to its own provider's address). */
const ids = new Map<string, string>();
const id = (name: string): string => ids.get(name) ?? name;

async function hosts(gameId: string, specs: Array<{ id: string; slots?: number; price?: string }>) {
  return Promise.all(
    specs.map(async (spec) => {
      const host = track(
        await connectTestHost(server, {
          hostId: spec.id,
          slots: spec.slots ?? 1,
          games: [game(gameId)],
          ...(spec.price ? { priceWeiPerSec: spec.price } : {}),
        }),
      );
      ids.set(spec.id, host.hostId);
      return host;
    }),
  );
}

describe('choosing a host', () => {
  test('the player measures candidates on its own path and lands on the lowest RTT; the decision is explained', async () => {
    await hosts('rtt-game', [{ id: 'rtt-far' }, { id: 'rtt-near' }, { id: 'rtt-dead' }]);
    const player = track(await connectTestPlayer(server, secret));
    player.send({ type: 'play', game: 'rtt-game', codecs: ['H264'] });
    const probe = await player.next('probe-request');
    assert.deepEqual(probe.candidates.map((c) => c.hostId).sort(), ['rtt-dead', 'rtt-far', 'rtt-near'].map(id).sort());
    assert.equal(probe.samples, 5);
    player.send({
      type: 'probe-results',
      sessionId: probe.sessionId,
      results: [
        { hostId: id('rtt-far'), rttMs: 80 },
        { hostId: id('rtt-near'), rttMs: 4 },
        { hostId: id('rtt-dead'), rttMs: null },
      ],
    });
    const assigned = await player.next('session');
    assert.equal(assigned.hostId, id('rtt-near'));
    const view = (await server.http.inject({ method: 'GET', url: `/api/sessions/${assigned.sessionId}` })).json();
    assert.equal(view.decision.chosenHostId, id('rtt-near'));
    const candidates = view.decision.candidates.map((c: { hostId: string }) => c.hostId);
    assert.deepEqual(candidates, [id('rtt-near'), id('rtt-far')], 'unreachable host is not a candidate');
    assert.ok(view.decision.candidates[0].score < view.decision.candidates[1].score);
    assert.equal(view.decision.candidates[0].rttMs, 4);
  });

  test('hosts above the player’s price are never offered', async () => {
    await hosts('price-game', [
      { id: 'price-cheap', price: '1000000000000000' },
      { id: 'price-dear', price: '5000000000000000' },
    ]);
    const player = track(await connectTestPlayer(server, secret));
    player.send({ type: 'play', game: 'price-game', codecs: ['H264'], maxPriceWeiPerSec: '2000000000000000' });
    const assigned = await player.next('session');
    assert.equal(assigned.hostId, id('price-cheap'));
    assert.equal(assigned.priceWeiPerSec, '1000000000000000');
    const poor = track(await connectTestPlayer(server, secret));
    poor.send({
      type: 'play',
      game: 'price-game',
      codecs: ['H264'],
      maxPriceWeiPerSec: '999000000000000',
      queue: false,
    });
    assert.equal((await poor.next('error')).code, 'ATH_ERR_NO_FREE_SLOT');
  });

  test('with equal RTT, a low quality score loses', async () => {
    await hosts('quality-game', [{ id: 'quality-bad' }, { id: 'quality-good' }]);
    const bad = server.hub.hosts.get(id('quality-bad'));
    assert.ok(bad);
    bad.qualityScore = 0.1;
    const player = track(await connectTestPlayer(server, secret));
    player.send({ type: 'play', game: 'quality-game', codecs: ['H264'] });
    const probe = await player.next('probe-request');
    player.send({
      type: 'probe-results',
      sessionId: probe.sessionId,
      results: probe.candidates.map((c) => ({ hostId: c.hostId, rttMs: 10 })),
    });
    assert.equal((await player.next('session')).hostId, id('quality-good'));
  });

  test('50 concurrent Play clicks on 10 slots: each slot exactly one player, the other 40 queued in order', async () => {
    await hosts(
      'rush-game',
      Array.from({ length: 5 }, (_, i) => ({ id: `rush-${i}`, slots: 2 })),
    );
    const players = await Promise.all(
      Array.from({ length: 50 }, async () => track(await connectTestPlayer(server, secret))),
    );
    const outcomes = await Promise.all(
      players.map(async (player) => {
        player.send({ type: 'play', game: 'rush-game', codecs: ['H264'] });
        const probe = await player.next('probe-request');
        player.send({
          type: 'probe-results',
          sessionId: probe.sessionId,
          results: probe.candidates.map((c) => ({ hostId: c.hostId, rttMs: 5 + Math.random() * 20 })),
        });
        return Promise.race([
          player.next('session').then((m) => ({ kind: 'session' as const, hostId: m.hostId, slot: m.slot })),
          player.next('queued').then((m) => ({ kind: 'queued' as const, position: m.position })),
        ]);
      }),
    );
    const leased = outcomes.filter((o) => o.kind === 'session');
    const queued = outcomes.filter((o) => o.kind === 'queued');
    assert.equal(leased.length, 10);
    assert.equal(queued.length, 40);
    const slots = new Set(leased.map((o) => (o.kind === 'session' ? `${o.hostId}/${o.slot}` : '')));
    assert.equal(slots.size, 10, 'no slot leased twice');
    for (let i = 0; i < 5; i++) {
      const host = server.hub.hosts.get(id(`rush-${i}`));
      assert.ok(host?.slots.every((slot) => slot.state === 'leased' && slot.sessionId));
    }
    assert.equal(server.hub.queueLength() >= 40, true);
  });
});

test('a host cannot rank as idle while its slots are leased: its load is at least the share signaling leased', async () => {
  // The attack: a host whose players fill it heartbeats `load: 0`, to rank above honest hosts on the load term.
  const [host] = await hosts('load-game', [{ id: 'load-host', slots: 2 }]);
  assert.ok(host);
  const player = track(await connectTestPlayer(server, secret));
  player.send({ type: 'play', game: 'load-game', codecs: ['H264'] });
  const { sessionId } = await host.next('start-session');
  host.send({ type: 'session-started', sessionId });
  host.send({ type: 'heartbeat', load: 0, slots: [{ slot: 0, state: 'busy', sessionId }] });
  const seen = await waitFind(() => {
    const load = server.hub.hosts.get(id('load-host'))?.load;
    return load !== undefined && load > 0 ? load : undefined;
  });
  assert.equal(seen, 0.5, 'one of its two slots is leased');
  // A truthful higher figure stands.
  host.send({ type: 'heartbeat', load: 0.8, slots: [{ slot: 0, state: 'busy', sessionId }] });
  assert.equal(await waitFind(() => (server.hub.hosts.get(id('load-host'))?.load === 0.8 ? 0.8 : undefined)), 0.8);
});

describe('failures and reconnects', () => {
  test('a host that stops heartbeating is marked down; its player is told and the lease freed', async () => {
    const [host] = await hosts('silent-game', [{ id: 'silent-host' }]);
    assert.ok(host);
    const heartbeats = setInterval(() => host.send({ type: 'heartbeat', load: 0, slots: [] }), 100);
    const player = track(await connectTestPlayer(server, secret));
    player.send({ type: 'play', game: 'silent-game', codecs: ['H264'] });
    const { sessionId } = await host.next('start-session');
    host.send({ type: 'session-started', sessionId });
    clearInterval(heartbeats);
    const ended = await player.next('session-ended');
    assert.equal(ended.reason, 'host-lost');
    assert.equal(server.hub.hosts.get(id('silent-host'))?.state, 'down');
    assert.equal(server.hub.hosts.get(id('silent-host'))?.slots[0]?.state, 'free');
  });

  test('after a network blip the player resumes the same session on the same host', async () => {
    const [host] = await hosts('blip-game', [{ id: 'blip-host' }]);
    assert.ok(host);
    const heartbeats = setInterval(() => host.send({ type: 'heartbeat', load: 0, slots: [] }), 100);
    try {
      const { token } = issuePlayerToken({ secret, ttlSec: 600 });
      const first = track(await connectTestPlayer(server, secret, token));
      first.send({ type: 'play', game: 'blip-game', codecs: ['H264'] });
      const { sessionId } = await host.next('start-session');
      host.send({ type: 'session-started', sessionId });
      first.terminate();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const again = track(await connectTestPlayer(server, secret, token));
      again.send({ type: 'play', game: 'blip-game', codecs: ['H264'], resumeSessionId: sessionId });
      const resumed = await again.next('session');
      assert.equal(resumed.sessionId, sessionId);
      assert.equal(resumed.resumed, true);
      const restart = await host.next('start-session');
      assert.equal(restart.sessionId, sessionId);
      assert.equal(restart.resume, true);
      // Another player cannot take it over.
      const thief = track(await connectTestPlayer(server, secret));
      thief.send({ type: 'play', game: 'blip-game', codecs: ['H264'], resumeSessionId: sessionId });
      assert.equal((await thief.next('error')).code, 'ATH_ERR_NOT_YOUR_SESSION');
    } finally {
      clearInterval(heartbeats);
    }
  });

  test('an idle player is ended as AFK from the host’s input-idle report', async () => {
    const [host] = await hosts('afk-game', [{ id: 'afk-host' }]);
    assert.ok(host);
    const player = track(await connectTestPlayer(server, secret));
    player.send({ type: 'play', game: 'afk-game', codecs: ['H264'] });
    const { sessionId } = await host.next('start-session');
    host.send({ type: 'session-started', sessionId });
    host.send({ type: 'host-report', sessionId, fpsMilli: 60_000, framesSent: 100, bitrateBps: 1, inputIdleMs: 5_000 });
    host.send({
      type: 'host-report',
      sessionId,
      fpsMilli: 60_000,
      framesSent: 100,
      bitrateBps: 1,
      inputIdleMs: 121_000,
    });
    assert.equal((await player.next('session-ended')).reason, 'afk');
    assert.equal((await host.next('stop-session')).reason, 'afk');
  });
});

describe('sessions over HTTP', () => {
  test('POST creates a session on the open socket, GET explains it, DELETE ends it; tokens are required', async () => {
    await hosts('http-session-game', [{ id: 'http-session-host' }]);
    const { token } = issuePlayerToken({ secret, ttlSec: 600 });
    const player = track(await connectTestPlayer(server, secret, token));
    const auth = { authorization: `Bearer ${token}` };
    const unauthorized = await server.http.inject({
      method: 'POST',
      url: '/api/sessions',
      payload: { game: 'http-session-game' },
    });
    assert.equal(unauthorized.statusCode, 401);
    const forged = await server.http.inject({
      method: 'POST',
      url: '/api/sessions',
      headers: { authorization: 'Bearer abc.def' },
      payload: { game: 'http-session-game' },
    });
    assert.equal(forged.statusCode, 401);
    const created = await server.http.inject({
      method: 'POST',
      url: '/api/sessions',
      headers: auth,
      payload: { game: 'http-session-game', codecs: ['VP8'] },
    });
    assert.equal(created.statusCode, 201, created.body);
    const { sessionId } = created.json();
    assert.equal((await player.next('session')).sessionId, sessionId);
    const view = (await server.http.inject({ method: 'GET', url: `/api/sessions/${sessionId}` })).json();
    assert.equal(view.state, 'leased');
    assert.equal(view.hostId, id('http-session-host'));
    const other = issuePlayerToken({ secret, ttlSec: 600 }).token;
    const foreign = await server.http.inject({
      method: 'DELETE',
      url: `/api/sessions/${sessionId}`,
      headers: { authorization: `Bearer ${other}` },
    });
    assert.equal(foreign.statusCode, 403);
    const deleted = await server.http.inject({ method: 'DELETE', url: `/api/sessions/${sessionId}`, headers: auth });
    assert.equal(deleted.json().endReason, 'player-quit');
    assert.equal((await player.next('session-ended')).reason, 'player-quit');
    const missing = await server.http.inject({ method: 'GET', url: `/api/sessions/0x${'0'.repeat(64)}` });
    assert.equal(missing.statusCode, 404);
  });
});
