import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import type { LocalAccount } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { startTestChain, type TestChain } from '../../edge/chain/testing/startTestChain.js';
import { deliveryReceiptOf, type ServerMessageOf, signDeliveryReceipt } from '../protocol/index.js';
import { DEFAULT_SIGNALING_SETTINGS } from '../SignalingSettings.js';
import {
  connectTestHost,
  connectTestPlayer,
  startTestSignaling,
  type TestSignaling,
} from '../testing/startTestSignaling.js';
import { connectTestChecker, signTestReport, type TestChecker } from '../testing/TestChecker.js';
import type { TestPeer } from '../testing/TestPeer.js';
import { waitFind } from '../testing/waitFor.js';
import { DEFAULT_CHECK_SETTINGS, nextRoundNumber, pickByStake, type RoundVerdict } from './CheckerDesk.js';

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

/** A fresh signaling server with short rounds, its checkers and one scripted host. */
async function world(checkerCount: number, hostId: string, checks: Partial<typeof DEFAULT_CHECK_SETTINGS> = {}) {
  const server = await startTestSignaling({
    chain,
    tokenSecret: randomBytes(32),
    checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 200, deadlineMs: 3_000, ...checks },
  });
  const verdicts: RoundVerdict[] = [];
  server.hub.on('verdict', (verdict) => verdicts.push(verdict));
  const team = await Promise.all(Array.from({ length: checkerCount }, () => connectTestChecker(server)));
  const host = await connectTestHost(server, { hostId, slots: 1 });
  const peers: TestPeer[] = [host, ...team.map((c) => c.peer)];
  cleanups.push(async () => {
    for (const peer of peers) peer.terminate();
    await server.close();
  });
  return { server, team, host, verdicts };
}

/**
 * A failing report is sent once the checker's probe holds a slot of the container (`server` given), as a real
 * checker's would be: a failing report of a probe that never got a slot does not count.
 */
async function report(
  checker: TestChecker,
  assignment: ServerMessageOf<'check-assignment'>,
  ok: boolean,
  server?: Pick<TestSignaling, 'hub'>,
) {
  if (!ok && server) await probeRuns(server, assignment);
  checker.peer.send({ type: 'check-report', ...(await signTestReport({ account: checker.account, assignment, ok })) });
}

/** Resolves once the assignment's probe holds a slot of its container (the host was sent its start-session). */
async function probeRuns(server: Pick<TestSignaling, 'hub'>, assignment: ServerMessageOf<'check-assignment'>) {
  await waitFind(() =>
    server.hub.hosts.get(assignment.container)?.slots.some((slot) => slot.sessionId === assignment.probeSessionId)
      ? true
      : undefined,
  );
}

describe('round numbers', () => {
  test('never come back: above the last one, and from the clock after a restart or on another instance', () => {
    const before = nextRoundNumber(undefined, 1_765_000_000_000);
    assert.equal(nextRoundNumber(before, 1_765_000_000_000), before + 1n, 'two rounds in one millisecond differ');
    assert.equal(nextRoundNumber(before + 5n, 1_765_000_000_001), before + 6n, 'never below the last one');
    // A restarted signaling (or another instance) knows no last round: the clock puts it after every earlier one.
    assert.ok(nextRoundNumber(undefined, 1_765_000_100_000) > before + 6n);
  });
});

