/**
 * Drains are keyed to the provider and kept in the ledger: a container its checkers' confirmed verdicts took
 * out of service stays out across a signaling restart (the role process as `ath-edge signaling` runs it, on
 * PGlite and on PostgreSQL), the provider sees why, and it is back once it passes its re-checks (probation).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { connectTestHost, connectTestPlayer, type TestHost } from '../../signaling/testing/startTestSignaling.js';
import { connectTestChecker, signTestReport, type TestChecker } from '../../signaling/testing/TestChecker.js';
import { waitFind } from '../../signaling/testing/waitFor.js';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import { DEFAULT_EDGE_CONFIG, type EdgeConfig } from '../config/EdgeConfig.js';
import { type StartTestPostgresReturnType, startTestPostgres } from '../ledger/testing/startTestPostgres.js';
import { runSignaling } from '../roles/runSignaling.js';

let chain: TestChain;
let postgres: StartTestPostgresReturnType;
before(async () => {
  [chain, postgres] = await Promise.all([startTestChain(), startTestPostgres()]);
});
after(async () => {
  await postgres.close();
  await chain.close();
});

const GAME = {
  id: 'drain-game',
  title: 'Drain',
  description: '',
  width: 640,
  height: 360,
  fps: 30,
  inputMode: 'absolute' as const,
  audio: false,
};

/** Checkers that answer every assignment with `ok` while `verdict.ok` says so, else `fail`. */
/**
 * Checkers that answer every assignment with `verdict.ok`. A failing report is sent once the host was asked for
 * the probe's session (`host()` got its start-session), as a real checker's would be: CheckerDesk does not count a
 * failing report of a probe that never got a slot.
 */
function answering(checkers: TestChecker[], verdict: { ok: boolean }, host: () => TestHost | undefined) {
  let running = true;
  const started = (sessionId: string) =>
    host()?.received.some((m) => m.type === 'start-session' && m.sessionId === sessionId) === true;
  for (const checker of checkers) {
    void (async () => {
      while (running) {
        const assignment = await checker.peer.next('check-assignment', 120_000).catch(() => undefined);
        if (!assignment || !running) return;
        while (!verdict.ok && running && !started(assignment.probeSessionId)) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        if (!running) return;
        const signed = await signTestReport({
          account: checker.account,
          assignment,
          ok: verdict.ok,
          domain: { chainId: chain.anvil.chainId, verifyingContract: chain.stakingAddress },
        });
        checker.peer.send({ type: 'check-report', ...signed });
      }
    })();
  }
  return () => {
    running = false;
    for (const checker of checkers) checker.peer.terminate();
  };
}

