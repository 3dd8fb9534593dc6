/**
 * Two signaling instances on one real redis-server (started here on a free port): a slot is never leased
 * twice across instances, a player on one instance plays on a host connected to the other, the queue spans
 * both, and a Redis restart (empty) is recovered from without help.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { issuePlayerToken } from '../../auth/playerTokens.js';
import { DEFAULT_CHECK_SETTINGS } from '../../checkers/CheckerDesk.js';
import type { PaymentGate } from '../../hub/PaymentGate.js';
import { type ClusterDirectMessage, encodeClusterDirect, parseClusterDirectBatch } from '../../protocol/cluster.js';
import type { SignalingServer } from '../../startSignaling.js';
import {
  connectTestHost,
  connectTestPlayer,
  startTestSignaling,
  type TestSignaling,
} from '../../testing/startTestSignaling.js';
import { connectTestChecker, signTestReport } from '../../testing/TestChecker.js';
import type { TestPeer } from '../../testing/TestPeer.js';
import { waitUntil } from '../../testing/waitFor.js';
import { RedisSignalingStore } from './RedisSignalingStore.js';
import { startRedisProxy } from './testing/startRedisProxy.js';
import { useTwoInstances } from './testing/twoInstances.js';

const secret = randomBytes(32);
const net = useTwoInstances({ secret });

/** Two instances of one network, `ia` and `ib`, on a fresh prefix. */
async function pair(): Promise<[TestSignaling, TestSignaling]> {
  const [a, b] = await net.network('i', { reloadGraceMs: 200, leaseTtlMs: 10_000 });
  return [a, b];
}

const peers: TestPeer[] = [];
net.closeLater(() => {
  for (const peer of peers) peer.terminate();
});
const track = <T extends TestPeer>(peer: T): T => {
  peers.push(peer);
  return peer;
};

const game = (id: string) => ({
  id,
  title: id,
  description: 'test game',
  width: 1280,
  height: 720,
  fps: 60,
  inputMode: 'absolute' as const,
  audio: false,
});

/** A host registered straight into a store, as the instance its connection `peerId` is on would. */
function registerHost(
  store: RedisSignalingStore,
  {
    peerId,
    hostId,
    game: gameId,
    slots,
    probeReserve,
  }: { peerId: string; hostId: string; game: string; slots: number; probeReserve?: number },
): void {
  store.hosts.register({
    peerId,
    nowMs: Date.now(),
    message: {
      type: 'register',
      hostId,
      providerAddress: `0x${'22'.repeat(20)}`,
      signature: `0x${'00'.repeat(65)}`,
      region: { country: 'DE', lat: 50, lon: 8 },
      gpu: 'test',
      encoder: 'x264',
      games: [game(gameId)],
      slots,
      ...(probeReserve === undefined ? {} : { probeReserve }),
      priceWeiPerSec: '1000',
      endpoints: { probeUrl: 'ws://127.0.0.1:1/probe', metricsUrl: 'http://127.0.0.1:1/metrics' },
    },
  });
}

describe('slots across instances', () => {
  test('two stores racing for the same slots: each slot goes to exactly one session', async () => {
    const log = pino({ level: 'silent' });
    const prefix = `race${randomBytes(3).toString('hex')}:`;
    const [one, two] = await Promise.all([
      RedisSignalingStore.open({ url: net.redis.url, log, prefix, instanceId: 'r1' }),
      RedisSignalingStore.open({ url: net.redis.url, log, prefix, instanceId: 'r2' }),
    ]);
    net.closeLater(
      () => one.close(),
      () => two.close(),
    );
    const slots = 40;
    registerHost(one, { peerId: 'peer-r1-00', hostId: 'race-host', game: 'race-game', slots, probeReserve: 1 });
    await waitUntil(() => two.hosts.get('race-host')?.slots.length === slots, {
      what: 'the host on the second instance',
      timeoutMs: 5_000,
    });
    const session = (n: number) => `0x${n.toString(16).padStart(64, '0')}`;
    const results = await Promise.all(
      Array.from({ length: slots }, (_, slot) => [
        one.hosts.tryLease('race-host', slot, session(slot * 2)),
        two.hosts.tryLease('race-host', slot, session(slot * 2 + 1)),
      ]).flat(),
    );
    for (let slot = 0; slot < slots; slot++) {
      const won = [results[slot * 2], results[slot * 2 + 1]].filter(Boolean).length;
      assert.equal(won, 1, `slot ${slot}: ${won} winners`);
    }
    // Both copies converge on who holds each slot.
    await waitUntil(
      () =>
        (one.hosts.get('race-host')?.slots ?? []).every(
          (s, i) => s.sessionId !== undefined && s.sessionId === two.hosts.get('race-host')?.slots[i]?.sessionId,
        ),
      { what: 'both copies to agree', timeoutMs: 5_000 },
    );
    assert.equal(one.hosts.get('race-host')?.freeSlots, 0);
    assert.equal(two.hosts.get('race-host')?.freeSlots, 0);
  });

  test('players on two instances press Play at once for one slot: one plays, the other waits, then plays', async () => {
    const [a, b] = await pair();
    const host = track(await connectTestHost(a, { slots: 1, games: [game('one-slot')] }));
    await waitUntil(() => b.hub.hosts.get(hostIdOf(a)) !== undefined, { what: 'the host on b', timeoutMs: 5_000 });
    const p1 = track(await connectTestPlayer(a, secret));
    const p2 = track(await connectTestPlayer(b, secret));
    p1.send({ type: 'play', game: 'one-slot', codecs: ['H264'] });
    p2.send({ type: 'play', game: 'one-slot', codecs: ['H264'] });
    // The `session` wait stays pending for the player who was queued: it is how that player is served later.
    const outcome = (p: TestPeer) => {
      const served = p.next('session', 20_000);
      return Promise.race([
        served.then((m) => ({ p, served, kind: 'session' as const, sessionId: m.sessionId })),
        p.next('queued').then((m) => ({ p, served, kind: 'queued' as const, sessionId: m.sessionId })),
      ]);
    };
    const results = await Promise.all([outcome(p1), outcome(p2)]);
    assert.deepEqual(results.map((r) => r.kind).sort(), ['queued', 'session']);
    const winner = results.find((r) => r.kind === 'session');
    const waiter = results.find((r) => r.kind === 'queued');
    assert.ok(winner && waiter);
    const start = await host.next('start-session');
    assert.equal(start.sessionId, winner.sessionId);
    winner.p.send({ type: 'quit', sessionId: winner.sessionId });
    assert.equal((await host.next('stop-session')).sessionId, winner.sessionId);
    const served = await waiter.served;
    assert.equal(served.sessionId, waiter.sessionId);
    assert.equal((await host.next('start-session')).sessionId, waiter.sessionId);
  });
});

