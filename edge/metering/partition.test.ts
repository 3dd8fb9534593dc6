/**
 * A Redis partition between two signaling instances that share one ledger (issue 12, the fault left open in
 * session 3): instance A loses Redis but keeps its players, its host and its ledger; B declares A down and adopts
 * A's sessions from the state A last saved in Redis. Both would meter the same session — the seconds A billed
 * after its last save, billed again by B from that save. Real parts: one redis-server started here, A reaching
 * it through a TCP proxy this test cuts (loopback only), anvil with the real contracts, one PGlite ledger, the
 * real payment desks, meters and settlement worker. Only the meters' clock is the test's.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Address } from 'viem';
import { createMetrics, SIGNALING_METRICS } from '../../metrics/index.js';
import { issuePlayerToken } from '../../signaling/auth/playerTokens.js';
import { type RedisServer, startRedisServer } from '../../signaling/store/redis/startRedisServer.js';
import { startRedisProxy } from '../../signaling/store/redis/testing/startRedisProxy.js';
import {
  connectTestPlayer,
  startTestSignaling,
  type TestSignaling,
} from '../../signaling/testing/startTestSignaling.js';
import type { TestPeer } from '../../signaling/testing/TestPeer.js';
import { waitUntil } from '../../signaling/testing/waitFor.js';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import { paymentDeskOnTestChain } from '../economy/testing/paymentDeskOnTestChain.js';
import {
  claimSessionInstance,
  getSession,
  type Ledger,
  listSettlements,
  listUsageTicks,
  meterClaimOf,
  openLedger,
  recordUsageTick,
} from '../ledger/index.js';
import { startTestPostgres } from '../ledger/testing/startTestPostgres.js';
import { authorizeTestSession, leaseTestSession, settleAndCheck, testMeter } from './testing/paidSessions.js';

const PRICE = 10n ** 15n;
const TICK_MS = 5_000;
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const secret = randomBytes(32);

let chain: TestChain;
let ledger: Ledger;
let redis: RedisServer;
const closers: Array<() => Promise<unknown> | unknown> = [];
/** Every provider paid in this file (the escrow's conservation counts their earnings). */
const earners: Address[] = [];
/** The meters' clock (both instances read it: one wall clock, as on real machines). */
let clock = Date.now();

before(async () => {
  [chain, redis, ledger] = await Promise.all([
    startTestChain({ withdrawDelaySec: 0n }),
    startRedisServer(),
    openLedger({}),
  ]);
});

after(async () => {
  for (const close of closers.reverse()) await close();
  await ledger?.close();
  await redis?.close();
  await chain?.close();
});

/**
 * One signaling instance: its hub (on Redis at `redisUrl`, or alone), its payment desk and its meter, on `on`
 * (the file's PGlite ledger by default).
 */
async function instance(
  instanceId: string,
  redisUrl: string | undefined,
  prefix: string,
  { on = ledger, instanceLeaseTtlMs }: { on?: Ledger; instanceLeaseTtlMs?: number } = {},
) {
  const metrics = createMetrics({ keys: SIGNALING_METRICS });
  const server = await startTestSignaling(
    {
      chain,
      tokenSecret: secret,
      heartbeatIntervalMs: 600_000,
      reconnectWindowMs: 600_000,
      log,
      metrics,
      payments: paymentDeskOnTestChain({ chain, ledger: on, log, instanceId }),
    },
    redisUrl === undefined ? {} : { redisUrl, prefix, instanceId },
  );
  const meter = testMeter({
    chain,
    hub: server.hub,
    ledger: on,
    settings: { tickSec: TICK_MS / 1000, fpsFloor: 20, reportFreshMs: 12_000 },
    log,
    metrics,
    now: () => clock,
    instanceId,
    ...(instanceLeaseTtlMs === undefined ? {} : { instanceLeaseTtlMs }),
  });
  closers.push(
    () => server.close(),
    () => meter.close(),
  );
  return { server, meter };
}

