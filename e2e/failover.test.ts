/**
 * One network, two signaling servers (issue 16): a real browser plays a paid session on a real render host;
 * the signaling server both of them are connected to is killed with SIGKILL mid-session. The stream goes on
 * (it is peer to peer), the player and the host reconnect to the other server (the SDK learned it from
 * /api/config, the host was given both URLs), the session resumes there with its lease and its billing, and
 * the ledger shows every tick once: none lost, none twice.
 *
 * Its own stack (two signaling processes, redis-server, PostgreSQL, anvil, one render host): run it alone,
 * under the heavy lock.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright';
import { buildClient } from '../client/index.js';
import { type Stack, startStack } from '../edge/index.js';
import { e2eConfig } from './support/e2eConfig.js';
import { launchChromium } from './support/launchChromium.js';
import { closePlayer, openPlayer, pressPlay, sessionId, waitPlaying } from './support/playerPage.js';

type SessionView = { state: string; hostId: string | null; slot: number | null };
type Tick = { tickIndex: number; deliveredSec: number };
type Charges = { chargedWei: string; deliveredSec: number; ticks?: Tick[]; session: { state: string } };

describe('two signaling servers: one is killed mid-session', () => {
  let stack: Stack;
  let browser: Browser;
  let page: Page | undefined;

  before(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ath-e2e-failover-'));
    // Chromium and the client bundle start while the chain, Redis and PostgreSQL come up.
    const clientDir = buildClient({}).then(({ outDir }) => outDir);
    const config = e2eConfig(dataDir);
    const [started, launched] = await Promise.allSettled([
      startStack({
        config: {
          ...config,
          logLevel: (process.env.LOG_LEVEL as typeof config.logLevel | undefined) ?? config.logLevel,
          renderHost: { ...config.renderHost, apps: undefined },
          stack: { ...config.stack, signalingInstances: 2 },
        },
        clientDir,
      }),
      launchChromium(),
    ]);
    // Whatever started is kept for `after` to stop, then the first failure is thrown.
    if (started.status === 'fulfilled') stack = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    for (const result of [started, launched]) if (result.status === 'rejected') throw result.reason;
  });
  after(async () => {
    if (page) await closePlayer(page).catch(() => undefined);
    await browser?.close();
    await stack?.close();
  });

  test('the stream goes on, player and host move to the survivor within 3 s, the lease and the billing go on', async () => {
    const [first, second] = stack.signalingServers;
    assert.ok(first && second, 'two signaling servers');
    const survivor = second.info.httpUrl;
    const api = async <T>(path: string): Promise<T> => {
      const response = await fetch(`${survivor}${path}`);
      assert.ok(response.ok, `${path}: ${response.status}`);
      return (await response.json()) as T;
    };

    page = await openPlayer({ browser, baseUrl: first.info.httpUrl, game: 'neon-drift' });
    // Every frame the page shows, on the page's clock, and every `session` message it is sent (a resume after
    // the failover is one, `resumed: true`), on the test's clock.
    // (A string: tsx would wrap a named function in a helper the page does not have.)
    await page.evaluate(`(() => {
      const video = document.querySelector('ath-play')?.shadowRoot?.querySelector('video');
      if (!video) throw new Error('no video element');
      window.__frames = [];
      const onFrame = () => {
        window.__frames.push(performance.now());
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    })()`);
    const resumedAt: number[] = [];
    page.on('websocket', (socket) => {
      socket.on('framereceived', ({ payload }) => {
        const text = String(payload);
        if (text.includes('"type":"session"') && text.includes('"resumed":true')) resumedAt.push(Date.now());
      });
    });
    await pressPlay(page);
    await waitPlaying(page);
    const id = await sessionId(page);
    assert.ok(id);
    // Paid and metered for a while before the crash (the burner wallet authorizes on its own).
    await waitUntil(
      'two ticks billed',
      40_000,
      async () => (await api<Charges>(`/api/sessions/${id}/charges`)).deliveredSec >= 5,
    );
    const before = await api<SessionView>(`/api/sessions/${id}`);
    assert.equal(before.state, 'streaming');

    const billedBeforeKill = (await api<Charges>(`/api/sessions/${id}/charges`)).deliveredSec;
    const pageNow = () => page?.evaluate(() => performance.now()) ?? Promise.resolve(0);
    const killedAtPage = await pageNow();
    const killedAt = Date.now();
    process.kill(first.pid ?? 0, 'SIGKILL');
    await first.exited;

    // The player resumes on the survivor (`session`, resumed) and the host registers there again.
    await waitUntil('the player to resume on the survivor', 10_000, async () => resumedAt.length > 0);
    const hostLog = join(stack.logDir, 'host-1.log');
    await waitUntil(
      'the host to register on the survivor',
      10_000,
      async () => registeredAfter(hostLog, killedAt) !== undefined,
    );
    const playerReconnectMs = (resumedAt[0] ?? 0) - killedAt;
    const hostReconnectMs = (registeredAfter(hostLog, killedAt) ?? 0) - killedAt;
    process.stderr.write(
      `failover: player resumed after ${playerReconnectMs} ms, host re-registered after ${hostReconnectMs} ms\n`,
    );

    // Same session, same host and slot, still streaming, run by the survivor now — looked at once the 5 s after
    // the kill whose frames are checked below have passed.
    await page.waitForTimeout(Math.max(0, killedAt + 5_200 - Date.now()));
    const afterCrash = await api<SessionView>(`/api/sessions/${id}`);
    assert.equal(afterCrash.state, 'streaming');
    assert.equal(afterCrash.hostId, before.hostId);
    assert.equal(afterCrash.slot, before.slot);

    // The media never stopped: frames kept being shown across the crash (no gap of half a second).
    const frames = await page.evaluate(() => (window as unknown as { __frames: number[] }).__frames);
    const around = frames.filter((t) => t >= killedAtPage - 1_000 && t <= killedAtPage + 5_000);
    let longestGapMs = 0;
    for (let i = 1; i < around.length; i++)
      longestGapMs = Math.max(longestGapMs, (around[i] ?? 0) - (around[i - 1] ?? 0));
    process.stderr.write(
      `failover: ${around.length} frames shown in the 6 s around the kill, longest gap ${longestGapMs.toFixed(0)} ms\n`,
    );
    assert.ok(around.length > 60, `only ${around.length} frames in 6 s around the kill`);
    assert.ok(longestGapMs < 500, `the stream stalled ${longestGapMs.toFixed(0)} ms`);

    assert.ok(playerReconnectMs < 3_000, `player back after ${playerReconnectMs} ms`);
    assert.ok(hostReconnectMs < 3_000, `host back after ${hostReconnectMs} ms`);

    // Billing went on at the survivor: each tick once, and the seconds billed after the kill match the time.
    // Quit once the survivor has billed two ticks' worth after the kill (not a fixed wait).
    const tickSec = stack.config.economy.tickSec;
    await waitUntil(
      'two ticks billed after the kill',
      4 * tickSec * 1000,
      async () => (await api<Charges>(`/api/sessions/${id}/charges`)).deliveredSec >= billedBeforeKill + 2 * tickSec,
    );
    const quitAt = Date.now();
    await page.locator('ath-play button.quit').click();
    let charges: Charges | undefined;
    await waitUntil('the session closed in the ledger', 20_000, async () => {
      charges = await api<Charges>(`/api/sessions/${id}/charges`);
      return charges.session.state === 'ended';
    });
    assert.ok(charges);
    const ticks = charges.ticks ?? [];
    const indexes = ticks.map((tick) => tick.tickIndex);
    assert.deepEqual(
      indexes,
      Array.from({ length: indexes.length }, (_, i) => i),
      'tick indexes 0, 1, 2, …: none twice, none skipped',
    );
    assert.equal(
      ticks.reduce((sum, tick) => sum + tick.deliveredSec, 0),
      charges.deliveredSec,
      'the ticks add up to what was charged',
    );
    // From the kill to Quit the stream played all along: those seconds are billed (plus what the last tick
    // before the kill had not billed yet, at most one tick's worth), none of them twice.
    const afterKillSec = charges.deliveredSec - billedBeforeKill;
    const wallSec = (quitAt - killedAt) / 1000;
    process.stderr.write(
      `failover: billed ${billedBeforeKill} s before the kill, ${afterKillSec} s after it (${wallSec.toFixed(1)} s from the kill to Quit), ${ticks.length} ticks\n`,
    );
    assert.ok(afterKillSec >= Math.floor(wallSec) - 2, `only ${afterKillSec} s billed for ${wallSec.toFixed(1)} s`);
    assert.ok(afterKillSec <= Math.ceil(wallSec) + 6, `${afterKillSec} s billed for ${wallSec.toFixed(1)} s`);
  });
});

/** When the render host logged `registered` after `sinceMs` (its JSON log), if it did. */
function registeredAfter(logFile: string, sinceMs: number): number | undefined {
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    if (!line.includes('"msg":"registered"')) continue;
    const time = Number(/"time":(\d+)/.exec(line)?.[1]);
    if (time > sinceMs) return time;
  }
  return undefined;
}

async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