describe('an instance that lost a session', () => {
  test('its stale writes (the session ended, its slot released) do not reach what the new owner runs', async () => {
    const log = pino({ level: 'silent' });
    const prefix = `lost${randomBytes(3).toString('hex')}:`;
    const [one, two] = await Promise.all([
      RedisSignalingStore.open({ url: net.redis.url, log, prefix, instanceId: 'l1' }),
      RedisSignalingStore.open({ url: net.redis.url, log, prefix, instanceId: 'l2' }),
    ]);
    const direct = new Redis(net.redis.url);
    net.closeLater(
      () => one.close(),
      () => two.close(),
      () => direct.disconnect(),
    );
    registerHost(one, { peerId: 'peer-l1-00', hostId: 'lost-host', game: 'lost-game', slots: 1 });
    const id = `0x${'5e'.repeat(32)}`;
    assert.equal(await one.hosts.tryLease('lost-host', 0, id), true);
    const nowMs = Date.now();
    one.sessions.put({
      id,
      owner: 'l1',
      playerId: 'p-lost',
      playerPeerId: 'peer-l1-01',
      playerAddressKey: 'ab'.repeat(16),
      game: 'lost-game',
      codecs: ['H264'],
      maxPriceWeiPerSec: undefined,
      state: 'streaming',
      hostId: 'lost-host',
      slot: 0,
      priceWeiPerSec: 1000n,
      createdAtMs: nowMs,
      queuedAtMs: undefined,
      leasedAtMs: nowMs,
      streamingAtMs: nowMs,
      setupObserved: false,
      endedAtMs: undefined,
      endReason: undefined,
      endMessage: undefined,
      queueIfBusy: true,
      probeHostIds: [],
      decision: undefined,
      payerAddress: undefined,
    });
    one.hosts.confirm('lost-host', 0, id);
    await waitUntil(() => two.sessions.get(id)?.state === 'streaming', { what: 'the session on l2', timeoutMs: 5_000 });
    await waitUntil(async () => (await direct.hget(`${prefix}slots:lost-host`, '0')) === `busy|${id}`, {
      what: 'the slot busy in Redis',
      timeoutMs: 5_000,
    });
    // l2 takes the session over (l1 was cut off, say). l1 has not heard: it still has its own copy, and ends it —
    // as it would have while cut off, its writes reaching Redis once it is back.
    const stale = { ...(one.sessions.get(id) as NonNullable<ReturnType<typeof one.sessions.get>>) };
    assert.equal(await two.cluster.claimSession(id, 'l1'), true);
    const moved: Array<{ sessionId: string; playerPeerId?: string }> = [];
    one.cluster.onEvent((event) => {
      if (event.kind === 'sessionMoved') moved.push(event);
    });
    one.sessions.put({ ...stale, state: 'ended', endReason: 'player-left', endedAtMs: Date.now() });
    one.hosts.release('lost-host', 0, id);
    await one.redis.ping(); // l1's commands are answered in order: its writes are done (or refused) now
    // Redis keeps the owner's record and the slot; l1's copy comes back to it, told the session moved.
    const record = JSON.parse((await direct.get(`${prefix}s:${id}`)) ?? '{}') as { owner?: string; state?: string };
    assert.deepEqual([record.owner, record.state], ['l2', 'streaming'], 'the owner’s record stands');
    assert.equal(await direct.hget(`${prefix}slots:lost-host`, '0'), `busy|${id}`, 'the slot stays the session’s');
    await waitUntil(() => one.sessions.get(id)?.owner === 'l2' && one.sessions.get(id)?.state === 'streaming', {
      what: 'l1’s copy back to l2’s record',
      timeoutMs: 5_000,
    });
    assert.deepEqual(moved, [{ kind: 'sessionMoved', sessionId: id, playerPeerId: 'peer-l1-01' }]);
    assert.equal(two.sessions.get(id)?.state, 'streaming');
    assert.equal(two.hosts.get('lost-host')?.slots[0]?.sessionId, id);
    // The owner's own writes go through, and so does its release when the session ends.
    const current = two.sessions.get(id);
    assert.ok(current);
    two.sessions.put({ ...current, state: 'ended', endReason: 'player-quit', endedAtMs: Date.now() });
    two.hosts.release('lost-host', 0, id);
    await waitUntil(async () => (await direct.hget(`${prefix}slots:lost-host`, '0')) === 'free', {
      what: 'the slot freed by its owner',
      timeoutMs: 5_000,
    });
    await waitUntil(() => one.sessions.get(id)?.state === 'ended', { what: 'the end on l1', timeoutMs: 5_000 });
  });
});

/** `l1` reaches Redis through a proxy the test holds, `l2` directly; a streaming session of l1's on `hostId`. */
async function cutOffPair(name: string, hostId: string, slots: number) {
  const log = pino({ level: 'silent' });
  const prefix = `${name}${randomBytes(3).toString('hex')}:`;
  const proxy = await startRedisProxy(net.redis.port);
  net.closeLater(() => proxy.close());
  const [one, two] = await Promise.all([
    RedisSignalingStore.open({ url: proxy.url, log, prefix, instanceId: 'l1' }),
    RedisSignalingStore.open({ url: net.redis.url, log, prefix, instanceId: 'l2' }),
  ]);
  const direct = new Redis(net.redis.url);
  net.closeLater(
    () => one.close(),
    () => two.close(),
    () => direct.disconnect(),
  );
  registerHost(one, { peerId: 'peer-l1-00', hostId, game: `${name}-game`, slots });
  const session = (id: string, owner: string, playerId: string, slot: number) => {
    const nowMs = Date.now();
    return {
      id,
      owner,
      playerId,
      playerPeerId: `peer-${owner}-0${slot + 1}`,
      playerAddressKey: 'ab'.repeat(16),
      game: `${name}-game`,
      codecs: ['H264' as const],
      maxPriceWeiPerSec: undefined,
      state: 'streaming' as const,
      hostId,
      slot,
      priceWeiPerSec: 1000n,
      createdAtMs: nowMs,
      queuedAtMs: undefined,
      leasedAtMs: nowMs,
      streamingAtMs: nowMs,
      setupObserved: false,
      endedAtMs: undefined,
      endReason: undefined,
      endMessage: undefined,
      queueIfBusy: true,
      probeHostIds: [],
      decision: undefined,
      payerAddress: undefined,
    };
  };
  const s1 = `0x${'a1'.repeat(32)}`;
  one.sessions.put(session(s1, 'l1', 'p-one', 0));
  one.sessions.setActive('p-one', s1);
  assert.equal(await one.hosts.tryLease(hostId, 0, s1), true);
  one.hosts.confirm(hostId, 0, s1);
  await waitUntil(async () => (await direct.hget(`${prefix}slots:${hostId}`, '0')) === `busy|${s1}`, {
    what: 'the slot busy in Redis',
    timeoutMs: 5_000,
  });
  await waitUntil(() => two.sessions.get(s1)?.state === 'streaming' && two.sessions.activeOf('p-one') === s1, {
    what: 'the session on l2',
    timeoutMs: 5_000,
  });
  return { prefix, proxy, one, two, direct, session, s1 };
}