/** A paid session streaming on `server`, its host and player both connected there. */
async function paidSession(server: TestSignaling) {
  const payer = await chain.newDepositedAccount(PRICE * 3600n);
  const token = issuePlayerToken({ secret, ttlSec: 600 }).token;
  const leased = await leaseTestSession({
    server,
    secret,
    name: `part-${randomBytes(3).toString('hex')}`,
    title: 'Partition',
    priceWei: PRICE,
    token,
  });
  const { host, player } = leased;
  closers.push(
    () => host.terminate(),
    () => player.terminate(),
  );
  const auth = await authorizeTestSession(chain, leased, payer, PRICE * 3600n);
  host.send({ type: 'session-started', sessionId: auth.sessionId });
  await waitUntil(() => server.hub.getSession(auth.sessionId)?.state === 'streaming', {
    what: 'streaming',
    timeoutMs: 15_000,
  });
  /**
   * The host and the player both say 60 fps; resolves when `hub` (the session's instance) has both reports —
   * by default the first instance's, with the player's first connection.
   */
  const bothAlive = async (hub = server.hub, playerPeer = player) => {
    let seen = 0;
    const arrived = new Promise<void>((resolve) => {
      const off = hub.on('report', (report) => {
        if (report.sessionId !== auth.sessionId || report.source === 'checker') return;
        seen += 1;
        if (seen < 2) return;
        off();
        resolve();
      });
    });
    host.send({
      type: 'host-report',
      sessionId: auth.sessionId,
      fpsMilli: 60_000,
      framesSent: 1,
      bitrateBps: 1,
      inputIdleMs: 0,
    });
    playerPeer.send({
      type: 'player-report',
      sessionId: auth.sessionId,
      fpsMilli: 60_000,
      rttMicros: 1,
      framesDecoded: 1,
      packetsLost: 0,
    });
    await arrived;
  };
  earners.push(auth.provider);
  return {
    sessionId: auth.sessionId,
    payer,
    host,
    player,
    bothAlive,
    providerAddress: auth.provider,
    token,
    hostId: leased.hostId,
    game: leased.game,
  };
}

/**
 * How the cut-off instance lets a player go: its socket closed (and the code: 4010 sends the client to the next
 * signaling server, where it resumes), or a `session-ended` (the session ended there).
 */
function leftBy(player: TestPeer): Promise<string> {
  return player.nextOf(['session-ended', 'error'], 15_000).then(
    (told) => `told ${told.type}: ${told.message}`,
    async (error: Error) =>
      /socket closed/.test(error.message) ? `socket closed (${(await player.closed()).code})` : error.message,
  );
}

/**
 * Two instances of one network, `<name>a` reaching Redis through a proxy the test cuts and `<name>b` directly, and
 * a paid session streaming on A that A metered for one tick, its running state saved in Redis (where B finds it).
 * `since`: the meters' clock when the session started streaming; `saved`: that state as Redis has it.
 */
async function streamingOnA(name: string) {
  const prefix = `${name}${randomBytes(3).toString('hex')}:`;
  const proxy = await startRedisProxy(redis.port);
  closers.push(() => proxy.close());
  const a = await instance(`${name}a`, proxy.url, prefix);
  const b = await instance(`${name}b`, redis.url, prefix);
  const s = await paidSession(a.server);
  const since = clock;
  await s.bothAlive();
  clock += TICK_MS;
  await s.bothAlive();
  await a.meter.tickNow();
  let saved: Awaited<ReturnType<typeof b.server.hub.meterStates.load>>;
  await waitUntil(
    async () => {
      saved = await b.server.hub.meterStates.load(s.sessionId).catch(() => undefined);
      return (saved?.tickIndex ?? 0) >= 1;
    },
    { what: 'A’s meter state in Redis', timeoutMs: 15_000 },
  );
  assert.ok(saved);
  return { prefix, proxy, a, b, s, since, saved };
}