for (const driver of ['pglite', 'pg'] as const) {
  describe(`drains survive a restart [${driver}]`, () => {
    test('a drained host stays drained across a signaling restart and is back after passing probation', {
      timeout: 180_000,
    }, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'ath-drains-'));
      const secret = randomBytes(32);
      const config: EdgeConfig = {
        ...DEFAULT_EDGE_CONFIG,
        logLevel: 'silent',
        dataDir,
        signaling: {
          ...DEFAULT_EDGE_CONFIG.signaling,
          httpPort: 0,
          checkIntervalMs: 1_000,
          // Its hosts are checked from their first second (npm start waits 30 s).
          firstCheckDelayMs: 0,
          tokenSecretHex: secret.toString('hex'),
        },
        chain: {
          network: 'anvil',
          anvilPort: 0,
          rpcUrl: chain.anvil.rpcUrl,
          chainId: chain.anvil.chainId,
          tokenAddress: chain.tokenAddress,
          escrowAddress: chain.escrowAddress,
          stakingAddress: chain.stakingAddress,
        },
        ledger: driver === 'pg' ? { databaseUrl: await postgres.createDatabase() } : {},
      };
      const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
      const provider = await chain.newStakedAccount('software');
      const checkerKeys = await Promise.all([0, 1, 2].map(() => chain.newStakedAccount('checker')));
      const verdict = { ok: false };
      let stopCheckers = () => {};
      let host: TestHost | undefined;
      let signaling = await runSignaling({ config, log, clientDir: undefined });
      try {
        const server = { wsNodeUrl: signaling.info.wsNodeUrl, chain };
        const checkers = await Promise.all(
          checkerKeys.map((key) => connectTestChecker(server, { privateKey: key.privateKey })),
        );
        stopCheckers = answering(checkers, verdict, () => host);
        host = await connectTestHost(server, {
          privateKey: provider.privateKey,
          hostId: 'drained-host',
          games: [GAME],
          slots: 1,
        });
        const hostId = host.hostId;
        const stateOf = async (id: string) => {
          const response = await fetch(`${signaling.info.httpUrl}/api/hosts`);
          const body = (await response.json()) as { hosts: Array<{ hostId: string; state: string }> };
          return body.hosts.find((h) => h.hostId === id)?.state;
        };
        const hostState = () => stateOf(hostId);
        await waitFind(async () => ((await hostState()) === 'draining' ? true : undefined), { timeoutMs: 30_000 });
        const status = async () =>
          (await (await fetch(`${signaling.info.httpUrl}/api/providers/${provider.address}`)).json()) as {
            drain?: { reason: string; probationPasses: number; probationNeeded: number } | null;
          };
        const drainedStatus = await status();
        assert.ok(drainedStatus.drain, 'the provider status shows the drain');
        assert.match(drainedStatus.drain.reason, /fail/);

        // Restart signaling on the same ledger: the host comes back (same provider, same name) still drained.
        stopCheckers();
        host.terminate();
        await signaling.close();
        signaling = await runSignaling({ config, log, clientDir: undefined });
        const restarted = { wsNodeUrl: signaling.info.wsNodeUrl, wsPlayerUrl: signaling.info.wsPlayerUrl, chain };
        host = await connectTestHost(restarted, {
          privateKey: provider.privateKey,
          hostId: 'drained-host',
          games: [GAME],
          slots: 1,
        });
        assert.equal(host.hostId, hostId);
        assert.equal(await hostState(), 'draining', 'the drain survived the restart');
        // Nor does a new host id: the drain is the provider's, whatever its hosts are called.
        const renamed = await connectTestHost(restarted, {
          privateKey: provider.privateKey,
          hostId: 'renamed-host',
          games: [GAME],
          slots: 1,
        });
        assert.notEqual(renamed.hostId, hostId);
        assert.equal(await stateOf(renamed.hostId), 'draining', 'a new id does not lift the drain');
        renamed.terminate();
        const player = await connectTestPlayer(restarted, secret);
        player.send({ type: 'play', game: GAME.id, codecs: ['H264'], queue: false });
        assert.equal((await player.next('error')).code, 'ATH_ERR_NO_FREE_SLOT', 'a drained host is not matched');

        // Probation: checkers find it good again, round after round, and the drain is lifted.
        verdict.ok = true;
        const again = await Promise.all(
          checkerKeys.map((key) => connectTestChecker(restarted, { privateKey: key.privateKey })),
        );
        stopCheckers = answering(again, verdict, () => host);
        await waitFind(async () => ((await hostState()) === 'up' ? true : undefined), { timeoutMs: 60_000 });
        assert.equal((await status()).drain, null, 'the lifted drain is gone from the provider status');
        // Every round is in the ledger, those before the restart and the probation passes after it: the restarted
        // signaling did not number its rounds from 1 again (the ledger and the StakingRegistry key evidence by
        // container and round, so a reused number dropped the new verdict and could never be slashed for).
        const decidedRounds = async () =>
          (
            (await (await fetch(`${signaling.info.httpUrl}/api/checks/rounds?container=${hostId}`)).json()) as {
              rounds: Array<{ round: string; ok: boolean }>;
            }
          ).rounds;
        // The verdict that lifted the drain may still be on its way into the ledger: wait a little for it.
        const rounds = await waitFind(
          async () => {
            const decided = await decidedRounds();
            return decided.filter((r) => r.ok).length >= 3 ? decided : undefined;
          },
          { timeoutMs: 10_000 },
        ).catch(decidedRounds);
        const failed = rounds.filter((r) => !r.ok).map((r) => BigInt(r.round));
        const passed = rounds.filter((r) => r.ok).map((r) => BigInt(r.round));
        assert.ok(failed.length >= 2, `the failing rounds before the restart: ${failed}`);
        assert.ok(passed.length >= 3, `every probation pass is recorded: ${passed} (failing: ${failed})`);
        assert.ok(
          passed.every((round) => failed.every((before) => round > before)),
          `rounds after the restart come after those before it: ${passed} vs ${failed}`,
        );
        // Check rounds go on every second, and a probe is a session to the host: one may hold its one slot right now
        // (a checker answers at once here, and the probe ends with its report). The player waits in line for the slot
        // rather than being told there is none (with `queue: false` that was a load-bound failure: CI, load 15). A
        // probe holds a slot `probeTimeoutMs` (20 s) at most.
        player.send({ type: 'play', game: GAME.id, codecs: ['H264'] });
        assert.equal((await player.next('session', 30_000)).hostId, hostId, 'matched again after probation');
        player.terminate();
      } finally {
        stopCheckers();
        host?.terminate();
        await signaling.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