describe('an instance cut off from Redis, its queued writes sent when it gets back', () => {
  test('its "host down: free all its slots" frees neither a slot the host leased on another instance meanwhile nor one of a session taken over', async () => {
    const hostId = 'downed-host';
    const { prefix, proxy, one, two, direct, session, s1 } = await cutOffPair('down', hostId, 2);
    proxy.hold();
    // l1, cut off, sees the host's connection go: it frees all the host's slots (queued for Redis).
    assert.deepEqual(one.hosts.releaseAll(hostId), [s1]);
    // Meanwhile the host re-registers on l2, the player resumes there (l2 takes s1 over), a second player gets slot 1.
    registerHost(two, { peerId: 'peer-l2-00', hostId, game: 'down-game', slots: 2 });
    assert.equal(await two.cluster.claimSession(s1, 'l1'), true);
    const s2 = `0x${'a2'.repeat(32)}`;
    two.sessions.put(session(s2, 'l2', 'p-two', 1));
    assert.equal(await two.hosts.tryLease(hostId, 1, s2), true);
    two.hosts.confirm(hostId, 1, s2);
    proxy.heal();
    await one.redis.ping(); // l1's queued commands are answered in order: its release is done (or refused) now
    assert.deepEqual(
      await direct.hgetall(`${prefix}slots:${hostId}`),
      { '0': `busy|${s1}`, '1': `busy|${s2}` },
      'the slots l2 runs sessions on stay theirs',
    );
    // Booking slot 1 again for another session is refused: one session a slot.
    assert.equal(await one.hosts.tryLease(hostId, 1, `0x${'a3'.repeat(32)}`), false);
    assert.deepEqual(
      two.hosts.get(hostId)?.slots.map((slot) => slot.sessionId),
      [s1, s2],
    );
    await waitUntil(
      () =>
        one.hosts
          .get(hostId)
          ?.slots.map((slot) => slot.sessionId)
          .join() === `${s1},${s2}`,
      {
        what: 'l1’s copy of the slots back to Redis’s',
        timeoutMs: 5_000,
      },
    );
    // A host down with the caller's own session on it (or an ownerless lease) is still freed.
    two.hosts.releaseAll(hostId);
    await waitUntil(
      async () => Object.values(await direct.hgetall(`${prefix}slots:${hostId}`)).join() === 'free,free',
      { what: 'the owner freeing its slots', timeoutMs: 5_000 },
    );
  });

  test('its "the player’s session is over" does not clear the active session another instance runs for the player', async () => {
    const { prefix, proxy, one, two, direct, session, s1 } = await cutOffPair('act', 'act-host', 2);
    const s2 = `0x${'b2'.repeat(32)}`;
    one.sessions.put(session(s2, 'l1', 'p-two', 1));
    one.sessions.setActive('p-two', s2);
    await waitUntil(() => two.sessions.activeOf('p-two') === s2, { what: 'p-two active on l2', timeoutMs: 5_000 });
    proxy.hold();
    // l1, cut off, ends both players' sessions as far as it knows.
    one.sessions.clearActive('p-one', s1);
    one.sessions.clearActive('p-two', s2);
    // Meanwhile l2 takes s1 over (p-one resumed there) and p-two starts a new session on l2.
    assert.equal(await two.cluster.claimSession(s1, 'l1'), true);
    const s3 = `0x${'b3'.repeat(32)}`;
    two.sessions.put(session(s3, 'l2', 'p-two', 1));
    two.sessions.setActive('p-two', s3);
    proxy.heal();
    await one.redis.ping();
    assert.deepEqual(
      await direct.hgetall(`${prefix}active`),
      { 'p-one': s1, 'p-two': s3 },
      'l2’s sessions stay active',
    );
    await waitUntil(() => one.sessions.activeOf('p-one') === s1 && one.sessions.activeOf('p-two') === s3, {
      what: 'l1’s copy back to Redis’s',
      timeoutMs: 5_000,
    });
    assert.deepEqual([two.sessions.activeOf('p-one'), two.sessions.activeOf('p-two')], [s1, s3]);
    // The owner's own clear goes through.
    two.sessions.clearActive('p-two', s3);
    await waitUntil(async () => (await direct.hget(`${prefix}active`, 'p-two')) === null, {
      what: 'the owner clearing its player’s session',
      timeoutMs: 5_000,
    });
  });

  test('its "host down" and "host forgotten" do not overwrite the record of a host that registered again on another instance', async () => {
    const hostId = 'rereg-host';
    const { prefix, proxy, one, two, direct } = await cutOffPair('rereg', hostId, 2);
    // A second host of l1's, which l1 will forget (down past its TTL) while cut off.
    registerHost(one, { peerId: 'peer-l1-09', hostId: 'rereg-other', game: 'rereg-game', slots: 1 });
    await waitUntil(() => two.hosts.get('rereg-other') !== undefined, {
      what: 'the other host on l2',
      timeoutMs: 5_000,
    });
    proxy.hold();
    // l1, cut off, sees both hosts' connections go: it marks the first down (as Registration.hostDown does) and
    // forgets the second (queued for Redis, sent when it gets back).
    one.hosts.update(hostId, { state: 'down', peerId: undefined, downSinceMs: Date.now() });
    one.hosts.remove('rereg-other');
    // Meanwhile both register again on l2, which leases slot 1 of the first and slot 0 of the second.
    registerHost(two, { peerId: 'peer-l2-00', hostId, game: 'rereg-game', slots: 2 });
    registerHost(two, { peerId: 'peer-l2-09', hostId: 'rereg-other', game: 'rereg-game', slots: 1 });
    assert.equal(await two.hosts.tryLease(hostId, 1, `0x${'c2'.repeat(32)}`), true);
    assert.equal(await two.hosts.tryLease('rereg-other', 0, `0x${'c3'.repeat(32)}`), true);
    proxy.heal();
    await one.redis.ping(); // l1's queued commands are answered in order: its writes are done (or refused) now
    // A marker through l1's feed: once l2 has it, l2 has heard whatever l1 published before it.
    one.prefixes.put('203.0.113', { lat: 1, lon: 2, samples: 1, bestRttMs: 10, atMs: Date.now() });
    await waitUntil(() => two.prefixes.get('203.0.113') !== undefined, { what: 'l1’s marker on l2', timeoutMs: 5_000 });
    const record = async (id: string) => {
      const raw = await direct.get(`${prefix}h:${id}`);
      const wire = raw ? (JSON.parse(raw) as { state?: string; peerId?: string }) : undefined;
      return wire ? `${wire.state} ${wire.peerId}` : 'gone';
    };
    assert.deepEqual(
      {
        redis: [await record(hostId), await record('rereg-other')],
        slots: [
          await direct.hget(`${prefix}slots:${hostId}`, '1'),
          await direct.hget(`${prefix}slots:rereg-other`, '0'),
        ],
        l2: [hostId, 'rereg-other'].map((id) => `${two.hosts.get(id)?.state} ${two.hosts.get(id)?.peerId}`),
      },
      {
        redis: ['up peer-l2-00', 'up peer-l2-09'],
        slots: [`leased|0x${'c2'.repeat(32)}`, `leased|0x${'c3'.repeat(32)}`],
        l2: ['up peer-l2-00', 'up peer-l2-09'],
      },
      'the hosts stay up where they registered again, with their leases',
    );
    await waitUntil(
      () =>
        [hostId, 'rereg-other'].map((id) => `${one.hosts.get(id)?.state} ${one.hosts.get(id)?.peerId}`).join() ===
        'up peer-l2-00,up peer-l2-09',
      { what: 'l1’s copy back to Redis’s', timeoutMs: 5_000 },
    );
    assert.equal(one.hosts.get('rereg-other')?.slots[0]?.sessionId, `0x${'c3'.repeat(32)}`);
    // The instance the host is on now changes its record as before.
    two.hosts.update(hostId, { qualityScore: 0.9 });
    await waitUntil(() => one.hosts.get(hostId)?.qualityScore === 0.9, { what: 'l2’s change on l1', timeoutMs: 5_000 });
  });

  test('its session record, sent back after another instance ended and deleted the session, does not bring it back', async () => {
    const { prefix, proxy, one, two, direct, s1 } = await cutOffPair('zomb', 'zomb-host', 1);
    const mine = one.sessions.get(s1);
    assert.ok(mine);
    // l1's meter keeps the session's running state in Redis (at every report and tick).
    const meterState = {
      tickIndex: 1,
      pendingTicks: [],
      lastTickAtMs: Date.now(),
      cursorMs: Date.now(),
      deliveredMs: 0,
      hostGoodAtMs: null,
      hostFpsMilli: null,
      playerBadAtMs: null,
      lastSignAtMs: Date.now(),
      checkerGoodAtMs: null,
      checkerBadAtMs: null,
      heldMs: 0,
      disputeSinceMs: null,
      verdictFailed: false,
    };
    one.meters.save(s1, meterState);
    await waitUntil(async () => (await direct.hexists(`${prefix}meter`, s1)) === 1, {
      what: 'l1’s meter state in Redis',
      timeoutMs: 5_000,
    });
    proxy.hold();
    // l1, cut off, still runs s1 as far as it knows: its copy and its meter's state change (queued for Redis).
    one.sessions.put({ ...mine, setupObserved: true });
    one.meters.save(s1, { ...meterState, tickIndex: 2 });
    // Meanwhile l2 takes s1 over (its player resumed there), the player quits, and the ended session is forgotten.
    assert.equal(await two.cluster.claimSession(s1, 'l1'), true);
    const taken = two.sessions.get(s1);
    assert.ok(taken);
    two.sessions.put({ ...taken, state: 'ended', endReason: 'player-quit', endedAtMs: Date.now() });
    two.sessions.clearActive('p-one', s1);
    two.hosts.release('zomb-host', 0, s1);
    two.sessions.delete(s1);
    await waitUntil(async () => (await direct.exists(`${prefix}s:${s1}`)) === 0, {
      what: 's1 deleted',
      timeoutMs: 5_000,
    });
    proxy.heal();
    await one.redis.ping();
    one.prefixes.put('198.51.100', { lat: 1, lon: 2, samples: 1, bestRttMs: 10, atMs: Date.now() });
    await waitUntil(() => two.prefixes.get('198.51.100') !== undefined, {
      what: 'l1’s marker on l2',
      timeoutMs: 5_000,
    });
    assert.deepEqual(
      {
        record: await direct.get(`${prefix}s:${s1}`),
        listed: await direct.sismember(`${prefix}sessions`, s1),
        owner: await direct.hget(`${prefix}own`, s1),
        l2: two.sessions.get(s1)?.state ?? null,
        meter: await direct.hget(`${prefix}meter`, s1),
      },
      { record: null, listed: 0, owner: null, l2: null, meter: null },
      'the deleted session stays deleted',
    );
    await waitUntil(() => one.sessions.get(s1) === undefined, { what: 's1 gone from l1’s copy', timeoutMs: 5_000 });
    // Nor can it be claimed again (a stale resume on l1): it is over.
    assert.equal(await one.cluster.claimSession(s1), false);
    assert.equal(await direct.hget(`${prefix}own`, s1), null);
  });
});