describe('checkers', () => {
  test('a container gets 3 distinct checkers, probed one after the other as player sessions; the majority decides; a liar is the minority', async () => {
    const { team, host, verdicts, server } = await world(3, 'checked-host');
    const assignments = await Promise.all(team.map((c) => c.peer.next('check-assignment')));
    assert.equal(new Set(assignments.map((a) => a.probeSessionId)).size, 3);
    assert.ok(assignments.every((a) => a.container === host.hostId && a.round === assignments[0]?.round));
    // Held to the game's manifest, not to what the host declares.
    assert.ok(assignments.every((a) => a.expected.game === 'neon-drift' && a.expected.fps === 60));
    const byChecker = new Map(assignments.map((a, i) => [a.probeSessionId, i]));
    const started: string[] = [];
    let dissenter: string | undefined;
    for (const [n, ok] of [true, true, false].entries()) {
      // The host is asked for a player's session, one at a time, on its free slot.
      const start = await host.next('start-session');
      assert.deepEqual(Object.keys(start).sort(), ['codecs', 'game', 'resume', 'sessionId', 'slot', 'type']);
      assert.deepEqual(start.codecs, ['H264', 'VP8']);
      assert.equal(start.resume, false);
      assert.equal(start.game, 'neon-drift');
      assert.equal(server.hub.hosts.get(host.hostId)?.slots[start.slot]?.sessionId, start.sessionId);
      await assert.rejects(host.next('start-session', 300), 'one probe at a time per container');
      started.push(start.sessionId);
      const i = byChecker.get(start.sessionId) ?? assert.fail('a probe of an assignment');
      const checker = team[i] ?? assert.fail('team');
      const assignment = assignments[i] ?? assert.fail('assignment');
      // Its checker learns that the probe has its slot now (the host's offer is due from here).
      assert.equal((await checker.peer.next('probe-started')).sessionId, start.sessionId);
      if (n === 0) {
        host.send({ type: 'offer', sessionId: start.sessionId, sdp: 'v=0 probe' });
        assert.equal((await checker.peer.next('offer')).sdp, 'v=0 probe');
        checker.peer.send({ type: 'answer', sessionId: start.sessionId, sdp: 'v=0 answer' });
        assert.equal((await host.next('answer')).sdp, 'v=0 answer');
        // Another checker cannot answer a probe that is not its own.
        const other = team[(i + 1) % 3] ?? assert.fail('team');
        other.peer.send({ type: 'answer', sessionId: start.sessionId, sdp: 'v=0 x' });
        assert.equal((await other.peer.next('error')).code, 'ATH_ERR_NOT_YOUR_SESSION');
        // The host reports the probe like any session (its claim is kept beside the checkers').
        host.send({ type: 'session-started', sessionId: start.sessionId });
        host.send({
          type: 'host-report',
          sessionId: start.sessionId,
          fpsMilli: 60_000,
          framesSent: 120,
          bitrateBps: 1,
          inputIdleMs: 0,
        });
      }
      if (!ok) dissenter = checker.account.address.toLowerCase();
      await report(checker, assignment, ok);
      await checker.peer.next('report-accepted');
      // The end of a probe is a player's quit.
      assert.deepEqual(await host.next('stop-session'), {
        type: 'stop-session',
        sessionId: start.sessionId,
        reason: 'player-quit',
      });
    }
    assert.deepEqual([...started].sort(), assignments.map((a) => a.probeSessionId).sort());
    await assert.rejects(host.next('error', 300), 'the host got no error for its probe messages');
    const verdict = await waitFind(() => verdicts[0]);
    assert.equal(verdict.verdict, 'ok');
    assert.equal(verdict.majority.length, 2);
    assert.deepEqual(verdict.minority, [dissenter]);
    assert.equal(verdict.expected?.fps, 60);
    assert.equal(Object.values(verdict.hostClaims ?? {})[0]?.fpsMilli, 60_000);
    const holder = server.hub.hosts.get(host.hostId)?.slots[0]?.sessionId;
    assert.ok(holder === undefined || !started.includes(holder), 'a finished probe no longer holds its slot');
    assert.ok((server.hub.hosts.get(host.hostId)?.qualityScore ?? 0) > 0.5, 'a good round raises the neutral score');
  });

  test('to the host a probe is a player’s session: the same start and the same end', async () => {
    const secret = randomBytes(32);
    const server = await startTestSignaling({
      chain,
      tokenSecret: secret,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 600_000, deadlineMs: 20_000 },
    });
    const host = await connectTestHost(server, { hostId: 'twin-host', slots: 2 });
    const checker = await connectTestChecker(server);
    cleanups.push(async () => {
      host.terminate();
      checker.peer.terminate();
      await server.close();
    });
    const assignment = await checker.peer.next('check-assignment');
    const probeStart = await host.next('start-session');
    assert.equal(probeStart.sessionId, assignment.probeSessionId);
    const player = await connectTestPlayer(server, secret);
    cleanups.push(() => player.terminate());
    player.send({ type: 'play', game: 'neon-drift', codecs: ['H264', 'VP8'] });
    const playerStart = await host.next('start-session');
    assert.notEqual(playerStart.sessionId, probeStart.sessionId);
    const shape = (m: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(m).map(([k, v]) => [k, k === 'sessionId' || k === 'slot' ? typeof v : v]));
    assert.deepEqual(shape(probeStart), shape(playerStart), 'nothing in the start tells a probe from a player');
    player.send({ type: 'quit', sessionId: playerStart.sessionId });
    const playerStop = await host.next('stop-session');
    checker.peer.send({ type: 'probe-done', sessionId: probeStart.sessionId });
    const probeStop = await host.next('stop-session');
    assert.deepEqual({ ...probeStop, sessionId: 'x' }, { ...playerStop, sessionId: 'x' });
  });

  test('a probe survives the host’s heartbeat: signaling does not stop a session it knows as a probe', async () => {
    const { team, host } = await world(1, 'beating-host');
    const checker = team[0] ?? assert.fail('team');
    const assignment = await checker.peer.next('check-assignment');
    const start = await host.next('start-session');
    assert.equal(start.sessionId, assignment.probeSessionId);
    // The host's heartbeat lists the slot the probe holds, as it lists a player's.
    host.send({
      type: 'heartbeat',
      load: 0.5,
      slots: [{ slot: start.slot, state: 'leased', sessionId: start.sessionId }],
    });
    await assert.rejects(host.next('stop-session', 500), 'the probe is not stopped as an unknown session');
    await report(checker, assignment, true);
    assert.equal((await host.next('stop-session')).sessionId, start.sessionId, 'it ends when its checker is done');
  });

  test('a container serving a player is checked at most every busyDeferralMs (a probe beside a player costs it frames)', async () => {
    const secret = randomBytes(32);
    const server = await startTestSignaling({
      chain,
      tokenSecret: secret,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 100, deadlineMs: 5_000, busyDeferralMs: 60_000 },
    });
    const host = await connectTestHost(server, { hostId: 'busy-host', slots: 2 });
    const player = await connectTestPlayer(server, secret);
    player.send({ type: 'play', game: 'neon-drift', codecs: ['H264', 'VP8'] });
    await host.next('start-session');
    const checker = await connectTestChecker(server);
    cleanups.push(async () => {
      for (const peer of [host, player, checker.peer]) peer.terminate();
      await server.close();
    });
    const first = await checker.peer.next('check-assignment');
    await report(checker, first, true);
    await checker.peer.next('report-accepted');
    await assert.rejects(checker.peer.next('check-assignment', 1_500), 'no second round while the player plays');
  });

  test('a container’s first round waits firstRoundDelayMs after its host registered (npm start: 30 s)', async () => {
    const server = await startTestSignaling({
      chain,
      tokenSecret: randomBytes(32),
      checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 200, deadlineMs: 5_000, firstRoundDelayMs: 3_000 },
    });
    const checker = await connectTestChecker(server);
    const host = await connectTestHost(server, { hostId: 'fresh-host', slots: 1 });
    cleanups.push(async () => {
      for (const peer of [host, checker.peer]) peer.terminate();
      await server.close();
    });
    // Only "not before" is asserted (a slow machine makes it later, never earlier): it came after 1 s before.
    await assert.rejects(checker.peer.next('check-assignment', 2_000), 'no round in the host’s first seconds');
    assert.equal((await checker.peer.next('check-assignment', 10_000)).container, host.hostId);
  });

  test('a probe does not start beside a player in its first startupQuietMs (a newcomer’s first seconds are its own)', async () => {
    const secret = randomBytes(32);
    const quietMs = 2_500;
    const server = await startTestSignaling({
      chain,
      tokenSecret: secret,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 100, deadlineMs: 20_000, startupQuietMs: quietMs },
    });
    const host = await connectTestHost(server, { hostId: 'newcomer-host', slots: 2 });
    const player = await connectTestPlayer(server, secret);
    cleanups.push(async () => {
      for (const peer of [host, player]) peer.terminate();
      await server.close();
    });
    player.send({ type: 'play', game: 'neon-drift', codecs: ['H264', 'VP8'] });
    const session = await host.next('start-session');
    const leasedAt = Date.now();
    // The first round comes as the checker registers, right after the player got its slot.
    const checker = await connectTestChecker(server);
    cleanups.push(() => checker.peer.terminate());
    const assignment = await checker.peer.next('check-assignment');
    const probe = await host.next('start-session', 10_000);
    assert.equal(probe.sessionId, assignment.probeSessionId);
    assert.notEqual(probe.slot, session.slot);
    // A lower bound only (a slow machine makes it later, never earlier): without the quiet window the probe
    // started as soon as the checker registered.
    const waitedMs = Date.now() - leasedAt;
    assert.ok(waitedMs >= quietMs - 200, `the probe started ${waitedMs} ms after the player's session`);
  });

  test('a probe running when a player’s session starts on its host yields to it: stopped first, probed again after the start-up, the cut measurement not counted; a probe gives way to two newcomers at most', async () => {
    const secret = randomBytes(32);
    const server = await startTestSignaling({
      chain,
      tokenSecret: secret,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 600_000, deadlineMs: 30_000, startupQuietMs: 1_000 },
    });
    const verdicts: RoundVerdict[] = [];
    server.hub.on('verdict', (verdict) => verdicts.push(verdict));
    const team = await Promise.all([0, 1, 2].map(() => connectTestChecker(server)));
    const host = await connectTestHost(server, { hostId: 'yielding-host', slots: 4 });
    const players = await Promise.all([0, 1, 2].map(() => connectTestPlayer(server, secret)));
    cleanups.push(async () => {
      for (const peer of [host, ...players, ...team.map((c) => c.peer)]) peer.terminate();
      await server.close();
    });
    const play = (n: number) => players[n]?.send({ type: 'play', game: 'neon-drift', codecs: ['H264', 'VP8'] });
    const assignments = await Promise.all(team.map((c) => c.peer.next('check-assignment')));
    const byProbe = new Map(assignments.map((a, i) => [a.probeSessionId, i]));
    const first = await host.next('start-session');
    const cutIndex = byProbe.get(first.sessionId) ?? assert.fail('a probe of an assignment');
    const cutChecker = team[cutIndex] ?? assert.fail('team');
    const cutAssignment = assignments[cutIndex] ?? assert.fail('assignment');
    await cutChecker.peer.next('probe-started');
    // A newcomer presses Play while the probe streams: the host is told to stop the probe, then to start the player.
    play(0);
    const stop = await host.nextOf(['stop-session', 'start-session']);
    assert.deepEqual(stop, { type: 'stop-session', sessionId: first.sessionId, reason: 'player-quit' });
    const playerStart = await host.next('start-session');
    assert.equal(byProbe.has(playerStart.sessionId), false, 'then the player’s session');
    // What the cut probe measured (a stream that stopped) is no evidence either way: a failing report of it is not a
    // vote, and once it is in, the checker is assigned again, in the same round, on a fresh probe session.
    await report(cutChecker, cutAssignment, false);
    await cutChecker.peer.next('report-accepted');
    cutChecker.peer.send({ type: 'probe-done', sessionId: first.sessionId });
    const again = await cutChecker.peer.next('check-assignment');
    assert.equal(again.round, cutAssignment.round);
    assert.notEqual(again.probeSessionId, first.sessionId);
    // The re-run goes first once the newcomer's start-up is over.
    const rerun = await host.next('start-session');
    assert.equal(rerun.sessionId, again.probeSessionId);
    assert.equal((await cutChecker.peer.next('probe-started')).sessionId, again.probeSessionId);
    // A second newcomer: the re-run gives way too (its checker gives it up without a report here, as on a refusal).
    play(1);
    assert.deepEqual(await host.nextOf(['stop-session', 'start-session']), {
      type: 'stop-session',
      sessionId: again.probeSessionId,
      reason: 'player-quit',
    });
    assert.equal(byProbe.has((await host.next('start-session')).sessionId), false);
    cutChecker.peer.send({ type: 'probe-done', sessionId: again.probeSessionId });
    const third = await cutChecker.peer.next('check-assignment');
    assert.equal(third.round, cutAssignment.round);
    assert.equal((await host.next('start-session')).sessionId, third.probeSessionId);
    // Two newcomers given way to: a third does not stop it (a host cannot put its checks off by starting sessions).
    play(2);
    assert.equal(byProbe.has((await host.next('start-session')).sessionId), false);
    await assert.rejects(host.next('stop-session', 300), 'the probe goes on beside the third newcomer');
    await report(cutChecker, third, true);
    await cutChecker.peer.next('report-accepted');
    assert.equal((await host.next('stop-session')).sessionId, third.probeSessionId, 'measured, it ends');
    // The round's other probes, one after the other, in the line's order.
    for (let n = 0; n < 2; n++) {
      const start = await host.next('start-session');
      const i = byProbe.get(start.sessionId) ?? assert.fail('a probe of an assignment');
      assert.notEqual(i, cutIndex);
      const checker = team[i] ?? assert.fail('team');
      await report(checker, assignments[i] ?? assert.fail('assignment'), true);
      await checker.peer.next('report-accepted');
    }
    const verdict = await waitFind(() => verdicts[0]);
    assert.equal(verdict.verdict, 'ok');
    assert.equal(verdict.responders, 3);
    assert.ok(
      verdict.reports.every((r) => r.report.ok),
      'the cut probe’s failing report is not among them',
    );
    assert.equal(verdict.probed.length, 3);
  });

  test('a probe holding a host’s last free slot gives it to a player who would otherwise wait: the player is served at once, the probe runs again after the start-up', async () => {
    const secret = randomBytes(32);
    const server = await startTestSignaling({
      chain,
      tokenSecret: secret,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 600_000, deadlineMs: 30_000, startupQuietMs: 1_000 },
    });
    const team = await Promise.all([0, 1, 2].map(() => connectTestChecker(server)));
    const host = await connectTestHost(server, { hostId: 'one-slot-host', slots: 1 });
    const player = await connectTestPlayer(server, secret);
    cleanups.push(async () => {
      for (const peer of [host, player, ...team.map((c) => c.peer)]) peer.terminate();
      await server.close();
    });
    const assignments = await Promise.all(team.map((c) => c.peer.next('check-assignment')));
    const byProbe = new Map(assignments.map((a, i) => [a.probeSessionId, i]));
    const first = await host.next('start-session');
    const cutIndex = byProbe.get(first.sessionId) ?? assert.fail('a probe of an assignment');
    assert.equal(first.slot, 0, 'the probe holds the only slot');
    await team[cutIndex]?.peer.next('probe-started');
    // A player presses Play: the only slot is a probe's. The probe gives way (stopped first), the player gets it.
    player.send({ type: 'play', game: 'neon-drift', codecs: ['H264', 'VP8'] });
    assert.deepEqual(await host.nextOf(['stop-session', 'start-session']), {
      type: 'stop-session',
      sessionId: first.sessionId,
      reason: 'player-quit',
    });
    const playerStart = await host.next('start-session');
    assert.equal(byProbe.has(playerStart.sessionId), false, 'then the player’s session');
    assert.equal(playerStart.slot, 0);
    const served = await player.nextOf(['session', 'queued']);
    assert.equal(served.type, 'session', 'the player does not wait behind a probe');
    // The cut probe's checker, once it reported, is assigned again in the same round: with the slot sold, the re-run
    // goes to the host's probe reserve once the player's start-up is over.
    const cutChecker = team[cutIndex] ?? assert.fail('team');
    await report(cutChecker, assignments[cutIndex] ?? assert.fail('assignment'), false);
    await cutChecker.peer.next('report-accepted');
    cutChecker.peer.send({ type: 'probe-done', sessionId: first.sessionId });
    const again = await cutChecker.peer.next('check-assignment');
    assert.equal(again.round, assignments[cutIndex]?.round);
    const rerun = await host.next('start-session');
    assert.equal(rerun.sessionId, again.probeSessionId);
    assert.equal(rerun.slot, 1, 'in the reserve: the slot serves the player');
  });

  test('a sampling probe does not yield: a dispute is measured beside whoever starts', async () => {
    const secret = randomBytes(32);
    const server = await startTestSignaling({
      chain,
      tokenSecret: secret,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      checks: {
        ...DEFAULT_CHECK_SETTINGS,
        checkersPerContainer: 1,
        minResponders: 1,
        intervalMs: 600_000,
        deadlineMs: 10_000,
        startupQuietMs: 1_000,
      },
    });
    const host = await connectTestHost(server, { hostId: 'sampled-host', slots: 3 });
    const players = await Promise.all([0, 1].map(() => connectTestPlayer(server, secret)));
    players[0]?.send({ type: 'play', game: 'neon-drift', codecs: ['H264', 'VP8'] });
    const session = await host.next('start-session');
    const checker = await connectTestChecker(server);
    cleanups.push(async () => {
      for (const peer of [host, ...players, checker.peer]) peer.terminate();
      await server.close();
    });
    // The checker's first round (not a sampling one) waits out the player's start-up; it is answered, then a dispute.
    const first = await checker.peer.next('check-assignment');
    const firstProbe = await host.next('start-session');
    await report(checker, first, true);
    await checker.peer.next('report-accepted');
    assert.equal((await host.next('stop-session')).sessionId, firstProbe.sessionId);
    server.hub.disputeDelivery({
      sessionId: session.sessionId,
      hostId: host.hostId,
      hostFpsMilli: 60_000,
      playerFpsMilli: 0,
      atMs: Date.now(),
    });
    const sample = await checker.peer.next('check-assignment');
    assert.equal((await host.next('start-session')).sessionId, sample.probeSessionId);
    players[1]?.send({ type: 'play', game: 'neon-drift', codecs: ['H264', 'VP8'] });
    const next = await host.nextOf(['stop-session', 'start-session']);
    assert.equal(next.type, 'start-session', 'the newcomer starts; the sampling probe is not stopped');
  });

  test('a disputed session is sampled at once, busy or not, on its game; the majority’s fps reaches the meter as observations of it', async () => {
    const secret = randomBytes(32);
    const server = await startTestSignaling({
      chain,
      tokenSecret: secret,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      // One checker decides here (the sampling is tested, not the quorum).
      checks: {
        ...DEFAULT_CHECK_SETTINGS,
        checkersPerContainer: 1,
        minResponders: 1,
        intervalMs: 100,
        deadlineMs: 5_000,
        busyDeferralMs: 600_000,
      },
    });
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
    const host = await connectTestHost(server, {
      hostId: 'disputed-host',
      slots: 2,
      games: ['game-a', 'game-b', 'game-c', 'game-d'].map(game),
    });
    const player = await connectTestPlayer(server, secret);
    const checker = await connectTestChecker(server);
    const observations: Array<{ sessionId: string; fpsMilli: number; checker: string | undefined }> = [];
    server.hub.on('report', (r) => {
      if (r.source === 'checker')
        observations.push({ sessionId: r.sessionId, fpsMilli: r.fpsMilli, checker: r.checkerAddress });
    });
    const verdicts: RoundVerdict[] = [];
    server.hub.on('verdict', (verdict) => verdicts.push(verdict));
    cleanups.push(async () => {
      for (const peer of [host, player, checker.peer]) peer.terminate();
      await server.close();
    });
    // The container's first round, then a player on game-c: no further round while it plays (busyDeferralMs).
    const first = await checker.peer.next('check-assignment');
    const firstProbe = await host.next('start-session');
    await report(checker, first, true);
    await checker.peer.next('report-accepted');
    assert.equal((await host.next('stop-session')).sessionId, firstProbe.sessionId);
    player.send({ type: 'play', game: 'game-c', codecs: ['H264', 'VP8'] });
    const session = await host.next('start-session');
    await assert.rejects(checker.peer.next('check-assignment', 1_000), 'a busy container waits for its next round');
    assert.deepEqual(observations, []);

    // Its player disputes: the checkers come now, on the session's game, beside the session (the other slot).
    server.hub.disputeDelivery({
      sessionId: session.sessionId,
      hostId: host.hostId,
      hostFpsMilli: 60_000,
      playerFpsMilli: 0,
      atMs: Date.now(),
    });
    const sample = await checker.peer.next('check-assignment', 2_000);
    assert.equal(sample.expected.game, 'game-c');
    const probe = await host.next('start-session');
    assert.equal(probe.sessionId, sample.probeSessionId);
    assert.equal(probe.game, 'game-c');
    assert.notEqual(probe.slot, session.slot);
    checker.peer.send({
      type: 'check-report',
      ...(await signTestReport({ account: checker.account, assignment: sample, ok: false, fpsMilli: 9_000 })),
    });
    await waitFind(() => (observations.length > 0 ? true : undefined));
    assert.deepEqual(observations, [
      { sessionId: session.sessionId, fpsMilli: 9_000, checker: checker.account.address.toLowerCase() },
    ]);
    const verdict = await waitFind(() => verdicts.find((v) => v.round === BigInt(sample.round)));
    assert.equal(verdict.verdict, 'fail');
    assert.deepEqual(verdict.sampled, [session.sessionId]);
  });

  test('a dispute during a round under way is sampled by a fresh round right after it: what was measured before the dispute never settles it', async () => {
    const secret = randomBytes(32);
    const server = await startTestSignaling({
      chain,
      tokenSecret: secret,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      checks: {
        ...DEFAULT_CHECK_SETTINGS,
        checkersPerContainer: 1,
        minResponders: 1,
        intervalMs: 600_000,
        deadlineMs: 10_000,
        busyDeferralMs: 600_000,
        // The round under way starts beside the player's brand-new session here (a quiet start-up is tested above).
        startupQuietMs: 0,
      },
    });
    const host = await connectTestHost(server, { hostId: 'mid-round-host', slots: 2 });
    const player = await connectTestPlayer(server, secret);
    player.send({ type: 'play', game: 'neon-drift', codecs: ['H264', 'VP8'] });
    const session = await host.next('start-session');
    const checker = await connectTestChecker(server);
    const observations: Array<{ sessionId: string; fpsMilli: number }> = [];
    server.hub.on('report', (r) => {
      if (r.source === 'checker') observations.push({ sessionId: r.sessionId, fpsMilli: r.fpsMilli });
    });
    cleanups.push(async () => {
      for (const peer of [host, player, checker.peer]) peer.terminate();
      await server.close();
    });
    const first = await checker.peer.next('check-assignment');
    assert.equal((await host.next('start-session')).sessionId, first.probeSessionId);
    server.hub.disputeDelivery({
      sessionId: session.sessionId,
      hostId: host.hostId,
      hostFpsMilli: 60_000,
      playerFpsMilli: 0,
      atMs: Date.now(),
    });
    await assert.rejects(checker.peer.next('check-assignment', 500), 'one round at a time per container');
    // The round under way measured before the dispute: its report does not settle it.
    checker.peer.send({
      type: 'check-report',
      ...(await signTestReport({ account: checker.account, assignment: first, ok: true, fpsMilli: 60_000 })),
    });
    const sample = await checker.peer.next('check-assignment', 2_000);
    assert.ok(BigInt(sample.round) > BigInt(first.round), 'the sampling round is a new one, after the first');
    assert.deepEqual(observations, []);
    checker.peer.send({
      type: 'check-report',
      ...(await signTestReport({ account: checker.account, assignment: sample, ok: false, fpsMilli: 9_000 })),
    });
    await waitFind(() => (observations.length > 0 ? true : undefined));
    assert.deepEqual(observations, [{ sessionId: session.sessionId, fpsMilli: 9_000 }]);
  });

  test('a probe that never started measured nothing: its checker’s “no offer” report does not count (here it waited out a newcomer’s start-up until the deadline)', async () => {
    // A full container's probes run in its probe reserve (tested above); a probe still never starts when it waits
    // for a player's start-up past its round's deadline. An honest checker then reports "no offer came": that is
    // no evidence against the host.
    const secret = randomBytes(32);
    const server = await startTestSignaling({
      chain,
      tokenSecret: secret,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      checks: {
        ...DEFAULT_CHECK_SETTINGS,
        intervalMs: 200,
        deadlineMs: 3_000,
        busyDeferralMs: 0,
        startupQuietMs: 60_000,
      },
    });
    const verdicts: RoundVerdict[] = [];
    server.hub.on('verdict', (verdict) => verdicts.push(verdict));
    const host = await connectTestHost(server, { hostId: 'full-host', slots: 1 });
    const player = await connectTestPlayer(server, secret);
    player.send({ type: 'play', game: 'neon-drift', codecs: ['H264', 'VP8'] });
    const playerStart = await host.next('start-session');
    const team = await Promise.all([0, 1, 2].map(() => connectTestChecker(server)));
    cleanups.push(async () => {
      for (const peer of [host, player, ...team.map((c) => c.peer)]) peer.terminate();
      await server.close();
    });
    // Two rounds (failedVerdictsToDrain) in which every checker, as CheckerNode does, reports what it saw: nothing.
    let lastRound = 0n;
    for (let round = 1; round <= 2; round++) {
      const rounds = new Set<string>();
      await Promise.all(
        team.map(async (checker) => {
          const assignment = await checker.peer.next('check-assignment');
          rounds.add(assignment.round);
          assert.ok(BigInt(assignment.round) > lastRound, 'a new round');
          checker.peer.send({
            type: 'check-report',
            ...(await signTestReport({
              account: checker.account,
              assignment,
              ok: false,
              fpsMilli: 0,
              rttMicros: 0xffffffff,
            })),
          });
          await checker.peer.next('report-accepted');
        }),
      );
      await waitFind(() => (verdicts.length >= round ? true : undefined));
      assert.equal(rounds.size, 1, 'every checker of a round is assigned the same round');
      lastRound = BigInt([...rounds][0] ?? '0');
    }
    // The host was never asked for a probe session: its one slot stayed the player's, its reserve unused.
    assert.equal(server.hub.hosts.get(host.hostId)?.slots[0]?.sessionId, playerStart.sessionId);
    await assert.rejects(host.next('start-session', 300), 'no probe got a slot');
    assert.deepEqual(
      verdicts.map((v) => ({ verdict: v.verdict, drained: v.drained })),
      [
        { verdict: 'inconclusive', drained: false },
        { verdict: 'inconclusive', drained: false },
      ],
      'a host that was never probed is not failed',
    );
    for (const verdict of verdicts) {
      assert.equal(verdict.reports.length, 0, 'no report of an unprobed container is evidence');
      assert.equal(verdict.unprobed.length, 3);
      assert.deepEqual(verdict.probed, []);
    }
    const record = server.hub.hosts.get(host.hostId);
    assert.equal(record?.drained, false);
    assert.equal(record?.failedVerdictsInARow, 0);
    assert.equal(server.hub.checkers.drainOf(host.providerAddress), undefined);
  });

  test('a host that keeps every slot busy (a colluder holds it) is probed all the same, in its probe reserve: refusing the probe there fails it, and two such rounds drain its provider', async () => {
    // The attack: one colluding player (paying for itself: the host gets back all but the network's fee) holds the
    // host's every slot, so a probe never finds a free one. Without a reserve every round is inconclusive and the
    // host is never failed, drained or slashed, whatever it serves its players.
    const secret = randomBytes(32);
    const server = await startTestSignaling({
      chain,
      tokenSecret: secret,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      // (The colluder's session is past its start-up at once here: a probe waiting out a newcomer is tested above.)
      checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 200, deadlineMs: 4_000, busyDeferralMs: 0, startupQuietMs: 0 },
    });
    const verdicts: RoundVerdict[] = [];
    server.hub.on('verdict', (verdict) => verdicts.push(verdict));
    const host = await connectTestHost(server, { hostId: 'colluding-host', slots: 1 });
    const colluder = await connectTestPlayer(server, secret);
    colluder.send({ type: 'play', game: 'neon-drift', codecs: ['H264', 'VP8'] });
    const held = await host.next('start-session');
    const team = await Promise.all([0, 1, 2].map(() => connectTestChecker(server)));
    cleanups.push(async () => {
      for (const peer of [host, colluder, ...team.map((c) => c.peer)]) peer.terminate();
      await server.close();
    });
    // The host turns every probe away as "full" (what a render host answers for a slot it has not got).
    const refused: Array<ServerMessageOf<'start-session'>> = [];
    let hosting = true;
    void (async () => {
      while (hosting) {
        const start = await host.next('start-session', 60_000).catch(() => undefined);
        if (!start || !hosting) return;
        refused.push(start);
        host.send({
          type: 'host-session-ended',
          sessionId: start.sessionId,
          reason: 'error',
          message: 'The render host had no free slot for this session.',
        });
      }
    })();
    // Each checker reports what it saw, as CheckerNode does: no offer — after its probe got a slot, or (never
    // started) when its wait ends.
    for (let round = 1; round <= 2; round++) {
      await Promise.all(
        team.map(async (checker) => {
          const assignment = await checker.peer.next('check-assignment');
          await checker.peer.next('probe-started', 3_000).catch(() => undefined);
          checker.peer.send({
            type: 'check-report',
            ...(await signTestReport({ account: checker.account, assignment, ok: false, fpsMilli: 0 })),
          });
          await checker.peer.next('report-accepted');
        }),
      );
      await waitFind(() => (verdicts.length >= round ? true : undefined));
    }
    hosting = false;
    assert.deepEqual(
      verdicts.map((v) => ({ verdict: v.verdict, drained: v.drained, probed: v.probed.length })),
      [
        { verdict: 'fail', drained: false, probed: 3 },
        { verdict: 'fail', drained: true, probed: 3 },
      ],
    );
    // The colluder's session kept its slot throughout: the probes went to the reserve beyond it.
    assert.equal(server.hub.hosts.get(host.hostId)?.slots[0]?.sessionId, held.sessionId);
    assert.equal(refused.length, 6, 'every probe reached the host');
    assert.ok(
      refused.every((start) => start.slot === 1),
      'in the reserve: the slot after its sale slots',
    );
    assert.equal(server.hub.hosts.get(host.hostId)?.drained, true);
    assert.ok(server.hub.checkers.drainOf(host.providerAddress));
  });

  test('a probe whose slot lease the store cannot answer (Redis cut off: the command times out) is tried again; signaling does not crash', async () => {
    // Before: ProbeLine's pump let the lease's rejection escape (\`void this.#pump(...)\`): an unhandled rejection,
    // which ends a Node process — an instance cut off from Redis went down at its first probe.
    const { server, team, host } = await world(1, 'store-blip-host', { checkersPerContainer: 1, minResponders: 1 });
    const hosts = server.hub.hosts;
    const tryLease = hosts.tryLease.bind(hosts);
    let refused = 0;
    hosts.tryLease = async () => {
      refused++;
      hosts.tryLease = tryLease;
      throw new Error('Command timed out');
    };
    const checker = team[0] ?? assert.fail('team');
    const assignment = await checker.peer.next('check-assignment');
    const start = await host.next('start-session', 10_000);
    assert.equal(start.sessionId, assignment.probeSessionId, 'the probe started once the store answered');
    assert.equal(refused, 1);
  });

  test('a host that drops its connection when a round’s probe reaches it is failed by the whole round, not left inconclusive', async () => {
    // The attack (review of 4902466): a host whose every slot a colluder holds knows a start-session in its reserve
    // (slot number = its slots) is a probe. It drops its signaling connection then (its colluder's session is all it
    // loses) and comes back later: the running probe's checker fails it, but the probes queued behind it were dropped
    // with the host's line and never started, so their failing reports did not count (unprobed) — 1 vote of 2
    // needed: every round inconclusive, never drained.
    const secret = randomBytes(32);
    const server = await startTestSignaling({
      chain,
      tokenSecret: secret,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 200, deadlineMs: 4_000, busyDeferralMs: 0, startupQuietMs: 0 },
    });
    const verdicts: RoundVerdict[] = [];
    server.hub.on('verdict', (verdict) => verdicts.push(verdict));
    const host = await connectTestHost(server, { hostId: 'dropping-host', slots: 1 });
    const colluder = await connectTestPlayer(server, secret);
    colluder.send({ type: 'play', game: 'neon-drift', codecs: ['H264', 'VP8'] });
    await host.next('start-session');
    const team = await Promise.all([0, 1, 2].map(() => connectTestChecker(server)));
    cleanups.push(async () => {
      for (const peer of [host, colluder, ...team.map((c) => c.peer)]) peer.terminate();
      await server.close();
    });
    const probe = await host.next('start-session');
    assert.equal(probe.slot, 1, 'the probe comes in the reserve');
    host.terminate();
    await Promise.all(
      team.map(async (checker) => {
        const assignment = await checker.peer.next('check-assignment');
        await checker.peer.next('probe-started', 1_000).catch(() => undefined);
        checker.peer.send({
          type: 'check-report',
          ...(await signTestReport({ account: checker.account, assignment, ok: false, fpsMilli: 0 })),
        });
        await checker.peer.next('report-accepted');
      }),
    );
    await waitFind(() => (verdicts.length >= 1 ? true : undefined));
    assert.deepEqual(
      verdicts.map((v) => ({ verdict: v.verdict, responders: v.responders })),
      [{ verdict: 'fail', responders: 3 }],
      'the host left the round it was being measured in: all its checkers’ failing reports count',
    );
  });

  test('a dispute on a host whose every slot is busy is sampled in its probe reserve: the majority’s fps reaches the meter', async () => {
    // Two slots: the disputing player's and a colluder's. Without a reserve the sampling probe never starts and the
    // dispute is never settled by a check.
    const secret = randomBytes(32);
    const server = await startTestSignaling({
      chain,
      tokenSecret: secret,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      checks: {
        ...DEFAULT_CHECK_SETTINGS,
        checkersPerContainer: 1,
        minResponders: 1,
        intervalMs: 600_000,
        deadlineMs: 5_000,
        busyDeferralMs: 600_000,
        firstRoundDelayMs: 600_000,
      },
    });
    const host = await connectTestHost(server, { hostId: 'full-disputed-host', slots: 2 });
    const player = await connectTestPlayer(server, secret);
    const colluder = await connectTestPlayer(server, secret);
    const checker = await connectTestChecker(server);
    const observations: Array<{ sessionId: string; fpsMilli: number }> = [];
    server.hub.on('report', (r) => {
      if (r.source === 'checker') observations.push({ sessionId: r.sessionId, fpsMilli: r.fpsMilli });
    });
    cleanups.push(async () => {
      for (const peer of [host, player, colluder, checker.peer]) peer.terminate();
      await server.close();
    });
    player.send({ type: 'play', game: 'neon-drift', codecs: ['H264', 'VP8'] });
    const session = await host.next('start-session');
    colluder.send({ type: 'play', game: 'neon-drift', codecs: ['H264', 'VP8'] });
    await host.next('start-session');
    assert.equal(server.hub.hosts.get(host.hostId)?.freeSlots, 0);
    server.hub.disputeDelivery({
      sessionId: session.sessionId,
      hostId: host.hostId,
      hostFpsMilli: 60_000,
      playerFpsMilli: 0,
      atMs: Date.now(),
    });
    const sample = await checker.peer.next('check-assignment', 2_000);
    const probe = await host.next('start-session', 3_000);
    assert.equal(probe.sessionId, sample.probeSessionId);
    assert.equal(probe.slot, 2, 'the reserve beyond the two sale slots');
    assert.equal((await checker.peer.next('probe-started')).sessionId, probe.sessionId);
    checker.peer.send({
      type: 'check-report',
      ...(await signTestReport({ account: checker.account, assignment: sample, ok: false, fpsMilli: 9_000 })),
    });
    await waitFind(() => (observations.length > 0 ? true : undefined));
    assert.deepEqual(observations, [{ sessionId: session.sessionId, fpsMilli: 9_000 }]);
    assert.equal((await host.next('stop-session')).sessionId, probe.sessionId, 'the probe ends as a player’s quit');
  });

  test('a host cannot put its checks off by restarting a colluder’s session within every start-up window: a probe waits out two start-ups at most, then starts', async () => {
    // The attack: a probe waits while one of the container's players is in its first startupQuietMs; a colluding
    // player that quits and plays again before each start-up is over keeps a "newcomer" on the host at all times.
    const secret = randomBytes(32);
    const quietMs = 1_500;
    const server = await startTestSignaling({
      chain,
      tokenSecret: secret,
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      checks: {
        ...DEFAULT_CHECK_SETTINGS,
        checkersPerContainer: 1,
        minResponders: 1,
        intervalMs: 200,
        deadlineMs: 8_000,
        busyDeferralMs: 0,
        startupQuietMs: quietMs,
      },
    });
    const host = await connectTestHost(server, { hostId: 'churning-host', slots: 1 });
    const colluder = await connectTestPlayer(server, secret);
    let churning = true;
    const restarts: string[] = [];
    colluder.send({ type: 'play', game: 'neon-drift', codecs: ['H264', 'VP8'] });
    const churn = (async () => {
      for (;;) {
        const start = await host.next('start-session', 10_000).catch(() => undefined);
        if (!start || !churning) return;
        if (server.hub.checkers.isProbe(start.sessionId)) {
          restarts.push(`probe ${start.sessionId}`);
          continue;
        }
        restarts.push(start.sessionId);
        // Just short of the start-up window, the colluder quits and plays again.
        await new Promise((resolve) => setTimeout(resolve, quietMs * 0.6));
        if (!churning) return;
        colluder.send({ type: 'quit', sessionId: start.sessionId });
        colluder.send({ type: 'play', game: 'neon-drift', codecs: ['H264', 'VP8'] });
      }
    })();
    const checker = await connectTestChecker(server);
    cleanups.push(async () => {
      churning = false;
      for (const peer of [host, colluder, checker.peer]) peer.terminate();
      await churn;
      await server.close();
    });
    const assignment = await checker.peer.next('check-assignment');
    // Within two start-up windows (plus slack for a loaded box), not never.
    const started = await checker.peer.next('probe-started', 6_000).catch(() => undefined);
    assert.ok(started, `no probe started in 6 s; the colluder's sessions meanwhile: ${restarts.length}`);
    assert.equal(started.sessionId, assignment.probeSessionId);
    assert.ok(restarts.length >= 2, `the colluder restarted: ${restarts.length}`);
  });

  test('forged, replayed and unassigned reports are refused', async () => {
    const { team } = await world(4, 'strict-host');
    // 3 of the 4 are assigned; the fourth is the outsider.
    const got = await Promise.all(
      team.map(async (checker) => ({
        checker,
        assignment: await checker.peer.next('check-assignment', 2_000).catch(() => undefined),
      })),
    );
    const assigned = got.filter((g) => g.assignment);
    const outsider = got.find((g) => !g.assignment)?.checker;
    const [a, b] = assigned;
    if (!a?.assignment || !b?.assignment || !outsider) throw new Error('expected 3 assigned and 1 outsider');

    const forged = await signTestReport({ account: b.checker.account, assignment: a.assignment, ok: true });
    a.checker.peer.send({
      type: 'check-report',
      report: { ...forged.report, checker: a.checker.account.address },
      signature: forged.signature,
    });
    assert.equal((await a.checker.peer.next('error')).code, 'ATH_ERR_BAD_SIGNATURE');

    await report(outsider, a.assignment, true);
    assert.equal((await outsider.peer.next('error')).code, 'ATH_ERR_NOT_ASSIGNED');

    const valid = await signTestReport({ account: a.checker.account, assignment: a.assignment, ok: true });
    a.checker.peer.send({ type: 'check-report', ...valid });
    await a.checker.peer.next('report-accepted');
    a.checker.peer.send({ type: 'check-report', ...valid });
    assert.equal((await a.checker.peer.next('error')).code, 'ATH_ERR_REPLAY');
  });

  test('a report whose recovery byte is flipped is refused, also after the checker’s first report (the chain would not recover its address)', async () => {
    // A host's colluder in the failing majority could otherwise sign with the other v: signaling took it (the key
    // was known from its first report), and the StakingRegistry's ECDSA.recover made the slash evidence revert.
    const { team } = await world(1, 'flip-host');
    const [checker] = team;
    if (!checker) throw new Error('team');
    await report(checker, await checker.peer.next('check-assignment'), true);
    await checker.peer.next('report-accepted');
    const signed = await signTestReport({
      account: checker.account,
      assignment: await checker.peer.next('check-assignment'),
      ok: true,
    });
    const v = Number.parseInt(signed.signature.slice(-2), 16);
    const flipped = `${signed.signature.slice(0, -2)}${(v === 27 ? 28 : 27).toString(16)}` as const;
    checker.peer.send({ type: 'check-report', report: signed.report, signature: flipped });
    assert.equal((await checker.peer.nextOf(['report-accepted', 'error'])).type, 'error');
  });

  test('two failed verdicts in a row drain the container; its evidence is the signed reports', async () => {
    const { team, verdicts, server, host } = await world(3, 'failing-host');
    const answering = team.map(async (checker) => {
      for (let round = 0; round < 2; round++) {
        const assignment = await checker.peer.next('check-assignment');
        await report(checker, assignment, false, server);
      }
    });
    await Promise.all(answering);
    const drained = await waitFind(() => verdicts.find((v) => v.drained));
    assert.equal(drained.verdict, 'fail');
    assert.equal(drained, verdicts[1], 'the second failing round drains');
    assert.equal(drained.reports.length, 3);
    assert.ok(drained.reports.every((r) => r.signature.startsWith('0x') && r.report.container === host.hostId));
    const record = server.hub.hosts.get(host.hostId);
    assert.equal(record?.drained, true);
    assert.match(record?.drainReason ?? '', /2 failed checks in a row/);
    assert.equal(server.hub.checkers.drainOf(host.providerAddress)?.hostId, host.hostId, 'the drain is the provider’s');
    const listed = (await server.http.inject({ method: 'GET', url: '/api/hosts' })).json();
    assert.equal(listed.hosts.find((h: { hostId: string }) => h.hostId === host.hostId).state, 'draining');
  });

  test('an assignment nobody answers is reassigned to another checker', async () => {
    const { team, verdicts, host } = await world(4, 'quiet-host');
    const got = await Promise.all(
      team.map(async (checker) => ({
        checker,
        assignment: await checker.peer.next('check-assignment', 2_000).catch(() => undefined),
      })),
    );
    const assigned = got.filter((g) => g.assignment);
    const outsider = got.find((g) => !g.assignment)?.checker;
    if (!outsider) throw new Error('outsider');
    // Two answer, one stays silent; after the deadline the outsider gets the silent one's assignment.
    for (const g of assigned.slice(0, 2)) if (g.assignment) await report(g.checker, g.assignment, true);
    const second = await outsider.peer.next('check-assignment', 8_000);
    assert.equal(second.container, host.hostId);
    await report(outsider, second, true);
    const verdict = await waitFind(() => verdicts[0]);
    assert.equal(verdict.verdict, 'ok');
    assert.equal(verdict.majority.length, 3);
  });

  test('a checker replaced for silence cannot vote late: a failing host’s two colluders never tie the round to “ok”', async () => {
    // The host's colluder S stays silent until its replacement (another colluder, by luck of the draw) reports ok,
    // then reports ok itself: 2 ok against the honest 2 fail would decide "ok" and put the honest checkers in the
    // minority (their contradicted reports are what a checker slash is built from).
    const { team, verdicts, server } = await world(4, 'colluding-host', { probeTimeoutMs: 300 });
    // The first two assigned are honest and report at once (their probes ran); the third is the silent colluder.
    const assigned: Array<{ checker: TestChecker; assignment: ServerMessageOf<'check-assignment'> }> = [];
    const honestReports: Promise<void>[] = [];
    await Promise.all(
      team.map(async (checker) => {
        const assignment = await checker.peer.next('check-assignment', 2_000).catch(() => undefined);
        if (!assignment) return;
        assigned.push({ checker, assignment });
        if (assigned.length <= 2) honestReports.push(report(checker, assignment, false, server));
      }),
    );
    await Promise.all(honestReports);
    const [honestA, honestB, silent] = assigned;
    const outsider = team.find((c) => !assigned.some((g) => g.checker === c));
    if (!honestA || !honestB || !silent || !outsider) throw new Error('3 + 1');
    const replacement = await outsider.peer.next('check-assignment', 8_000);
    await report(outsider, replacement, true);
    await report(silent.checker, silent.assignment, true);
    assert.equal((await silent.checker.peer.nextOf(['report-accepted', 'error'])).type, 'error', 'replaced: no vote');
    const verdict = await waitFind(() => verdicts[0]);
    assert.equal(verdict.verdict, 'fail');
    assert.deepEqual(
      [...verdict.majority].sort(),
      [honestA, honestB].map((g) => g.checker.account.address.toLowerCase()).sort(),
    );
    assert.equal(verdict.responders, 3, 'never more votes than 2N+1');
  });

  test('a reassigned round short of replacements takes no newcomer: its seats are drawn, not taken by whoever connects', async () => {
    const { server, team } = await world(4, 'short-host', { probeTimeoutMs: 300 });
    const got = await Promise.all(
      team.map(async (checker) => ({
        checker,
        assignment: await checker.peer.next('check-assignment', 2_000).catch(() => undefined),
      })),
    );
    const [answering] = got.filter((g) => g.assignment);
    const outsider = got.find((g) => !g.assignment)?.checker;
    if (!answering?.assignment || !outsider) throw new Error('3 + 1');
    await report(answering.checker, answering.assignment, true);
    // Two stay silent; the one outsider replaces one of them; the round is a seat short until it closes.
    await outsider.peer.next('check-assignment', 8_000);
    const newcomer = await connectTestChecker(server);
    cleanups.push(() => newcomer.peer.terminate());
    await assert.rejects(newcomer.peer.next('check-assignment', 500), 'not topped up into the reassigned round');
  });

  test('a round that started with one checker takes checkers who register later, up to three', async () => {
    const { server, team, host, verdicts } = await world(1, 'early-host');
    const early = team[0];
    if (!early) throw new Error('team');
    const first = await early.peer.next('check-assignment');
    await host.next('start-session');
    const late = await Promise.all([connectTestChecker(server), connectTestChecker(server)]);
    cleanups.push(() => {
      for (const checker of late) checker.peer.terminate();
    });
    const lateAssignments = await Promise.all(late.map((c) => c.peer.next('check-assignment')));
    for (const assignment of lateAssignments) {
      assert.equal(assignment.container, host.hostId);
      assert.equal(assignment.round, first.round, 'the same round, topped up');
    }
    // A fourth checker finds the round full.
    const fourth = await connectTestChecker(server);
    cleanups.push(() => fourth.peer.terminate());
    await assert.rejects(fourth.peer.next('check-assignment', 500));
    await report(early, first, true);
    for (const [i, checker] of late.entries()) {
      const assignment = lateAssignments[i];
      if (assignment) await report(checker, assignment, i === 0);
    }
    const verdict = await waitFind(() => verdicts[0]);
    assert.equal(verdict.verdict, 'ok');
    assert.equal(verdict.majority.length, 2);
    assert.equal(verdict.minority.length, 1, 'three votes, not one');
  });
  test('one checker alone never decides: its round is inconclusive and changes nothing', async () => {
    const { team, verdicts, server, host } = await world(1, 'lonely-host');
    const [only] = team;
    if (!only) throw new Error('team');
    for (let round = 0; round < 3; round++) await report(only, await only.peer.next('check-assignment'), false);
    const decided = await waitFind(() => (verdicts.length >= 3 ? verdicts : undefined));
    assert.deepEqual(
      decided.map((v) => [v.verdict, v.confirmed, v.responders]),
      [
        ['inconclusive', false, 1],
        ['inconclusive', false, 1],
        ['inconclusive', false, 1],
      ],
    );
    assert.equal(server.hub.hosts.get(host.hostId)?.drained, false);
    assert.equal(server.hub.hosts.get(host.hostId)?.failedVerdictsInARow, 0);
  });

  test('a drained provider is back after passing probation; a failing check on probation starts it over', async () => {
    const { team, verdicts, server, host } = await world(3, 'probation-host');
    const plan = [false, false, true, false, true, true, true];
    const answering = team.map(async (checker) => {
      for (const ok of plan) await report(checker, await checker.peer.next('check-assignment'), ok, server);
    });
    await Promise.all(answering);
    const lifted = await waitFind(() => verdicts.find((v) => v.drainLifted));
    assert.deepEqual(
      verdicts.map((v) => [v.verdict, v.drained, v.drainLifted]),
      [
        ['fail', false, false],
        ['fail', true, false],
        ['ok', false, false],
        ['fail', false, false],
        ['ok', false, false],
        ['ok', false, false],
        ['ok', false, true],
      ],
    );
    assert.equal(lifted, verdicts[6], 'the third passing round in a row lifts the drain');
    assert.equal(server.hub.hosts.get(host.hostId)?.drained, false);
    assert.equal(server.hub.checkers.drainOf(host.providerAddress), undefined);
  });
});

