/**
 * Checkers against real render hosts: in-process signaling with short rounds, three real render hosts (one
 * healthy, one capped to 10 fps by its test hook, one whose data channel answers 200 ms late; each serves
 * probes from its own probe worker), and three real checker nodes — one of them lying. Every probe is a real werift session with
 * real RTP; the majority decides and the degraded hosts are drained.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { privateKeyToAccount } from 'viem/accounts';
import { startTestRenderHost } from '../../render-host/host/testing/startTestRenderHost.js';
import { BUILTIN_GAMES, ProbeStreams, type RenderHostHandle, TestHookSwitch } from '../../render-host/index.js';
import type { RoundVerdict } from '../../signaling/checkers/CheckerDesk.js';
import { DEFAULT_CHECK_SETTINGS } from '../../signaling/checkers/CheckerDesk.js';
import { startTestSignaling, type TestSignaling } from '../../signaling/testing/startTestSignaling.js';
import type { SentCheckReport } from './CheckerNode.js';
import { type CheckerHandle, startChecker } from './startChecker.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const HOSTS = {
  healthy: { dataChannelDelayMs: 0 },
  slow: { fpsCap: 10, dataChannelDelayMs: 0 },
  far: { dataChannelDelayMs: 200 },
} as const;

let server: TestSignaling;
const hosts: Array<{ name: string; handle: RenderHostHandle; probes: ProbeStreams }> = [];
/** The network's id of a test host (its name bound to its provider). */
const idOf = (name: keyof typeof HOSTS) => hosts.find((h) => h.name === name)?.handle.host.hostId ?? name;
const checkers: CheckerHandle[] = [];
const verdicts: RoundVerdict[] = [];
const reports: SentCheckReport[] = [];
let liar: `0x${string}`;

async function waitFor<T>(what: string, find: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('checker nodes on real render hosts', { timeout: 180_000 }, () => {
  before(async () => {
    server = await startTestSignaling({
      checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 1_500, deadlineMs: 30_000 },
    });
    server.hub.on('verdict', (verdict) => verdicts.push(verdict));
    // Checkers first, so every host's first round (1 s after it registers) finds all three.
    for (const [i, lie] of [false, false, true].entries()) {
      const checker = await startChecker({
        account: privateKeyToAccount((await server.chain.newStakedAccount('checker')).privateKey),
        signalingUrl: server.httpUrl,
        bindHost: '127.0.0.1',
        metricsPort: 0,
        // Half the advertised rate: a loaded test box still passes a healthy host; 10 of 60 fps never does.
        thresholds: { minFpsRatio: 0.5, maxRttMs: 150, maxLossPpm: 50_000 },
        window: { warmupMs: 500, windowMs: 2_500, pings: 10, connectTimeoutMs: 15_000, pingTimeoutMs: 3_000 },
        lie,
        log: log.child({ checker: i }),
      });
      checker.node.on('report', (sent) => reports.push(sent));
      checkers.push(checker);
    }
    liar = checkers[2]?.address.toLowerCase() as `0x${string}`;
    const games = BUILTIN_GAMES.slice(0, 1);
    for (const [name, hooks] of Object.entries(HOSTS)) {
      const testHooks = new TestHookSwitch(hooks);
      const hostLog = log.child({ hostId: name });
      const probes = new ProbeStreams({ fps: Math.max(...games.map((g) => g.fps)), testHooks, log: hostLog });
      const handle = await startTestRenderHost({
        hostId: name,
        provider: privateKeyToAccount((await server.chain.newStakedAccount('software')).privateKey),
        signalingNodeUrl: server.wsNodeUrl,
        games,
        probes,
        testHooks,
        log: hostLog,
      });
      hosts.push({ name, handle, probes });
    }
  });

  after(async () => {
    for (const checker of checkers) await checker.close();
    for (const { handle, probes } of hosts) {
      await handle.close();
      await probes.close();
    }
    await server?.close();
  });

  test('a healthy container passes the majority verdict; the lying checker is the minority', async () => {
    const verdict = await waitFor(
      'a verdict on the healthy host',
      () => verdicts.find((v) => v.hostId === idOf('healthy')),
      90_000,
    );
    assert.equal(verdict.verdict, 'ok', JSON.stringify(verdict.reports.map((r) => r.report)));
    assert.deepEqual(verdict.minority, [liar]);
    assert.equal(verdict.majority.length, 2);
    assert.ok(!verdict.majority.includes(liar));
    assert.equal(server.hub.hosts.get(idOf('healthy'))?.drained, false);
    assert.ok(
      (server.hub.hosts.get(idOf('healthy'))?.qualityScore ?? 0) > 0.5,
      'a passed round raises the neutral score',
    );
    // The honest measurements came from real RTP and real pongs.
    const honest = reports.filter(
      (r) => r.assignment.container === idOf('healthy') && r.report.checker.toLowerCase() !== liar,
    );
    assert.ok(honest.length >= 2);
    for (const sent of honest) {
      assert.equal(sent.measurement.live, true);
      assert.ok(sent.measurement.pongsReceived >= 10, `pongs ${sent.measurement.pongsReceived}`);
      assert.ok(sent.measurement.framesComplete > 0);
      assert.equal(sent.report.ok, true, sent.reasons.join('; '));
    }
  });

  for (const [name, why] of [
    ['slow', 'capped to 10 fps'],
    ['far', '200 ms late on its data channel'],
  ] as const) {
    test(`a container ${why} is caught by the majority and drained`, async () => {
      const hostId = idOf(name);
      const drained = await waitFor(
        `${hostId} drained`,
        () => verdicts.find((v) => v.hostId === hostId && v.drained),
        120_000,
      );
      assert.equal(drained.verdict, 'fail');
      assert.ok(
        drained.minority.every((address) => address === liar),
        'only the liar disagreed',
      );
      assert.ok(!drained.majority.includes(liar));
      // Evidence: the signed reports of the round.
      assert.ok(drained.reports.every((r) => r.signature.startsWith('0x') && r.report.container === hostId));
      assert.equal(server.hub.hosts.get(hostId)?.drained, true);
      const listed = (await (await fetch(`${server.httpUrl}/api/hosts`)).json()) as {
        hosts: Array<{ hostId: string; state: string }>;
      };
      assert.equal(listed.hosts.find((h) => h.hostId === hostId)?.state, 'draining');
      // Every honest checker failed it, and those whose probe ran saw why.
      const honest = reports.filter(
        (r) => r.assignment.container === hostId && r.report.checker.toLowerCase() !== liar,
      );
      assert.ok(honest.length > 0 && honest.every((sent) => !sent.report.ok));
      const measured = honest.filter((sent) => sent.measurement.live);
      assert.ok(measured.length > 0, 'at least one probe ran');
      for (const sent of measured) {
        if (name === 'slow') assert.ok(sent.measurement.fps < 20, `fps ${sent.measurement.fps}`);
        else assert.ok(sent.measurement.rttMs >= 200, `rtt ${sent.measurement.rttMs}`);
      }
    });
  }

  test('each checker serves /healthz and /metrics with what it sent', async () => {
    for (const checker of checkers) {
      const health = (await (await fetch(checker.healthUrl)).json()) as { ok: boolean; reportsSent: number };
      assert.equal(health.ok, true);
      assert.ok(health.reportsSent > 0);
      const text = await (await fetch(checker.metricsUrl)).text();
      assert.match(text, /ath_edge_checker_reports_total\{verdict="(ok|fail)"\} [1-9]/);
      assert.match(text, /ath_edge_checker_probe_rtt_seconds_count [1-9]/);
    }
  });
});