describe('a hostile host', () => {
  test('one host id registered on two instances, the second not having heard of the first: the first holds it, the second connection is dropped, and the host goes down everywhere when it leaves', async () => {
    // b reaches Redis through a proxy the test holds: while held, b hears nothing of a's registration (as in the
    // moment two registrations cross, or while b is cut off).
    const proxy = await startRedisProxy(net.redis.port);
    net.closeLater(() => proxy.close());
    const [a, b, prefix] = await net.network('dup', { reloadGraceMs: 200, leaseTtlMs: 10_000 }, proxy.url);
    const { privateKey } = await net.chain.newStakedAccount('software');
    const options = { privateKey, hostId: 'twice', slots: 2, games: [game('dup-game')] };
    proxy.hold();
    const first = track(await connectTestHost(a, options));
    const second = track(await connectTestHost(b, options));
    const dropped = second.next('error', 10_000);
    proxy.heal();
    const hostId = first.hostId;
    assert.equal(second.hostId, hostId);
    const direct = new Redis(net.redis.url);
    net.closeLater(() => direct.disconnect());
    const firstPeer = a.hub.hosts.get(hostId)?.peerId;
    await waitUntil(
      async () =>
        b.hub.hosts.get(hostId)?.peerId === firstPeer &&
        (JSON.parse((await direct.get(`${prefix}h:${hostId}`)) ?? '{}') as { peerId?: string }).peerId === firstPeer,
      { what: 'b’s copy and Redis to name a’s connection', timeoutMs: 5_000 },
    ).catch(async () =>
      assert.fail(
        `a names ${firstPeer}, b ${b.hub.hosts.get(hostId)?.peerId}, Redis ${await direct.get(`${prefix}h:${hostId}`)}`,
      ),
    );
    // The second connection is told it does not hold the host (and closed: a reconnect is refused while a's holds it).
    assert.equal((await dropped).code, 'ATH_ERR_NOT_ALLOWED');
    // The connection that holds the host goes: the host is down on both instances (no ghost left up).
    first.terminate();
    await waitUntil(() => a.hub.hosts.get(hostId)?.state === 'down' && b.hub.hosts.get(hostId)?.state === 'down', {
      what: 'the host down on both instances',
      timeoutMs: 5_000,
    }).catch(() =>
      assert.fail(`after it left: a ${a.hub.hosts.get(hostId)?.state}, b ${b.hub.hosts.get(hostId)?.state}`),
    );
  });
});