test('sessions that contradict a host’s delivery drain its provider once enough distinct payers with a record elsewhere saw it (fresh wallets do not count); a host that does not sign its receipts is no safer', async () => {
  const server = await startTestSignaling({
    chain,
    tokenSecret: randomBytes(32),
    checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 600_000, contradictedPlayersToDrain: 4 },
  });
  const provider = await chain.newStakedAccount('software');
  const host = await connectTestHost(server, { hostId: 'two-faced', privateKey: provider.privateKey });
  cleanups.push(async () => {
    host.terminate();
    await server.close();
  });
  const sessionId = () => `0x${randomBytes(32).toString('hex')}`;
  const receipts = async (session: string, account: LocalAccount = provider) =>
    Promise.all(
      [0, 1].map(async (i) => {
        const report = { sessionId: session, framesSent: 300 * i, fpsMilli: 60_000, bitrateBps: 4_000_000 };
        const wire = await signDeliveryReceipt({
          account,
          report,
          seq: i + 1,
          timestampMs: 1_700_000_000_000 + i * 5_000,
        });
        return deliveryReceiptOf(report, wire);
      }),
    );
  const payer = (n: number) => `0x${String(n).padStart(40, '0')}` as const;
  const contradicted = async (
    payerAddress: `0x${string}`,
    signed?: Awaited<ReturnType<typeof receipts>>,
    payerDeliveredSecElsewhere = 3_600,
  ) => {
    const id = sessionId();
    return server.hub.checkers.contradicted({
      sessionId: id,
      hostId: host.hostId,
      payerAddress,
      receipts: signed ?? (await receipts(id)),
      payerDeliveredSecElsewhere,
    });
  };
  // Sybils: fresh wallets (no record with other providers) that each play a moment here and lie about their
  // decoders. Before payers were weighed by their record, four of them drained this (honest) host.
  for (const n of [101, 102, 103, 104, 105]) {
    assert.equal(await contradicted(payer(n), undefined, 0), 'not-counted', 'a wallet with no record elsewhere');
  }
  assert.equal(await contradicted(payer(106), undefined, 599), 'not-counted', 'under contradictionMinPayerSec');
  assert.equal(server.hub.hosts.get(host.hostId)?.drained, false, 'Sybils never drain a host');
  assert.equal(await contradicted(payer(1)), 'counted');
  assert.equal(await contradicted(payer(1)), 'counted', 'the same payer again');
  assert.equal(server.hub.hosts.get(host.hostId)?.drained, false, 'one payer never fails a host');
  // The receipts come from the host's own connection: signed with another key, for another session, or not sent at
  // all, they are the host withholding its signature — which must not take it out of reach (its unsigned reports
  // were billed all the same). Each such session counts like a signed one.
  const other = privateKeyToAccount(generatePrivateKey());
  assert.equal(await contradicted(payer(2), await receipts(sessionId(), other)), 'counted');
  assert.equal(await contradicted(payer(3), await receipts(sessionId())), 'counted');
  assert.equal(server.hub.hosts.get(host.hostId)?.drained, false);
  assert.equal(await contradicted(payer(4), []), 'drained');
  assert.equal(server.hub.hosts.get(host.hostId)?.drained, true);
  assert.match(server.hub.checkers.drainOf(host.providerAddress)?.reason ?? '', /4 players counted far fewer frames/);
});

