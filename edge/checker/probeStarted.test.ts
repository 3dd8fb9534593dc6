/**
 * A real checker node (no render host: a scripted one) learns when its probe got a slot (`probe-started`): a host
 * that takes the probe's session and never offers it is reported dead within the connect window after the slot —
 * a report that counts against it — not at the round's deadline, however long that is.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { privateKeyToAccount } from 'viem/accounts';
import type { RoundVerdict } from '../../signaling/checkers/CheckerDesk.js';
import { DEFAULT_CHECK_SETTINGS } from '../../signaling/checkers/CheckerDesk.js';
import { connectTestHost, startTestSignaling, type TestSignaling } from '../../signaling/testing/startTestSignaling.js';
import type { TestPeer } from '../../signaling/testing/TestPeer.js';
import type { SentCheckReport } from './CheckerNode.js';
import { type CheckerHandle, startChecker } from './startChecker.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
/** The round's deadline: far longer than this test waits. */
const DEADLINE_MS = 120_000;
let server: TestSignaling;
let checker: CheckerHandle | undefined;
let host: TestPeer | undefined;

before(async () => {
  server = await startTestSignaling({
    tokenSecret: randomBytes(32),
    checks: {
      ...DEFAULT_CHECK_SETTINGS,
      intervalMs: 600_000,
      deadlineMs: DEADLINE_MS,
      checkersPerContainer: 1,
      minResponders: 1,
    },
  });
});

after(async () => {
  host?.terminate();
  await checker?.close();
  await server?.close();
});

test('a probe that got its slot and no offer is reported within the connect window after the slot, and counts', async () => {
  const verdicts: RoundVerdict[] = [];
  server.hub.on('verdict', (verdict) => verdicts.push(verdict));
  const sent: SentCheckReport[] = [];
  checker = await startChecker({
    account: privateKeyToAccount((await server.chain.newStakedAccount('checker')).privateKey),
    signalingUrl: server.httpUrl,
    bindHost: '127.0.0.1',
    metricsPort: 0,
    window: { warmupMs: 500, windowMs: 1_000, pings: 4, connectTimeoutMs: 1_500, pingTimeoutMs: 1_000 },
    log,
  });
  checker.node.on('report', (report) => sent.push(report));
  // The host takes every session it is sent and never offers one.
  host = await connectTestHost(server, { hostId: 'silent-host', slots: 1 });
  const start = await host.next('start-session', 30_000);
  const deadline = Date.now() + 30_000;
  while (sent.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const [report] = sent;
  assert.ok(report, `no report within 30 s of the slot (the round's deadline is ${DEADLINE_MS / 1000} s)`);
  assert.equal(report.assignment.probeSessionId, start.sessionId);
  assert.equal(report.report.ok, false);
  assert.equal(report.measurement.live, false);
  while (verdicts.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const [verdict] = verdicts;
  assert.ok(verdict, 'the round was decided');
  assert.equal(verdict.verdict, 'fail');
  assert.deepEqual(verdict.probed, [checker.address.toLowerCase()], 'its probe held a slot: the report counts');
  assert.deepEqual(verdict.unprobed, []);
});