describe('relaying across instances', () => {
  test('a player on one instance and its host on the other exchange SDP, ICE, input and session events', async () => {
    const [a, b] = await pair();
    const host = track(await connectTestHost(b, { slots: 1, games: [game('far-game')] }));
    await waitUntil(() => [...a.hub.hosts.all()].length === 1, { what: 'the host on a', timeoutMs: 5_000 });
    const player = track(await connectTestPlayer(a, secret));
    player.send({ type: 'play', game: 'far-game', codecs: ['H264'] });
    const assigned = await player.next('session');
    const start = await host.next('start-session');
    assert.equal(start.sessionId, assigned.sessionId);
    assert.equal(a.hub.getSession(assigned.sessionId)?.owner, 'ia');

    host.send({ type: 'offer', sessionId: start.sessionId, sdp: 'v=0 offer' });
    assert.equal((await player.next('offer')).sdp, 'v=0 offer');
    player.send({ type: 'answer', sessionId: start.sessionId, sdp: 'v=0 answer' });
    assert.equal((await host.next('answer')).sdp, 'v=0 answer');
    const candidate = { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 };
    host.send({ type: 'ice', sessionId: start.sessionId, candidate });
    assert.deepEqual((await player.next('ice')).candidate, candidate);
    player.send({ type: 'ice', sessionId: start.sessionId, candidate: null });
    assert.equal((await host.next('ice')).candidate, null);
    player.send({ type: 'input', sessionId: start.sessionId, data: 'AQID' });
    assert.equal((await host.next('input')).data, 'AQID');

    host.send({ type: 'session-started', sessionId: start.sessionId });
    await waitUntil(() => [a, b].every((s) => s.hub.getSession(start.sessionId)?.state === 'streaming'), {
      what: 'streaming on both',
      timeoutMs: 5_000,
    });
    assert.equal(b.hub.hosts.get(hostIdOf(b))?.slots[0]?.state, 'busy');

    // A frame refused on the owner comes back to the sender on the other instance as a typed error.
    host.send({ type: 'offer', sessionId: `0x${'ab'.repeat(32)}`, sdp: 'v=0' });
    assert.equal((await host.next('error')).code, 'ATH_ERR_SESSION_NOT_FOUND');

    player.send({ type: 'quit', sessionId: start.sessionId });
    assert.equal((await host.next('stop-session')).reason, 'player-quit');
    await waitUntil(() => [a, b].every((s) => [...s.hub.hosts.all()][0]?.slots[0]?.state === 'free'), {
      what: 'the slot free on both',
      timeoutMs: 5_000,
    });
  });
});

describe('a player resuming on another instance', () => {
  test('a fault after the session was claimed here is replied as an error: the player is not sent on to another server', async () => {
    const prefix = `bug${randomBytes(3).toString('hex')}:`;
    const settings = { chain: net.chain, tokenSecret: secret, reloadGraceMs: 200, leaseTtlMs: 10_000 };
    const a = await startTestSignaling(settings, { redisUrl: net.redis.url, prefix, instanceId: 'bga' });
    net.closeLater(() => a.close());
    // b's payment desk fails (a bug, not a refusal) when it takes an adopted session on — after the claim.
    const faulty = {
      get authTimeoutMs(): number {
        throw new Error('a fault in the payment desk');
      },
    } as unknown as PaymentGate;
    const b = await startTestSignaling(
      { ...settings, payments: faulty },
      { redisUrl: net.redis.url, prefix, instanceId: 'bgb' },
    );
    net.closeLater(() => b.close());
    const host = track(await connectTestHost(a, { slots: 1, games: [game('bug-game')] }));
    await waitUntil(() => b.hub.hosts.get(host.hostId)?.state === 'up', { what: 'the host on b', timeoutMs: 5_000 });
    const token = issuePlayerToken({ secret, ttlSec: 600 }).token;
    const player = track(await connectTestPlayer(a, secret, token));
    player.send({ type: 'play', game: 'bug-game', codecs: ['H264'] });
    const { sessionId } = await player.next('session');
    await host.next('start-session');
    host.send({ type: 'session-started', sessionId });
    await waitUntil(() => b.hub.getSession(sessionId)?.state === 'streaming', { what: 'streaming', timeoutMs: 5_000 });
    player.terminate();
    const again = track(await connectTestPlayer(b, secret, token));
    again.send({ type: 'play', game: 'bug-game', codecs: ['H264'], resumeSessionId: sessionId, keepStream: true });
    // The claim went through (b runs the session now): the fault after it is this server's, not a reason to send
    // the player on — the next server would only send it back (before: closed with 4010).
    const error = await again.next('error');
    assert.equal(error.code, 'ATH_ERR_INTERNAL');
    assert.equal(b.hub.getSession(sessionId)?.owner, 'bgb');
  });
});

