/**
 * A render host whose heartbeats stall for 10 s (a long GC pause, a saturated link) is marked down after the
 * deadline — its sessions end — but its live connection is not locked out: its next heartbeat re-attaches it
 * and players are matched to it again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startTestChain, type TestChain } from '../../edge/chain/testing/startTestChain.js';
import {
  connectTestHost,
  connectTestPlayer,
  startTestSignaling,
  type TestSignaling,
} from '../testing/startTestSignaling.js';

const secret = randomBytes(32);
let chain: TestChain;
let server: TestSignaling;
before(async () => {
  chain = await startTestChain();
  // The product's heartbeat schedule: every 2 s, down after 3 missed (6 s).
  server = await startTestSignaling({ chain, tokenSecret: secret });
});
after(async () => {
  await server.close();
  await chain.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a host survives a 10 s heartbeat stall', { timeout: 60_000 }, async () => {
  const game = {
    id: 'stall-game',
    title: 'Stall',
    description: '',
    width: 640,
    height: 360,
    fps: 30,
    inputMode: 'absolute' as const,
    audio: false,
  };
  const host = await connectTestHost(server, { hostId: 'stalling-host', games: [game], slots: 1 });
  const beat = () => host.send({ type: 'heartbeat', load: 0.1, slots: [{ slot: 0, state: 'free' }] });
  beat();
  await sleep(10_000); // no heartbeat for 10 s
  assert.equal(server.hub.hosts.get(host.hostId)?.state, 'down', 'the stall is noticed');
  const errorsBefore = host.received.filter((m) => m.type === 'error').length;
  for (let i = 0; i < 3; i++) {
    beat();
    await sleep(500);
  }
  const refused = host.received.filter((m) => m.type === 'error').slice(errorsBefore);
  assert.deepEqual(refused, [], 'heartbeats after the stall were refused');
  assert.equal(server.hub.hosts.get(host.hostId)?.state, 'up');
  const player = await connectTestPlayer(server, secret);
  player.send({ type: 'play', game: 'stall-game', codecs: ['H264'], queue: false });
  const start = await host.next('start-session', 5_000);
  assert.equal((await player.next('session')).sessionId, start.sessionId, 'matched to the host again');
  player.terminate();
  host.terminate();
});