describe('a Redis partition: instance A keeps its players and its ledger while B adopts its sessions', () => {
  test('the same delivered seconds are never billed twice; the cut-off instance stops and sends its player to B', async () => {
    // One tick on A, its running state saved in Redis (where B will find it).
    const { proxy, a, b, s, since: streamingSince } = await streamingOnA('p');

    // The partition: A loses Redis, keeps its host, its player and the ledger.
    proxy.cut();
    const adopted = new Promise<void>((resolve) => {
      const off = b.server.hub.on('sessionAdopted', (session) => {
        if (session.id !== s.sessionId) return;
        off();
        resolve();
      });
    });
    // A goes on serving its player (the stream is peer to peer) and metering for two more ticks.
    for (let i = 0; i < 2; i += 1) {
      clock += TICK_MS;
      await s.bothAlive();
      await a.meter.tickNow();
    }
    // B finds A gone from Redis and takes the session over from A's last saved state.
    await adopted;
    await waitUntil(async () => b.meter.liveSessions === 1, { what: 'B metering the session', timeoutMs: 15_000 });
    await waitUntil(async () => (await getSession(ledger, s.sessionId))?.signalingInstance === 'pb', {
      what: 'the ledger naming B',
      timeoutMs: 15_000,
    });
    await b.meter.idle();
    // Both instances run on: A hears its host and player, B has the state A saved.
    for (let i = 0; i < 2; i += 1) {
      clock += TICK_MS;
      if (a.server.hub.getSession(s.sessionId)?.state === 'streaming') await s.bothAlive();
      // Each meter ticks on its own timer: here B's comes first.
      await b.meter.tickNow();
      await a.meter.tickNow();
    }
    const elapsedSec = (clock - streamingSince) / 1000;
    const billed = (await listUsageTicks(ledger, { sessionId: s.sessionId })).reduce(
      (sum, tick) => sum + tick.deliveredSec,
      0,
    );
    assert.ok(
      billed <= elapsedSec,
      `${billed} s billed for ${elapsedSec} s of streaming: the same seconds were billed by both instances`,
    );
    assert.ok(billed >= 15, `what A billed before B took over stays billed (${billed} s)`);
    // Exactly: A's three ticks (15 s, to t+15), then B from the end of A's last tick — not from A's older saved
    // state (t+5) — as far as the last host report B knows (t+5, fresh for 12 s): 2 s. A's tick at t+20 is refused.
    const byEpoch = await ledger.query(
      `select meter_epoch::text as epoch, sum(delivered_sec)::int as sec from usage_ticks where session_id = $1
        group by meter_epoch order by meter_epoch`,
      [s.sessionId],
    );
    assert.deepEqual(byEpoch.rows, [
      { epoch: '1', sec: 15 },
      { epoch: '2', sec: 2 },
    ]);
    // A no longer meters or serves a session B runs (no charge of its own): it leaves the session to B, not ended,
    // and sends its player to reconnect (the client resumes on the next server: B).
    assert.equal(a.meter.liveSessions, 0, 'A stopped metering the session B took over');
    assert.equal(await leftBy(s.player), 'socket closed (4010)');
    assert.equal(a.server.hub.getSession(s.sessionId)?.owner, 'pb');

    // The partition heals: A's return changes nothing in the ledger. B ends the session and it settles once.
    proxy.heal();
    clock += TICK_MS;
    await Promise.all([a.meter.tickNow(), b.meter.tickNow()]);
    const beforeEnd = await getSession(ledger, s.sessionId);
    assert.equal(beforeEnd?.signalingInstance, 'pb');
    b.server.hub.endSession(s.sessionId, 'player-left', 'partition test over');
    await b.meter.idle();
    await a.meter.idle();
    const ended = await getSession(ledger, s.sessionId);
    assert.equal(ended?.state, 'ended');
    assert.ok(ended && ended.deliveredSec <= (clock - streamingSince) / 1000);
    assert.equal(ended?.cumulativeWei, BigInt(ended?.deliveredSec ?? -1) * PRICE);
    await settleAndCheck(chain, ledger, earners);
  });
});