describe('a player resuming one session on two instances at once', () => {
  test('one instance takes the session over, the other sends its connection on: one owner everywhere, one adoption', async () => {
    const [a, b, prefix] = await net.network('dr', { reloadGraceMs: 200, leaseTtlMs: 10_000 });
    const c = await startTestSignaling(
      { chain: net.chain, tokenSecret: secret, reloadGraceMs: 200, leaseTtlMs: 10_000 },
      { redisUrl: net.redis.url, prefix, instanceId: 'drc' },
    );
    net.closeLater(() => c.close());
    const host = track(await connectTestHost(a, { slots: 1, games: [game('twice-game')] }));
    await waitUntil(() => [b, c].every((s) => s.hub.hosts.get(host.hostId)?.state === 'up'), {
      what: 'the host on b and c',
      timeoutMs: 5_000,
    });
    const token = issuePlayerToken({ secret, ttlSec: 600 }).token;
    const player = track(await connectTestPlayer(a, secret, token));
    player.send({ type: 'play', game: 'twice-game', codecs: ['H264'] });
    const { sessionId } = await player.next('session');
    await host.next('start-session');
    host.send({ type: 'session-started', sessionId });
    await waitUntil(() => [b, c].every((s) => s.hub.getSession(sessionId)?.state === 'streaming'), {
      what: 'streaming on b and c',
      timeoutMs: 5_000,
    });
    // Each adoption claims the session's metering in the ledger (edge/metering Meter): two of them race there, and
    // the ledger's last claim need not be Redis's last — the instance Redis names is fenced, the other thinks the
    // session moved away, and nobody meters the stream that goes on.
    const adopted: string[] = [];
    for (const s of [b, c]) s.hub.on('sessionAdopted', () => adopted.push(s.hub.instanceId));
    const onB = track(await connectTestPlayer(b, secret, token));
    const onC = track(await connectTestPlayer(c, secret, token));
    const resume = { type: 'play', game: 'twice-game', codecs: ['H264'], resumeSessionId: sessionId, keepStream: true };
    onB.send({ ...resume, type: 'play', codecs: ['H264'] });
    onC.send({ ...resume, type: 'play', codecs: ['H264'] });
    const outcome = (peer: TestPeer) =>
      peer.nextOf(['session', 'error']).then(
        (m) => m.type,
        async () => `closed ${(await peer.closed()).code}`,
      );
    const outcomes = (await Promise.all([outcome(onB), outcome(onC)])).sort();
    assert.deepEqual(outcomes, ['closed 4010', 'session'], 'one resumes, the other is sent on');
    assert.equal(adopted.length, 1, `adopted by ${adopted.join(' and ')}`);
    const redis = new Redis(net.redis.url);
    net.closeLater(() => redis.disconnect());
    const owner = await redis.hget(`${prefix}own`, sessionId);
    assert.equal(owner, adopted[0]);
    await waitUntil(() => [a, b, c].every((s) => s.hub.getSession(sessionId)?.owner === owner), {
      what: 'every copy naming that owner',
      timeoutMs: 5_000,
    });
  });
});

describe('direct messages between instances', () => {
  const log = pino({ level: 'silent' });
  async function stores(prefix: string, ids: string[]): Promise<RedisSignalingStore[]> {
    const opened = await Promise.all(
      ids.map((instanceId) => RedisSignalingStore.open({ url: net.redis.url, log, prefix, instanceId })),
    );
    for (const store of opened) net.closeLater(() => store.close());
    return opened;
  }
  const sessionId = `0x${'cd'.repeat(32)}`;
  const remotePeer = {
    peerId: 'peer-d1-7',
    role: 'player' as const,
    identity: { kind: 'player' as const, playerId: 'player-1' },
  };

  test('the messages of one turn reach each instance in one batch, whole and in order, bodies as sent', async () => {
    const prefix = `direct${randomBytes(3).toString('hex')}:`;
    const [one, two, three] = await stores(prefix, ['d1', 'd2', 'd3']);
    assert.ok(one && two && three);
    const got = { two: [] as ClusterDirectMessage[], three: [] as ClusterDirectMessage[] };
    two.cluster.onMessage((m) => got.two.push(m));
    three.cluster.onMessage((m) => got.three.push(m));
    const batches: string[] = [];
    const tap = new Redis(net.redis.url);
    net.closeLater(() => void tap.quit());
    tap.on('message', (_channel: string, raw: string) => batches.push(raw));
    await tap.subscribe(`${prefix}to:d2`);
    // Bodies with what JSON must escape (quotes, backslashes, control characters, a line break escaped).
    const tricky = JSON.stringify({ type: 'offer', sessionId, sdp: 'v=0\r\na="q"\\ \u0001 ☃' });
    const sent: ClusterDirectMessage[] = [
      { k: 'deliver', peerId: 'peer-d2-1', message: tricky },
      { k: 'frame', peer: remotePeer, raw: JSON.stringify({ type: 'ice', sessionId, candidate: null }) },
      { k: 'end', sessionId, reason: 'player-quit', message: 'line one\nline two' },
      { k: 'hostBack', hostId: 'host-1' },
      { k: 'deliver', peerId: 'peer-d2-2', message: '{"type":"queued"}' },
    ];
    for (const message of sent) assert.equal(one.cluster.send('d2', message), true);
    assert.equal(one.cluster.send('d3', { k: 'hostBack', hostId: 'host-3' }), true);
    await waitUntil(() => got.two.length === sent.length && got.three.length === 1, {
      what: 'every message',
      timeoutMs: 5_000,
    });
    assert.deepEqual(got.two, sent);
    assert.deepEqual(got.three, [{ k: 'hostBack', hostId: 'host-3' }]);
    assert.equal(batches.length, 1, 'one PUBLISH for the turn');
    // A body is not a string inside a string: it follows its envelope as the line it was.
    assert.ok(batches[0]?.split('\n').includes(tricky));
  });

  test('messages sent turn after turn while a write awaits its reply all arrive, in order', async () => {
    const prefix = `turns${randomBytes(3).toString('hex')}:`;
    const [one, two] = await stores(prefix, ['t1', 't2']);
    assert.ok(one && two);
    const got: string[] = [];
    two.cluster.onMessage((m) => {
      if (m.k === 'deliver') got.push(m.message);
    });
    const sent: string[] = [];
    for (let turn = 0; turn < 200; turn++) {
      const body = JSON.stringify({ type: 'queued', n: turn });
      sent.push(body);
      assert.equal(one.cluster.send('t2', { k: 'deliver', peerId: 'peer-t2-1', message: body }), true);
      if (turn % 3 === 0) sent.push(body.replace('queued', 'again'));
      if (turn % 3 === 0)
        one.cluster.send('t2', { k: 'deliver', peerId: 'peer-t2-1', message: body.replace('queued', 'again') });
      await new Promise((resolve) => setImmediate(resolve));
    }
    await waitUntil(() => got.length === sent.length, { what: 'every message', timeoutMs: 5_000 });
    assert.deepEqual(got, sent);
  });

  test('a hostile batch on an instance’s channel: each bad message is refused alone, the rest served', async () => {
    const prefix = `hostile${randomBytes(3).toString('hex')}:`;
    const [target] = await stores(prefix, ['h1']);
    assert.ok(target);
    const got: ClusterDirectMessage[] = [];
    target.cluster.onMessage((m) => got.push(m));
    const publisher = new Redis(net.redis.url);
    net.closeLater(() => void publisher.quit());
    const good = { k: 'hostBack', hostId: 'host-ok' };
    await publisher.publish(
      `${prefix}to:h1`,
      [
        JSON.stringify(good),
        '{"k":"deliver","peerId":"NOT A PEER ID"}', // refused (pattern), its body line skipped with it
        '{"type":"welcome"}',
        '{"k":"deliver","peerId":"peer-h1-1","extra":true}', // unknown field: refused
        '{"type":"ice"}',
        '{"k":"frame","peer":{"peerId":"peer-x-1","role":"admin","identity":{"kind":"node","remoteIp":"1"}}}',
        '{"type":"ice"}',
        '{"k":"deliver","peerId":"peer-h1-2","message":"{}"}', // the single-line form is still understood
        '{"k":"end","sessionId":"0x12","reason":"player-quit"}', // bad session id
        '{"k":"nope"}',
        '[1,2]',
        JSON.stringify(good),
        'not json: the rest cannot be framed',
        JSON.stringify(good),
      ].join('\n'),
    );
    // The last body-less deliver: its body line is missing.
    await publisher.publish(`${prefix}to:h1`, '{"k":"deliver","peerId":"peer-h1-3"}');
    await publisher.publish(`${prefix}to:h1`, JSON.stringify({ k: 'hostBack', hostId: 'host-after' }));
    await waitUntil(() => got.some((m) => m.k === 'hostBack' && m.hostId === 'host-after'), {
      what: 'the message after the hostile batches',
      timeoutMs: 5_000,
    });
    assert.deepEqual(got, [
      good,
      { k: 'deliver', peerId: 'peer-h1-2', message: '{}' },
      good,
      { k: 'hostBack', hostId: 'host-after' },
    ]);
  });

  test('a body that is not one line (never written by JSON.stringify) travels inside its envelope', () => {
    const message: ClusterDirectMessage = { k: 'deliver', peerId: 'peer-a-1', message: '{\n"type":"queued"}' };
    const encoded = encodeClusterDirect(message);
    assert.equal(encoded.split('\n').length, 1);
    assert.deepEqual(parseClusterDirectBatch(encoded, assert.fail), [message]);
  });
});

