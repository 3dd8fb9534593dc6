/**
 * `npm start -- --tls` end to end (issue 15): the stack makes a self-signed pair in its data dir, signaling serves
 * the page and its API over https and the signaling WebSocket over wss, the render host (its own process) joins over
 * https/wss trusting that certificate and serves its probe over wss. Chromium opens the page over https — the test
 * accepts the self-signed certificate with Playwright's `ignoreHTTPSErrors` on the browser context, as a person
 * clicks through the warning — and plays in a secure context, its signaling on wss.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright';
import { buildClient } from '../../client/index.js';
import { type Stack, startStack } from '../../edge/index.js';
import { e2eConfig } from '../support/e2eConfig.js';
import { launchChromium } from '../support/launchChromium.js';
import { closePlayer, E2E_TIMEOUT_MS, nextStats, pressPlay, waitPlaying } from '../support/playerPage.js';

describe('npm start --tls: a player over https and wss', { timeout: 240_000 }, () => {
  let stack: Stack;
  let browser: Browser;

  before(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ath-tls-e2e-'));
    const base = e2eConfig(dataDir);
    // Chromium starts while the client builds and the stack comes up (it needs neither).
    const launched = launchChromium({ args: ['--autoplay-policy=no-user-gesture-required'] });
    launched.catch(() => undefined);
    try {
      const { outDir } = await buildClient({});
      stack = await startStack({
        config: {
          ...base,
          tls: { ...base.tls, selfSigned: true },
          renderHost: { ...base.renderHost, apps: [] },
          stack: { renderHosts: 1, checkers: 0 },
        },
        clientDir: outDir,
      });
    } finally {
      browser = await launched;
    }
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  test('the stack serves https and wss with a pair it made; its nodes joined over wss', () => {
    assert.equal(stack.config.tls.certFile, join(stack.config.dataDir, 'tls', 'cert.pem'));
    assert.equal(stack.config.tls.caFile, stack.config.tls.certFile, 'the nodes trust the self-signed certificate');
    assert.match(stack.signaling.info.httpUrl, /^https:\/\//);
    assert.match(stack.signaling.info.wsPlayerUrl, /^wss:\/\//);
    const [host] = stack.renderHosts;
    assert.ok(host, 'the render host registered over wss (it would not have started otherwise)');
    assert.match(host.info.probeUrl, /^wss:\/\//, 'probe URLs follow the scheme');
  });

  test('Chromium plays from the https page, in a secure context, signaling over wss', async () => {
    const sockets: string[] = [];
    // The page opens its signaling WebSocket as it loads: listen before it navigates (openPlayer's steps, in order).
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 860 } });
    const page = await context.newPage();
    page.on('websocket', (socket) => sockets.push(socket.url()));
    try {
      await page.goto(`${stack.signaling.info.httpUrl}/?game=neon-drift`);
      await page.locator('ath-play button.play').waitFor({ timeout: E2E_TIMEOUT_MS });
      assert.match(page.url(), /^https:\/\//);
      assert.equal(await page.evaluate(() => window.isSecureContext), true);
      await pressPlay(page);
      await waitPlaying(page);
      // It plays: frames keep decoding (no rate asserted here: the streaming scenarios hold the fps floors).
      const first = await nextStats(page, 0);
      await page.waitForFunction(
        (from) => (window.__athPlayer?.stats?.framesDecoded ?? 0) >= from + 60,
        first.framesDecoded,
        { timeout: 30_000 },
      );
      const last = await nextStats(page, first.atMs);
      const fps = (last.framesDecoded - first.framesDecoded) / ((last.atMs - first.atMs) / 1000);
      console.log(`# ${fps.toFixed(1)} fps decoded over an https page; sockets ${JSON.stringify(sockets)}`);
      assert.ok(
        sockets.some((url) => url.startsWith('wss://') && url.endsWith('/ws/player')),
        `signaling over wss: ${sockets.join(', ')}`,
      );
      assert.ok(!sockets.some((url) => url.startsWith('ws://')), 'no plain ws from the https page');
    } finally {
      await closePlayer(page);
    }
  });
});