test('a payer’s record elsewhere is spent by its contradictions: three seasoned wallets cannot drain provider after provider', async () => {
  // The attack (review of 58665dd): a wallet needs contradictionMinPayerSec billed with other providers once, and then
  // its word counted against every provider of the network. Three wallets with 10 minutes of play each (bought once,
  // from a colluding provider for the fee) drained one honest provider after another, each for a moment of play and
  // a lie. Now each contradictionMinPayerSec of a payer's record covers one provider within the window.
  const server = await startTestSignaling({
    chain,
    tokenSecret: randomBytes(32),
    checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 600_000 },
  });
  const victims = await Promise.all(
    ['victim-a', 'victim-b', 'victim-c'].map(async (hostId) => {
      const provider = await chain.newStakedAccount('software');
      return connectTestHost(server, { hostId, privateKey: provider.privateKey });
    }),
  );
  cleanups.push(async () => {
    for (const host of victims) host.terminate();
    await server.close();
  });
  const payer = (n: number) => `0x${String(n).padStart(40, '0')}` as const;
  const contradicted = (hostId: string, payerAddress: `0x${string}`, payerDeliveredSecElsewhere: number) =>
    server.hub.checkers.contradicted({
      sessionId: `0x${randomBytes(32).toString('hex')}`,
      hostId,
      payerAddress,
      receipts: [],
      payerDeliveredSecElsewhere,
    });
  const [a, b, c] = victims.map((host) => host.hostId) as [string, string, string];
  // 600 s each: enough for one provider.
  assert.deepEqual(
    [await contradicted(a, payer(1), 600), await contradicted(a, payer(2), 600), await contradicted(a, payer(3), 600)],
    ['counted', 'counted', 'drained'],
  );
  assert.equal(await contradicted(a, payer(1), 600), 'counted', 'the same provider again: no more record spent');
  assert.deepEqual(
    [await contradicted(b, payer(1), 600), await contradicted(b, payer(2), 600), await contradicted(b, payer(3), 600)],
    ['not-counted', 'not-counted', 'not-counted'],
    'their record was spent on the first provider',
  );
  assert.equal(server.hub.hosts.get(b)?.drained, false, 'the second provider is not drained by the same wallets');
  // A payer with twice the record counts against two providers.
  assert.equal(await contradicted(b, payer(4), 1_200), 'counted');
  assert.equal(await contradicted(c, payer(4), 1_200), 'counted');
  assert.equal(await contradicted(c, payer(5), 1_200), 'counted');
  assert.equal(await contradicted(a, payer(4), 1_200), 'not-counted', 'a third provider is one too many');
});

test('checkers are drawn in proportion to their stake', () => {
  const small = { name: 'small', stakeWei: 1_000n * 10n ** 18n };
  const large = { name: 'large', stakeWei: 9_000n * 10n ** 18n };
  let largeFirst = 0;
  for (let i = 0; i < 10_000; i++) if (pickByStake([small, large], 1)[0] === large) largeFirst++;
  assert.ok(
    Math.abs(largeFirst / 10_000 - 0.9) < 0.02,
    `the 9,000 ATH checker was drawn ${largeFirst} times in 10,000`,
  );
  assert.deepEqual(new Set(pickByStake([small, large], 5)), new Set([small, large]), 'distinct, at most all');
});
