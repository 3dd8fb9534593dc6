/**
 * Signaling hands each session's peers its STUN/TURN servers: the player in `session`, the host in
 * `start-session`, a checker in `check-assignment` and its host in the probe's `start-session` — TURN credentials issued
 * for that session (its id in the username, valid for the configured TTL), a new pair for every session.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  connectTestHost,
  connectTestPlayer,
  startTestSignaling,
  type TestSignaling,
} from '../testing/startTestSignaling.js';
import type { TestPeer } from '../testing/TestPeer.js';
import { turnCredential } from './turnCredentials.js';

const secret = randomBytes(32);
const TURN_SECRET = 'test-turn-secret-0123456789';
const TURN_URLS = ['turn:198.51.100.7:3478?transport=udp', 'turns:198.51.100.7:443?transport=tcp'];
let server: TestSignaling;
const peers: TestPeer[] = [];

before(async () => {
  server = await startTestSignaling({
    tokenSecret: secret,
    ice: {
      stunUrls: ['stun:198.51.100.7:3478'],
      turn: { urls: TURN_URLS, secret: TURN_SECRET, ttlSec: 3_900 },
      playerTransportPolicy: 'relay',
    },
  });
});
after(async () => {
  for (const peer of peers) peer.terminate();
  await server.close();
});

describe('ICE servers per session', () => {
  test('player and host get STUN and TURN with credentials for this session; another session gets its own', async () => {
    const host = await connectTestHost(server, { slots: 2 });
    peers.push(host);
    const sessions = [];
    for (let i = 0; i < 2; i++) {
      const player = await connectTestPlayer(server, secret);
      peers.push(player);
      player.send({ type: 'play', game: 'neon-drift', codecs: ['H264'] });
      const start = await host.next('start-session');
      const assigned = await player.next('session');
      assert.equal(assigned.sessionId, start.sessionId);
      assert.equal(assigned.iceTransportPolicy, 'relay', 'the network’s player policy rides along');
      for (const servers of [assigned.iceServers, start.iceServers]) {
        assert.deepEqual(servers?.[0], { urls: ['stun:198.51.100.7:3478'] });
        const turn = servers?.[1];
        assert.deepEqual(turn?.urls, TURN_URLS);
        const [expiry, sessionId] = (turn?.username ?? '').split(':');
        assert.equal(sessionId, start.sessionId, 'the username names the session');
        const ttl = Number(expiry) - Date.now() / 1000;
        assert.ok(ttl > 3_890 && ttl <= 3_900, `valid for the configured TTL (${ttl.toFixed(0)} s)`);
        assert.equal(turn?.credential, turnCredential(TURN_SECRET, turn?.username ?? ''), 'coturn’s REST-API HMAC');
      }
      sessions.push(assigned);
    }
    assert.notEqual(sessions[0]?.iceServers?.[1]?.username, sessions[1]?.iceServers?.[1]?.username);
    assert.notEqual(sessions[0]?.iceServers?.[1]?.credential, sessions[1]?.iceServers?.[1]?.credential);
  });

  test('without ICE settings nothing is sent (a LAN needs no server)', async () => {
    const plain = await startTestSignaling({ tokenSecret: secret });
    try {
      const host = await connectTestHost(plain, { slots: 1 });
      const player = await connectTestPlayer(plain, secret);
      peers.push(host, player);
      player.send({ type: 'play', game: 'neon-drift', codecs: ['H264'] });
      const start = await host.next('start-session');
      const assigned = await player.next('session');
      assert.equal(start.iceServers, undefined);
      assert.equal(assigned.iceServers, undefined);
      assert.equal(assigned.iceTransportPolicy, undefined);
    } finally {
      await plain.close();
    }
  });
});
