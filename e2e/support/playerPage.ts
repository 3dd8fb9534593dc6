/**
 * Driving the real play page in Chromium: open it for a game, press Play, wait for the stream, and read
 * what the browser decoded (through the SDK's diagnostics, `window.__athPlayer`).
 */
import type { Browser, BrowserContextOptions, Page } from 'playwright';
import type { StatsSample } from '../../client/index.js';

export const E2E_TIMEOUT_MS = 30_000;

export type OpenPlayerParameters = {
  browser: Browser;
  baseUrl: string;
  game: string;
  query?: string;
  /** Another device than the default desktop window (e.g. a phone with touch). */
  context?: BrowserContextOptions;
};

export async function openPlayer({
  browser,
  baseUrl,
  game,
  query = '',
  context: device,
}: OpenPlayerParameters): Promise<Page> {
  const context = await browser.newContext(device ?? { viewport: { width: 1366, height: 860 } });
  const page = await context.newPage();
  await page.goto(`${baseUrl}/?game=${game}${query ? `&${query}` : ''}`);
  await page.locator('ath-play button.play').waitFor({ timeout: E2E_TIMEOUT_MS });
  return page;
}

export async function pressPlay(page: Page): Promise<void> {
  await page.locator('ath-play button.play').click();
}

/** Waits for the stream; when it never comes, the error says where the page stood (a flake is then a lead). */
export async function waitPlaying(page: Page): Promise<void> {
  try {
    await page.waitForFunction(() => window.__athPlayer?.state === 'playing', null, { timeout: E2E_TIMEOUT_MS });
  } catch (error) {
    const where = await page
      .evaluate(() => ({
        state: window.__athPlayer?.state,
        sessionId: window.__athPlayer?.sessionId,
        status: document.querySelector('ath-play')?.shadowRoot?.querySelector('.status')?.textContent,
      }))
      .catch(() => ({}));
    throw new Error(`the page never reached 'playing': ${JSON.stringify(where)}`, { cause: error });
  }
}

export async function statusText(page: Page): Promise<string> {
  return (await page.locator('ath-play .status').textContent()) ?? '';
}

export async function waitStatus(page: Page, text: string | RegExp): Promise<void> {
  await page.locator('ath-play .status', { hasText: text }).waitFor({ timeout: E2E_TIMEOUT_MS });
}

/** Straight from RTCPeerConnection.getStats (via the SDK's sampler), once a second. */
export async function stats(page: Page): Promise<StatsSample | undefined> {
  return page.evaluate(() => window.__athPlayer?.stats);
}

export async function sessionId(page: Page): Promise<string | undefined> {
  return page.evaluate(() => window.__athPlayer?.sessionId);
}

/** Waits until the stats sampler has produced a sample newer than `afterMs` (page clock). */
export async function nextStats(page: Page, afterMs: number): Promise<StatsSample> {
  await page.waitForFunction((t) => (window.__athPlayer?.stats?.atMs ?? 0) > t, afterMs, { timeout: E2E_TIMEOUT_MS });
  const sample = await stats(page);
  if (!sample) throw new Error('no stats');
  return sample;
}

/**
 * Where the ship is, from the decoded picture alone: the centroid of its light-cyan outline (#b8fbff: blue ≥
 * green, unlike the green orbs) in a 640×360 copy of the current video frame, inside the arena border and
 * below the HUD band.
 */
export async function shipCentroid(page: Page): Promise<{ x: number; y: number; pixels: number }> {
  return page.evaluate(() => {
    const video = document.querySelector('ath-play')?.shadowRoot?.querySelector('video');
    if (!video) throw new Error('no video element');
    const canvas = document.createElement('canvas');
    canvas.width = 640;
    canvas.height = 360;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new Error('no 2d context');
    ctx.drawImage(video, 0, 0, 640, 360);
    const { data } = ctx.getImageData(0, 0, 640, 360);
    let sx = 0;
    let sy = 0;
    let n = 0;
    for (let y = 32; y < 344; y++) {
      for (let x = 16; x < 624; x++) {
        const o = (y * 640 + x) * 4;
        const r = data[o] ?? 0;
        const g = data[o + 1] ?? 0;
        const b = data[o + 2] ?? 0;
        if (b > 170 && g > 150 && b >= g - 5 && r < 200) {
          sx += x;
          sy += y;
          n++;
        }
      }
    }
    return { x: n ? (sx / n) * 2 : Number.NaN, y: n ? (sy / n) * 2 : Number.NaN, pixels: n };
  });
}

/**
 * The player leaves as a player closing the tab does: the page unloads first (the browser closes its signaling
 * socket with a close frame, so signaling holds the session only for the reload grace, 3 s), then its context
 * closes. Tearing the context down straight away can kill the renderer before unload on a loaded box (seen in a
 * 1.2-CPU cgroup: 'closing the tab frees the slot within 5 s' failed, the session held for the reconnect window,
 * 30 s — its host kept the slot, and the next test waited on it); e2e/bench/startupBench.ts saw the same.
 */
export async function closePlayer(page: Page): Promise<void> {
  if (!page.isClosed()) await page.goto('about:blank').catch(() => undefined);
  await page.context().close();
}

/** The ship's position once it is drawn (it blinks while invulnerable, right after a start or a hit). */
export async function visibleShip(page: Page, timeoutMs = 5_000): Promise<{ x: number; y: number; pixels: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ship = await shipCentroid(page);
    if (ship.pixels >= 20) return ship;
    if (Date.now() > deadline) throw new Error('the ship never showed in the decoded video');
    await page.waitForTimeout(50);
  }
}