describe('the partition heals: what B adopted while A was cut off stays B’s', () => {
  test('A does not end, bill, relay for or hold the lease of a session it lost; player and host go on with one session on B', async () => {
    const { prefix, proxy, a, b, s, since } = await streamingOnA('h');
    const direct = new Redis(redis.url, { lazyConnect: true });
    await direct.connect();
    closers.push(() => direct.disconnect());
    proxy.cut();
    await waitUntil(async () => (await getSession(ledger, s.sessionId))?.signalingInstance === 'hb', {
      what: 'B adopting the session (the ledger naming B)',
      timeoutMs: 15_000,
    });
    await waitUntil(async () => b.meter.liveSessions === 1, { what: 'B metering the session', timeoutMs: 15_000 });
    await b.meter.idle();
    // A's next tick is refused (B holds the claim): A learns it lost the session while still cut off.
    clock += TICK_MS;
    await s.bothAlive();
    await a.meter.tickNow();
    await a.meter.idle();
    // A lets the player go to another signaling server of the network (the client reconnects to the next one and
    // resumes there); it does not end the session.
    assert.equal(await leftBy(s.player), 'socket closed (4010)', 'A hands its player over, not ending the session');
    assert.equal(a.meter.liveSessions, 0, 'A stopped metering the session');
    // Behind one load-balanced URL the player may land on A again, still cut off: A cannot move the session to
    // itself (Redis decides who owns it) and sends the player on again, rather than failing its resume for good.
    const back = await connectTestPlayer(a.server, secret, s.token);
    closers.push(() => back.terminate());
    back.send({ type: 'play', game: s.game, codecs: ['H264'], resumeSessionId: s.sessionId, keepStream: true });
    assert.equal(await leftBy(back), 'socket closed (4010)', 'A sends the returning player on');
    // The player (its client) reconnects to B and resumes without renegotiating: its stream never stopped.
    const player = await connectTestPlayer(b.server, secret, s.token);
    closers.push(() => player.terminate());
    player.send({ type: 'play', game: s.game, codecs: ['H264'], resumeSessionId: s.sessionId, keepStream: true });
    const resumed = await player.next('session');
    assert.equal(resumed.resumed, true);
    assert.equal(b.server.hub.getSession(s.sessionId)?.state, 'streaming');

    assert.equal(a.server.hub.getSession(s.sessionId)?.owner, 'hb', 'A’s copy names B (from the ledger)');
    // The partition heals: B sees A back on Redis.
    proxy.heal();
    await waitUntil(() => b.server.hub.signalingServers().includes(a.server.httpUrl), {
      what: 'B seeing A back',
      timeoutMs: 15_000,
    });
    // The host, still connected to A, and the player, now on B, are one session again: B relays between them
    // (through A), the host's reports reach B's meter, and B bills on from where the ledger stands.
    player.send({ type: 'ice', sessionId: s.sessionId, candidate: null });
    await s.host.next('ice');
    clock += TICK_MS;
    await s.bothAlive(b.server.hub, player);
    await Promise.all([a.meter.tickNow(), b.meter.tickNow()]);
    await Promise.all([a.meter.idle(), b.meter.idle()]);
    assert.equal(a.meter.liveSessions, 0, 'A meters nothing after the heal');
    assert.equal(b.meter.liveSessions, 1, 'B meters the session');
    const session = b.server.hub.getSession(s.sessionId);
    assert.equal(session?.state, 'streaming');
    assert.equal(session?.owner, 'hb');
    // The slot stays leased to the session, in Redis and in both copies.
    assert.equal(await direct.hget(`${prefix}slots:${s.hostId}`, '0'), `busy|${s.sessionId}`);
    for (const hub of [a.server.hub, b.server.hub]) {
      assert.equal(hub.hosts.get(s.hostId)?.slots[0]?.sessionId, s.sessionId);
    }
    // What the host and the first player connection heard and nobody awaited (all of it, from the start).
    assert.deepEqual(
      s.host.received
        .map((message) => message.type)
        .filter((type) => type === 'stop-session' || type === 'start-session'),
      [],
      'the host was never told to stop (or restart) the stream',
    );
    assert.deepEqual(
      s.player.received.map((message) => message.type).filter((type) => type === 'session-ended' || type === 'error'),
      [],
      'the player was never told its session ended',
    );
    const byEpoch = await ledger.query(
      `select meter_epoch::text as epoch, sum(delivered_sec)::int as sec from usage_ticks where session_id = $1
        group by meter_epoch order by meter_epoch`,
      [s.sessionId],
    );
    const rows = byEpoch.rows as Array<{ epoch: string; sec: number }>;
    assert.deepEqual(
      rows.map((row) => row.epoch),
      ['1', '2'],
      'A billed under its claim, then B under its own — nothing else',
    );
    assert.ok((rows[1]?.sec ?? 0) >= 5, 'B bills the seconds after the heal (the host’s reports reach it)');

    // The player quits on B: B ends it, the host hears it (through A), and it settles once.
    player.send({ type: 'quit', sessionId: s.sessionId });
    await player.next('session-ended');
    assert.equal((await s.host.next('stop-session')).sessionId, s.sessionId);
    await b.meter.idle();
    await a.meter.idle();
    const ended = await getSession(ledger, s.sessionId);
    assert.equal(ended?.state, 'ended');
    assert.ok(ended && ended.deliveredSec <= (clock - since) / 1000, 'no second billed twice');
    assert.equal(ended?.cumulativeWei, BigInt(ended?.deliveredSec ?? -1) * PRICE);
    assert.equal(await direct.hget(`${prefix}slots:${s.hostId}`, '0'), 'free');
    await settleAndCheck(chain, ledger, earners);
  });

  test('A that never had a tick refused learns it lost the session when the partition heals, and sends its player to B', async () => {
    const { proxy, a, b, s, since } = await streamingOnA('u');
    proxy.cut();
    await waitUntil(async () => (await getSession(ledger, s.sessionId))?.signalingInstance === 'ub', {
      what: 'B adopting the session (the ledger naming B)',
      timeoutMs: 15_000,
    });
    await waitUntil(async () => b.meter.liveSessions === 1, { what: 'B metering the session', timeoutMs: 15_000 });
    await b.meter.idle();
    assert.equal(a.server.hub.getSession(s.sessionId)?.owner, 'ua', 'A has not heard: nothing of its was refused');
    // The partition heals before A's meter ticks: Redis tells A who runs the session now.
    proxy.heal();
    assert.equal(await leftBy(s.player), 'socket closed (4010)', 'A hands its player over, not ending the session');
    assert.equal(a.server.hub.getSession(s.sessionId)?.owner, 'ub');
    assert.equal(a.meter.liveSessions, 0, 'A stopped metering the session');
    await waitUntil(() => b.server.hub.signalingServers().includes(a.server.httpUrl), {
      what: 'B seeing A back',
      timeoutMs: 15_000,
    });
    const player = await connectTestPlayer(b.server, secret, s.token);
    closers.push(() => player.terminate());
    player.send({ type: 'play', game: s.game, codecs: ['H264'], resumeSessionId: s.sessionId, keepStream: true });
    assert.equal((await player.next('session')).resumed, true);
    clock += TICK_MS;
    await s.bothAlive(b.server.hub, player);
    await Promise.all([a.meter.tickNow(), b.meter.tickNow()]);
    await Promise.all([a.meter.idle(), b.meter.idle()]);
    assert.deepEqual(
      s.host.received.map((message) => message.type).filter((type) => type === 'stop-session'),
      [],
      'the host was never told to stop the stream',
    );
    player.send({ type: 'quit', sessionId: s.sessionId });
    await player.next('session-ended');
    assert.equal((await s.host.next('stop-session')).sessionId, s.sessionId);
    await b.meter.idle();
    const ended = await getSession(ledger, s.sessionId);
    assert.equal(ended?.state, 'ended');
    assert.ok(ended && ended.deliveredSec <= (clock - since) / 1000, 'no second billed twice');
    await settleAndCheck(chain, ledger, earners);
  });
});

