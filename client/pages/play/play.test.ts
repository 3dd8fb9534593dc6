/**
 * The play page in real Chromium against real signaling, with a scripted render host (it registers and
 * answers the signaling flow; it cannot stream). Checks what needs no media: tiles, Play → `play`, the
 * token at the upgrade, queue, errors, session end, reload → resume, signaling down.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright';
import { launchChromium } from '../../../e2e/support/launchChromium.js';
import { startTestChain, type TestChain } from '../../../edge/chain/testing/startTestChain.js';
import type { GameInfoRecord } from '../../../signaling/protocol/index.js';
import {
  connectTestHost,
  startTestSignaling,
  type TestSignaling,
} from '../../../signaling/testing/startTestSignaling.js';
import type { TestPeer } from '../../../signaling/testing/TestPeer.js';
import { buildClient } from '../../index.js';

const TIMEOUT_MS = 15_000;

let browser: Browser;
let clientDir: string;
/** One chain for the file: each test's signaling admits hosts staked on it. */
let chain: TestChain;
const cleanups: Array<() => Promise<void> | void> = [];

const NEON_DRIFT: GameInfoRecord = {
  id: 'neon-drift',
  title: 'Neon Drift',
  description: 'Drift through a neon city.',
  width: 1280,
  height: 720,
  fps: 60,
  inputMode: 'absolute',
  audio: true,
};

before(async () => {
  clientDir = await mkdtemp(join(tmpdir(), 'ath-client-page-'));
  await buildClient({ outDir: clientDir });
  browser = await launchChromium();
  chain = await startTestChain();
});

after(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await browser?.close();
  await chain?.close();
  await rm(clientDir, { recursive: true, force: true });
});

/**
 * Heartbeats from a scripted host, as a real render host sends them (every `heartbeatIntervalMs`, 2 s): signaling
 * marks a host that misses 3 down and ends its sessions ('host-lost'). Without them each test had to finish
 * within ≈ 6 s of the host registering — on a box half as fast as ours (CI) it did not (seen: a session ended
 * 3.8 s after it started, before the player's first 0-fps report).
 */
function keepBeating(host: TestPeer): void {
  const beat = setInterval(() => host.send({ type: 'heartbeat', load: 0, slots: [] }), 1_000);
  cleanups.push(() => clearInterval(beat));
}

async function stack(slots = 1): Promise<{ server: TestSignaling; host: TestPeer }> {
  const server = await startTestSignaling({ chain, clientDir, leaseTtlMs: 60_000 });
  const host = await connectTestHost(server, { slots, games: [NEON_DRIFT] });
  cleanups.push(async () => {
    host.terminate();
    await server.close();
  });
  keepBeating(host);
  return { server, host };
}

/** A fresh browser context (its own sessionStorage: its own player) that records WebSocket subprotocols. */
async function openPage(url: string): Promise<Page> {
  const context: BrowserContext = await browser.newContext();
  cleanups.push(() => context.close());
  await context.addInitScript({
    content: `
      window.__wsOpened = [];
      const NativeWebSocket = window.WebSocket;
      window.WebSocket = class extends NativeWebSocket {
        constructor(url, protocols) {
          super(url, protocols);
          window.__wsOpened.push({ url: String(url), protocols: [].concat(protocols ?? []) });
        }
      };`,
  });
  const page = await context.newPage();
  await page.goto(url);
  return page;
}

function status(page: Page, text: RegExp | string) {
  return page.locator('ath-play .status', { hasText: text }).waitFor({ timeout: TIMEOUT_MS });
}

async function clickPlay(page: Page): Promise<void> {
  await page.locator('ath-play .play').click({ timeout: TIMEOUT_MS });
}