describe('checker rounds across instances', () => {
  test('a host is checked by the instance it is connected to, only: no duplicate rounds, and its probe messages are never refused', async () => {
    const checks = {
      ...DEFAULT_CHECK_SETTINGS,
      intervalMs: 300,
      deadlineMs: 3_000,
      checkersPerContainer: 1,
      minResponders: 1,
    };
    const [a, b] = await net.network('c', { checks });
    const host = track(await connectTestHost(a, { slots: 2, games: [game('checked-game')] }));
    await waitUntil(() => b.hub.hosts.get(host.hostId) !== undefined, { what: 'the host on b', timeoutMs: 5_000 });
    const checkers = { a: await connectTestChecker(a), b: await connectTestChecker(b) };
    track(checkers.a.peer);
    track(checkers.b.peer);
    // Each checker answers what it is assigned as a checker node would: the host's offer, then a signed report.
    const seen: Record<'a' | 'b', Array<{ probe: string; offered: boolean }>> = { a: [], b: [] };
    const answering = (['a', 'b'] as const).map(async (side) => {
      const checker = checkers[side];
      for (;;) {
        const assignment = await checker.peer.next('check-assignment', 6_000).catch(() => undefined);
        if (!assignment) return;
        const probe = { probe: assignment.probeSessionId, offered: false };
        seen[side].push(probe);
        const offer = await checker.peer.next('offer', 2_000).catch(() => undefined);
        probe.offered = offer?.sessionId === assignment.probeSessionId;
        const signed = await signTestReport({ account: checker.account, assignment, ok: true });
        checker.peer.send({ type: 'check-report', ...signed });
      }
    });
    // The host serves each session (probes are sessions to it) as it would a player's: an offer, then it streams.
    const hostErrors: string[] = [];
    const started: string[] = [];
    const serving = (async () => {
      for (;;) {
        const next = await host.nextOf(['start-session', 'error'], 8_000).catch(() => undefined);
        if (!next) return;
        if (next.type === 'error') {
          hostErrors.push(`${next.code}: ${next.message}`);
          continue;
        }
        started.push(next.sessionId);
        host.send({ type: 'offer', sessionId: next.sessionId, sdp: 'v=0 probe' });
        host.send({ type: 'session-started', sessionId: next.sessionId });
      }
    })();
    await waitUntil(() => seen.a.filter((probe) => probe.offered).length >= 3, {
      what: 'three probes answered on a',
      timeoutMs: 15_000,
    });
    assert.deepEqual(seen.b, [], 'the checker on the other instance is never assigned this host');

    // A player on b plays on the host (connected to a) and disputes its delivery: the sampling round runs on a,
    // where the host's messages arrive, and what its checkers measured reaches b's meter for the session.
    const observed: Array<{ sessionId: string; fpsMilli: number }> = [];
    const offReport = b.hub.on('report', (r) => {
      if (r.source === 'checker') observed.push({ sessionId: r.sessionId, fpsMilli: r.fpsMilli });
    });
    try {
      const player = track(await connectTestPlayer(b, secret));
      player.send({ type: 'play', game: 'checked-game', codecs: ['H264'] });
      const { sessionId } = await player.next('session');
      await waitUntil(() => b.hub.getSession(sessionId)?.state === 'streaming', {
        what: 'the player’s session streaming',
        timeoutMs: 15_000,
      });
      b.hub.disputeDelivery({
        sessionId,
        hostId: host.hostId,
        hostFpsMilli: 60_000,
        playerFpsMilli: 0,
        atMs: Date.now(),
      });
      await waitUntil(() => observed.some((o) => o.sessionId === sessionId), {
        what: 'the observation on b',
        timeoutMs: 15_000,
      });
      assert.deepEqual(
        observed.filter((o) => o.sessionId === sessionId),
        [{ sessionId, fpsMilli: 60_000 }],
      );
      assert.deepEqual(seen.b, [], 'the sampling round ran on a too');
    } finally {
      offReport();
    }
    assert.deepEqual(hostErrors, [], 'no message of the host was refused');
    checkers.a.peer.terminate();
    checkers.b.peer.terminate();
    host.terminate();
    await Promise.allSettled([...answering, serving]);
  });
});