describe('a late save from an instance that lost the session', () => {
  test('is not where the next adopter bills from: the ticks it still lists are not billed again', async () => {
    const { proxy, a, b, s, since, saved } = await streamingOnA('l');
    assert.deepEqual([saved.claimEpoch, saved.tickIndex], ['1', 1]);
    // Meanwhile the session changed hands in the ledger: a process Z took it over (epoch 2) and billed the next 5 s.
    const z = await claimSessionInstance(ledger, { sessionId: s.sessionId, signalingInstance: 'lz' });
    assert.ok(z);
    clock += TICK_MS;
    await recordUsageTick(ledger, {
      sessionId: s.sessionId,
      tickIndex: 1,
      deliveredSec: 5,
      claim: meterClaimOf(z),
      meteredUntilMs: clock,
    });
    // A, which lost it without knowing yet, saves once more: a tick it cut over those same seconds, not recorded.
    const lateSave = () =>
      a.server.hub.meterStates.save(s.sessionId, {
        ...saved,
        tickIndex: 3,
        pendingTicks: [{ tickIndex: 2, deliveredSec: 5 }],
        cursorMs: clock,
        lastTickAtMs: clock,
      });
    lateSave();
    await waitUntil(
      async () => {
        const late = await b.server.hub.meterStates.load(s.sessionId).catch(() => undefined);
        // Saved again until it is what Redis holds: A's own meter may save in between (a loaded box once held the
        // first save past A's meter's own), and a save is fire-and-forget.
        if (late?.tickIndex !== 3) lateSave();
        return late?.tickIndex === 3;
      },
      { what: 'A’s late save in Redis', timeoutMs: 15_000 },
    );
    // Z is gone; A is cut off from Redis; B adopts the session (epoch 3) — not from A's late save.
    proxy.cut();
    await waitUntil(async () => b.meter.liveSessions === 1, { what: 'B metering the session', timeoutMs: 15_000 });
    await b.meter.idle();
    assert.equal((await getSession(ledger, s.sessionId))?.meterEpoch, 3n);
    const billed = (await listUsageTicks(ledger, { sessionId: s.sessionId })).map((t) => [t.tickIndex, t.deliveredSec]);
    assert.deepEqual(billed, [
      [0, 5],
      [1, 5],
    ]);
    assert.ok(billed.reduce((sum, [, sec]) => sum + (sec ?? 0), 0) <= (clock - since) / 1000);
    b.server.hub.endSession(s.sessionId, 'player-left', 'late-save test over');
    await b.meter.idle();
    proxy.heal();
    await a.meter.idle();
    await settleAndCheck(chain, ledger, earners);
  });
});