describe('play page', () => {
  test('opens on the game library: a picture per game above the fold on a laptop screen, no stage until chosen', async () => {
    const { server } = await stack(2);
    const SUPERTUX: GameInfoRecord = { ...NEON_DRIFT, id: 'supertux', title: 'SuperTux', description: 'Jump and run.' };
    const OTHER: GameInfoRecord = { ...NEON_DRIFT, id: 'puzzle-garden', title: 'Puzzle Garden', description: 'Calm.' };
    const second = await connectTestHost(server, { slots: 1, games: [SUPERTUX, OTHER] });
    cleanups.push(() => second.terminate());
    keepBeating(second);
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
    cleanups.push(() => context.close());
    const page = await context.newPage();
    await page.goto(server.httpUrl);
    const tile = page.locator('.tile[data-game="neon-drift"]');
    await tile.waitFor({ timeout: TIMEOUT_MS });
    await page.locator('.tile').nth(2).waitFor({ timeout: TIMEOUT_MS });
    assert.match(
      (await tile.textContent()) ?? '',
      /Neon Drift[\s\S]*Drift through a neon city[\s\S]*1280×720 · 60 fps[\s\S]*2 free slots/,
    );
    // Every game's picture is drawn and whole inside a 1366×768 screen, without scrolling.
    const pictures = await page.locator('.tile img.tile-art').evaluateAll((images) =>
      images.map((image) => {
        const img = image as HTMLImageElement;
        const box = img.getBoundingClientRect();
        return { complete: img.complete, width: img.naturalWidth, top: box.top, bottom: box.bottom, shown: box.height };
      }),
    );
    assert.equal(pictures.length, 3);
    for (const picture of pictures) {
      assert.ok(picture.complete && picture.width > 0, `decoded: ${JSON.stringify(picture)}`);
      assert.ok(
        picture.top >= 0 && picture.bottom <= 768 && picture.shown >= 100,
        `above the fold: ${JSON.stringify(picture)}`,
      );
    }
    assert.equal(await page.evaluate(() => window.scrollY), 0);
    // No stage before a choice, and nothing chosen for the visitor.
    assert.equal(await page.locator('#stage').isVisible(), false);
    assert.equal(await page.locator('ath-play').getAttribute('game'), null);
    assert.equal(await tile.getAttribute('aria-pressed'), 'false');
    assert.doesNotMatch(page.url(), /game=/);

    await tile.click();
    await page.locator('#stage').waitFor({ state: 'visible', timeout: TIMEOUT_MS });
    await page.locator('ath-play[game="neon-drift"]').waitFor({ timeout: TIMEOUT_MS });
    assert.equal(await tile.getAttribute('aria-pressed'), 'true');
    assert.equal(await page.locator('#stage-title').textContent(), 'Neon Drift');
    await status(page, 'Ready. Press Play.');
    assert.match(page.url(), /[?&]game=neon-drift/);
  });

  test('the Embed item leads to the embed docs', async () => {
    const { server } = await stack(1);
    const page = await openPage(server.httpUrl);
    const embed = page.locator('nav a', { hasText: 'Embed' });
    assert.equal(await embed.getAttribute('href'), '/docs/embed.html');
    await embed.click();
    await page.waitForURL(/\/docs\/embed\.html$/, { timeout: TIMEOUT_MS });
    assert.equal(await page.locator('h1').first().textContent(), 'Embed a play button');
  });

  test('Play sends `play` with the codecs, the token rides in the subprotocol, a session end shows its message', async () => {
    const { server, host } = await stack();
    const page = await openPage(`${server.httpUrl}/?game=neon-drift`);
    await status(page, 'Ready. Press Play.');
    await clickPlay(page);
    const start = await host.next('start-session', TIMEOUT_MS);
    assert.equal(start.game, 'neon-drift');
    assert.deepEqual(start.codecs, ['H264', 'VP8']);
    assert.equal(start.resume, false);
    // The session's price is on the page before any wallet is asked to sign (the scripted host asks 10^15 wei/s).
    await status(page, 'Starting the stream… 3.6 ATH per hour');

    const opened = await page.evaluate(() => (window as unknown as { __wsOpened: unknown[] }).__wsOpened);
    const token = await page.evaluate(() => {
      const key = Object.keys(sessionStorage).find((k) => k.startsWith('ath-edge:player:'));
      return key ? (JSON.parse(sessionStorage.getItem(key) ?? '{}') as { token?: string }).token : undefined;
    });
    assert.ok(token);
    assert.deepEqual(opened, [{ url: server.wsPlayerUrl, protocols: ['ath-edge.v1', `token.${token}`] }]);
    assert.equal(await page.evaluate(() => window.__athPlayer?.sessionId), start.sessionId);

    host.send({
      type: 'host-session-ended',
      sessionId: start.sessionId,
      reason: 'game-crashed',
      message: 'The game crashed on the render host.',
    });
    await status(page, 'The game crashed on the render host.');
    assert.equal(await page.evaluate(() => window.__athPlayer?.state), 'ended');
    assert.equal(await page.locator('ath-play .play').textContent(), '▶ Play again');
    const events = await page.evaluate(() => window.__athPlayer?.events.map((e) => e.type));
    assert.ok(events?.includes('ended'));
  });

  test('`codec=vp8` asks for VP8 first', async () => {
    const { server, host } = await stack();
    const page = await openPage(`${server.httpUrl}/?game=neon-drift&codec=vp8`);
    await clickPlay(page);
    assert.deepEqual((await host.next('start-session', TIMEOUT_MS)).codecs, ['VP8', 'H264']);
  });

  test('a second player waits in line with a clear message and is served when the slot frees', async () => {
    const { server, host } = await stack(1);
    const first = await openPage(`${server.httpUrl}/?game=neon-drift`);
    await clickPlay(first);
    const a = await host.next('start-session', TIMEOUT_MS);
    const second = await openPage(`${server.httpUrl}/?game=neon-drift`);
    await clickPlay(second);
    await status(second, 'No free slot right now — you are #1 in line');

    // Events reach the page as bubbling DOM events from <ath-play>.
    const queuedEvent = second.evaluate(
      () =>
        new Promise<string>((resolve) => {
          document.addEventListener('ended', (e) => resolve(e.type), { once: true });
        }),
    );
    await first.locator('ath-play .quit').click();
    assert.equal((await host.next('stop-session', TIMEOUT_MS)).sessionId, a.sessionId);
    const b = await host.next('start-session', TIMEOUT_MS);
    assert.notEqual(b.sessionId, a.sessionId);
    await status(second, 'Starting the stream…');
    await status(first, 'You ended the session.');
    await second.locator('ath-play .quit').click();
    assert.equal(await queuedEvent, 'ended');
  });

  test('a browser that decodes neither H.264 nor VP8 is told so without asking the server', async () => {
    const { server, host } = await stack();
    const context = await browser.newContext();
    cleanups.push(() => context.close());
    await context.addInitScript({
      content: `RTCRtpReceiver.getCapabilities = () => ({ codecs: [{ mimeType: 'video/AV1', clockRate: 90000 }], headerExtensions: [] });`,
    });
    const page = await context.newPage();
    await page.goto(`${server.httpUrl}/?game=neon-drift`);
    await clickPlay(page);
    await status(page, /cannot decode H\.264 or VP8/);
    const error = await page.evaluate(() => window.__athPlayer?.events.find((e) => e.type === 'error')?.data);
    assert.deepEqual((error as { code?: string } | undefined)?.code, 'ATH_ERR_CODEC_UNSUPPORTED');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(host.received.filter((m) => m.type === 'start-session').length, 0);
    assert.equal([...server.hub.sessions()].length, 0);
  });

  test('an error from signaling shows its message (unknown game)', async () => {
    const { server } = await stack();
    const page = await openPage(`${server.httpUrl}/?game=no-such-game`);
    await clickPlay(page);
    await status(page, 'That game is not available right now: no render host serves it.');
    assert.equal(await page.evaluate(() => window.__athPlayer?.state), 'error');
  });

  test('a reload resumes the same session on the same host', async () => {
    const { server, host } = await stack();
    const page = await openPage(`${server.httpUrl}/?game=neon-drift`);
    await clickPlay(page);
    const start = await host.next('start-session', TIMEOUT_MS);
    await status(page, 'Starting the stream…');
    await page.reload();
    const resumed = await host.next('start-session', TIMEOUT_MS);
    assert.equal(resumed.sessionId, start.sessionId);
    assert.equal(resumed.resume, true);
    await status(page, 'Starting the stream…');
    assert.equal(await page.evaluate(() => window.__athPlayer?.sessionId), start.sessionId);
  });

  test('while no picture arrives the player says so (0 fps reports): a host that never streams cannot bill it on its word', async () => {
    const { server, host } = await stack();
    const playerFps: number[] = [];
    cleanups.push(
      server.hub.on('report', (report) => {
        if (report.source === 'player') playerFps.push(report.fpsMilli);
      }),
    );
    const page = await openPage(`${server.httpUrl}/?game=neon-drift`);
    await clickPlay(page);
    const start = await host.next('start-session', TIMEOUT_MS);
    // The hostile host says it streams (its reports would bill the session) and never sends an offer.
    host.send({ type: 'session-started', sessionId: start.sessionId });
    const deadline = Date.now() + TIMEOUT_MS;
    while (playerFps.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    // A player report under the floor is a dispute: the meter holds the billing and calls the checkers.
    assert.deepEqual(playerFps.slice(0, 1), [0], 'the waiting player disputes delivery');
    assert.equal(await page.evaluate(() => window.__athPlayer?.state), 'starting');
  });

  test('signaling going away shows "cannot reach the server" and retries', async () => {
    const server = await startTestSignaling({ clientDir });
    const host = await connectTestHost(server, { slots: 1, games: [NEON_DRIFT] });
    const page = await openPage(`${server.httpUrl}/?game=neon-drift`);
    await status(page, 'Ready. Press Play.');
    host.terminate();
    await server.close();
    await status(page, /Cannot reach the ath-edge server\. .*Retrying…/);
    await page
      .locator('#games-status', { hasText: 'Cannot reach the ath-edge server' })
      .waitFor({ timeout: TIMEOUT_MS });
  });
});