describe('Redis restarting', () => {
  const resynced = (store: RedisSignalingStore) =>
    new Promise<void>((resolve) => {
      const off = store.cluster.onEvent((event) => {
        if (event.kind !== 'resynced') return;
        off();
        resolve();
      });
    });

  test('an empty Redis after a restart gets the instances’ state back, and play goes on', async () => {
    const [a, b] = await pair();
    const host = track(await connectTestHost(a, { slots: 2, games: [game('restart-game')] }));
    const heartbeats = setInterval(() => host.send({ type: 'heartbeat', load: 0.1, slots: [] }), 200);
    net.closeLater(() => clearInterval(heartbeats));
    await waitUntil(() => [...b.hub.hosts.all()].length === 1, { what: 'the host on b', timeoutMs: 5_000 });
    const p1 = track(await connectTestPlayer(a, secret));
    p1.send({ type: 'play', game: 'restart-game', codecs: ['H264'] });
    const first = await p1.next('session');
    await host.next('start-session');

    await net.redis.restart();
    // A player presses Play while Redis is empty: it waits in line until the instances have written back what
    // they own, then gets the other slot — never the one the first player holds.
    const p2 = track(await connectTestPlayer(b, secret));
    p2.send({ type: 'play', game: 'restart-game', codecs: ['H264'] });
    const second = await p2.next('session', 20_000);
    await waitUntil(() => b.hub.getSession(first.sessionId)?.state === 'leased', {
      what: 'b to see the host and the first session again',
      timeoutMs: 5_000,
    });
    assert.notEqual(second.slot, first.slot);
    assert.equal((await host.next('start-session')).sessionId, second.sessionId);
  });

  test('an instance cut off while its session was taken over and deleted does not write it back into an empty Redis (the tombstone went with the restart)', async () => {
    const { prefix, proxy, one, two, direct, s1 } = await cutOffPair('rst', 'rst-host', 1);
    const record = await direct.get(`${prefix}s:${s1}`);
    assert.ok(record);
    proxy.hold();
    // While l1 is cut off, l2 takes s1 over (its player resumed there), the player quits, the session is deleted.
    assert.equal(await two.cluster.claimSession(s1, 'l1'), true);
    const taken = two.sessions.get(s1);
    assert.ok(taken);
    two.sessions.put({ ...taken, state: 'ended', endReason: 'player-quit', endedAtMs: Date.now() });
    two.sessions.clearActive('p-one', s1);
    two.hosts.release('rst-host', 0, s1);
    two.sessions.delete(s1);
    await waitUntil(async () => (await direct.exists(`${prefix}gone:${s1}`)) === 1, {
      what: 's1’s tombstone',
      timeoutMs: 5_000,
    });
    // Redis restarts without its data (no persistence): tombstone and all are gone. Both instances write back.
    const [twoBack, oneBack] = [resynced(two), resynced(one)];
    await net.redis.restart();
    await twoBack;
    proxy.heal();
    await oneBack;
    assert.deepEqual(
      {
        record: await direct.get(`${prefix}s:${s1}`),
        owner: await direct.hget(`${prefix}own`, s1),
        l2: two.sessions.get(s1)?.state ?? null,
        slot: await direct.hget(`${prefix}slots:rst-host`, '0'),
      },
      { record: null, owner: null, l2: null, slot: 'free' },
      'the deleted session stays deleted, its slot free',
    );
    await waitUntil(() => one.sessions.get(s1) === undefined, { what: 's1 gone from l1’s copy', timeoutMs: 5_000 });
    // The other order: l1's write-back reached Redis before l2 wrote the tombstone back (done here by hand, as l1
    // would have): l2's next reload from Redis deletes the session again and frees its slot.
    await direct
      .multi()
      .del(`${prefix}gone:${s1}`)
      .set(`${prefix}s:${s1}`, record)
      .sadd(`${prefix}sessions`, s1)
      .hset(`${prefix}own`, s1, 'l1')
      .hset(`${prefix}slots:rst-host`, '0', `busy|${s1}`)
      .exec();
    const reloaded = resynced(two);
    await direct.client('KILL', 'ID', String(await two.redis.client('ID')));
    await reloaded;
    await waitUntil(async () => (await direct.exists(`${prefix}s:${s1}`)) === 0, {
      what: 's1 deleted again',
      timeoutMs: 5_000,
    });
    assert.equal(await direct.hget(`${prefix}slots:rst-host`, '0'), 'free');
    assert.equal(await direct.exists(`${prefix}gone:${s1}`), 1);
    assert.equal(two.sessions.get(s1), undefined);
  });

  test('a host held by two instances (it registered again on one while the other was cut off): what either writes back frees no slot the other holds', async () => {
    const { prefix, proxy, one, two, direct } = await cutOffPair('dbl', 'dbl-host', 2);
    proxy.hold();
    // The host connects to l2 as well (l1 looks down from there): l2 holds it now and leases its slot 1.
    registerHost(two, { peerId: 'peer-l2-00', hostId: 'dbl-host', game: 'dbl-game', slots: 2 });
    const s2 = `0x${'d2'.repeat(32)}`;
    assert.equal(await two.hosts.tryLease('dbl-host', 1, s2), true);
    two.hosts.confirm('dbl-host', 1, s2);
    await waitUntil(async () => (await direct.hget(`${prefix}slots:dbl-host`, '1')) === `busy|${s2}`, {
      what: 'slot 1 busy in Redis',
      timeoutMs: 5_000,
    });
    // Redis restarts empty: l2 writes the host back, then l1 (back from the partition) its own view of it — slot 1
    // free, as far as l1 knows.
    const [twoBack, oneBack] = [resynced(two), resynced(one)];
    await net.redis.restart();
    await twoBack;
    proxy.heal();
    await oneBack;
    assert.equal(await direct.hget(`${prefix}slots:dbl-host`, '1'), `busy|${s2}`, 'slot 1 is still l2’s session’s');
    assert.equal(await two.hosts.tryLease('dbl-host', 1, `0x${'d3'.repeat(32)}`), false, 'and cannot be sold again');
  });
});

function hostIdOf(server: SignalingServer): string {
  const host = [...server.hub.hosts.all()][0];
  if (!host) throw new Error('no host');
  return host.hostId;
}
