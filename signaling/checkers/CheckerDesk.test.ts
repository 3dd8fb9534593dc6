import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { startTestChain, type TestChain } from '../../edge/chain/testing/startTestChain.js';
import type { ServerMessageOf } from '../protocol/index.js';
import { connectTestHost, startTestSignaling } from '../testing/startTestSignaling.js';
import { connectTestChecker, signTestReport, type TestChecker } from '../testing/TestChecker.js';
import type { TestPeer } from '../testing/TestPeer.js';
import { DEFAULT_CHECK_SETTINGS, pickByStake, type RoundVerdict } from './CheckerDesk.js';

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
async function world(checkerCount: number, hostId: string) {
  const server = await startTestSignaling({
    chain,
    tokenSecret: randomBytes(32),
    checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 200, deadlineMs: 3_000 },
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

async function waitFor<T>(find: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function report(checker: TestChecker, assignment: ServerMessageOf<'check-assignment'>, ok: boolean) {
  checker.peer.send({ type: 'check-report', ...(await signTestReport({ account: checker.account, assignment, ok })) });
}

describe('checkers', () => {
  test('a container gets 3 distinct checkers; its probe SDP goes to each; the majority decides; a liar is the minority', async () => {
    const { team, host, verdicts, server } = await world(3, 'checked-host');
    const assignments = await Promise.all(team.map((c) => c.peer.next('check-assignment')));
    assert.equal(new Set(assignments.map((a) => a.probeSessionId)).size, 3);
    assert.ok(assignments.every((a) => a.container === host.hostId && a.round === '1'));
    const probes = await Promise.all([host.next('start-probe'), host.next('start-probe'), host.next('start-probe')]);
    assert.deepEqual(probes.map((p) => p.sessionId).sort(), assignments.map((a) => a.probeSessionId).sort());
    const first = assignments[0];
    if (!first) throw new Error('assignment');
    host.send({ type: 'offer', sessionId: first.probeSessionId, sdp: 'v=0 probe' });
    assert.equal((await team[0]?.peer.next('offer'))?.sdp, 'v=0 probe');
    team[0]?.peer.send({ type: 'answer', sessionId: first.probeSessionId, sdp: 'v=0 answer' });
    assert.equal((await host.next('answer')).sdp, 'v=0 answer');
    // Another checker cannot answer a probe that is not its own.
    team[1]?.peer.send({ type: 'answer', sessionId: first.probeSessionId, sdp: 'v=0 x' });
    assert.equal((await team[1]?.peer.next('error'))?.code, 'ATH_ERR_NOT_YOUR_SESSION');

    for (const [i, ok] of [true, true, false].entries()) {
      const checker = team[i];
      const assignment = assignments[i];
      if (!checker || !assignment) throw new Error('team');
      await report(checker, assignment, ok);
      await checker.peer.next('report-accepted');
    }
    const verdict = await waitFor(() => verdicts[0]);
    assert.equal(verdict.verdict, 'ok');
    assert.equal(verdict.majority.length, 2);
    assert.deepEqual(verdict.minority, [team[2]?.account.address.toLowerCase()]);
    assert.ok((server.hub.hosts.get(host.hostId)?.qualityScore ?? 0) > 0.5, 'a good round raises the neutral score');
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

  test('two failed verdicts in a row drain the container; its evidence is the signed reports', async () => {
    const { team, verdicts, server, host } = await world(3, 'failing-host');
    const answering = team.map(async (checker) => {
      for (let round = 0; round < 2; round++) {
        const assignment = await checker.peer.next('check-assignment');
        await report(checker, assignment, false);
      }
    });
    await Promise.all(answering);
    const drained = await waitFor(() => verdicts.find((v) => v.drained));
    assert.equal(drained.verdict, 'fail');
    assert.equal(drained.round, 2n);
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
    const verdict = await waitFor(() => verdicts[0]);
    assert.equal(verdict.verdict, 'ok');
    assert.equal(verdict.majority.length, 3);
  });

  test('a round that started with one checker takes checkers who register later, up to three', async () => {
    const { server, team, host, verdicts } = await world(1, 'early-host');
    const early = team[0];
    if (!early) throw new Error('team');
    const first = await early.peer.next('check-assignment');
    await host.next('start-probe');
    const late = await Promise.all([connectTestChecker(server), connectTestChecker(server)]);
    cleanups.push(() => {
      for (const checker of late) checker.peer.terminate();
    });
    const lateAssignments = await Promise.all(late.map((c) => c.peer.next('check-assignment')));
    for (const assignment of lateAssignments) {
      assert.equal(assignment.container, host.hostId);
      assert.equal(assignment.round, first.round, 'the same round, topped up');
    }
    await Promise.all([host.next('start-probe'), host.next('start-probe')]);
    // A fourth checker finds the round full.
    const fourth = await connectTestChecker(server);
    cleanups.push(() => fourth.peer.terminate());
    await assert.rejects(fourth.peer.next('check-assignment', 500));
    await report(early, first, true);
    for (const [i, checker] of late.entries()) {
      const assignment = lateAssignments[i];
      if (assignment) await report(checker, assignment, i === 0);
    }
    const verdict = await waitFor(() => verdicts[0]);
    assert.equal(verdict.verdict, 'ok');
    assert.equal(verdict.majority.length, 2);
    assert.equal(verdict.minority.length, 1, 'three votes, not one');
  });
  test('one checker alone never decides: its round is inconclusive and changes nothing', async () => {
    const { team, verdicts, server, host } = await world(1, 'lonely-host');
    const [only] = team;
    if (!only) throw new Error('team');
    for (let round = 0; round < 3; round++) await report(only, await only.peer.next('check-assignment'), false);
    const decided = await waitFor(() => (verdicts.length >= 3 ? verdicts : undefined));
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
      for (const ok of plan) await report(checker, await checker.peer.next('check-assignment'), ok);
    });
    await Promise.all(answering);
    const lifted = await waitFor(() => verdicts.find((v) => v.drainLifted));
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
    assert.equal(lifted.round, 7n);
    assert.equal(server.hub.hosts.get(host.hostId)?.drained, false);
    assert.equal(server.hub.checkers.drainOf(host.providerAddress), undefined);
  });
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