describe('an instance that comes back after its lease lapsed, in the middle of the sweep that closes its sessions', () => {
  test('its tick is refused; the sweep bills what the ledger had when it took over; everything settles once', async () => {
    // Real PostgreSQL: the sweep and the returning instance write at the same moment, on their own connections.
    const pg = await startTestPostgres();
    closers.push(() => pg.close());
    const pgLedger = await openLedger({ databaseUrl: pg.url });
    closers.push(() => pgLedger.close());
    const x = await instance('rx', undefined, '', { on: pgLedger, instanceLeaseTtlMs: 600_000 });
    const s = await paidSession(x.server);
    await s.bothAlive();
    clock += TICK_MS;
    await s.bothAlive();
    await x.meter.tickNow();
    assert.equal((await getSession(pgLedger, s.sessionId))?.deliveredSec, 5);
    // X stalls (a long pause, the database out of its reach) past its instance lease.
    await pgLedger.query(
      `update ledger_leases set expires_at = now() - interval '1 second' where name = 'signaling:rx'`,
    );
    // Another process sweeps: to it, X's session is an orphan. The session's row is busy for a moment (another
    // writer), so the sweep and X, coming back meanwhile, both wait on it — the sweep first.
    const y = await instance('ry', undefined, '', { on: pgLedger });
    let unlock = () => {};
    const held = new Promise<void>((resolve) => {
      unlock = resolve;
    });
    let locked = () => {};
    const lockTaken = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holder = pgLedger.transaction(async (tx) => {
      await tx.query('select 1 from sessions where id = $1 for update', [s.sessionId]);
      locked();
      await held;
    });
    await lockTaken;
    const waiting = async () =>
      Number(
        (
          (
            await pgLedger.query(
              `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`,
            )
          ).rows[0] as { n: number }
        ).n,
      );
    const sweeping = y.meter.closeOrphans();
    await waitUntil(async () => (await waiting()) === 1, {
      what: 'the sweep waiting on the session',
      timeoutMs: 15_000,
    });
    clock += TICK_MS;
    await s.bothAlive();
    const ticking = x.meter.tickNow();
    await waitUntil(async () => (await waiting()) === 2, {
      what: 'X’s tick waiting on the session too',
      timeoutMs: 15_000,
    });
    unlock();
    await holder;
    assert.equal(await sweeping, 1, 'the sweep closed the session');
    await ticking;
    await x.meter.idle();
    const ended = await getSession(pgLedger, s.sessionId);
    assert.equal(ended?.state, 'ended');
    assert.equal(ended?.deliveredSec, 5, 'X billed nothing after the sweep took its session over');
    assert.equal(x.meter.liveSessions, 0, 'X stopped metering it');
    assert.match((await s.player.next('session-ended')).message, /took this session over|another signaling process/i);
    // What the ledger charged is what the chain is paid: no charge behind the session's final voucher.
    await settleAndCheck(chain, pgLedger, earners);
    const stuck = (await listSettlements(pgLedger)).filter((row) => !['confirmed', 'superseded'].includes(row.state));
    assert.deepEqual(
      stuck.map((row) => [row.state, String(row.cumulativeWei), row.lastError]),
      [],
      'every charge settled',
    );
  });
});
