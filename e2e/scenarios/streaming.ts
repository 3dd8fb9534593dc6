/**
 * The streaming slice end to end (issue 2): a real Chromium plays Neon Drift from a real render host through
 * real signaling; everything is read from what the browser decoded.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright';
import type { Stack } from '../../edge/index.js';
import {
  closePlayer,
  nextStats,
  openPlayer,
  pressPlay,
  sessionId,
  stats,
  visibleShip,
  waitPlaying,
  waitStatus,
} from '../support/playerPage.js';
import { sharedBrowser } from '../support/sharedBrowser.js';
import { sharedStack } from '../support/sharedStack.js';
import { assertStreamFlows, watchStream } from '../support/streamLiveness.js';

type PublicHost = { hostId: string; freeSlots: number; slots: number };

async function hosts(stack: Stack): Promise<PublicHost[]> {
  const response = await fetch(`${stack.signaling.info.httpUrl}/api/hosts`);
  return ((await response.json()) as { hosts: PublicHost[] }).hosts;
}

async function freeSlots(stack: Stack, hostId: string): Promise<number> {
  return (await hosts(stack)).find((h) => h.hostId === hostId)?.freeSlots ?? -1;
}

async function waitUntil(predicate: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!(await predicate())) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return Date.now() - started;
}

/**
 * How long a test waits, before it starts, for the previous test's sessions to free both slots (a precondition,
 * not a check: each closed tab's session is held for the reload grace, 3 s, and the previous test may close
 * three). 10 s ran out once in a 1.2-CPU cgroup (CI is ~2x slower than this box) at box load 12–20.
 */
const SLOTS_FREED_MS = 30_000;

describe('streaming slice', () => {
  let stack: Stack;
  let browser: Browser;
  let baseUrl: string;
  let hostId: string;

  before(async () => {
    stack = await sharedStack();
    browser = await sharedBrowser();
    baseUrl = stack.signaling.info.httpUrl;
    hostId = stack.renderHosts[0]?.info.hostId ?? '';
    await waitUntil(async () => (await freeSlots(stack, hostId)) === 2, 15_000);
  });

  test('Play → H.264 1280×720 frames decode in every second of a 5 s window, and Opus packets arrive', async () => {
    const page = await openPlayer({ browser, baseUrl, game: 'neon-drift' });
    try {
      await pressPlay(page);
      await waitPlaying(page);
      const window = await watchStream(page, 5);
      assertStreamFlows({ window, codec: 'H264', width: 1280, height: 720, audio: true, label: 'H.264 720p' });
    } finally {
      await closePlayer(page);
    }
  });

  test('a key press changes the game visibly in the decoded frames', async () => {
    const page = await openPlayer({ browser, baseUrl, game: 'neon-drift' });
    try {
      await pressPlay(page);
      await waitPlaying(page);
      await page.waitForTimeout(500);
      assert.ok(await page.locator('ath-play .touchpad').isHidden(), 'no on-screen gamepad on a desktop window');
      const before = await visibleShip(page);
      await page.locator('ath-play').focus();
      await page.keyboard.down('ArrowLeft');
      await page.waitForTimeout(900);
      await page.keyboard.up('ArrowLeft');
      // The host's frame mark, matched with a presented frame by RTP timestamp, proves the host applied that
      // very input before rendering what we see …
      await page.waitForFunction(
        () => (window.__athPlayer?.lastFrameMark?.inputSeq ?? 0) >= (window.__athPlayer?.inputSeq ?? 1),
        null,
        { timeout: 10_000 },
      );
      // … and the picture shows it: the ship moved left.
      const after = await visibleShip(page);
      assert.ok(after.x < before.x - 40, `ship x ${before.x.toFixed(0)} → ${after.x.toFixed(0)}`);
      // Measured, not drawn: input→photon samples exist and reach the stats overlay.
      const samples = await page.evaluate(() => window.__athPlayer?.inputToPhoton.map((s) => s.latencyMs) ?? []);
      assert.ok(samples.length >= 1, 'input→photon samples');
      assert.ok(
        samples.every((ms) => ms > 0 && ms < 5_000),
        `samples ${samples.join(', ')}`,
      );
      await page.waitForFunction(() => window.__athPlayer?.stats?.inputToPhotonMs !== undefined, null, {
        timeout: 5_000,
      });
    } finally {
      await closePlayer(page);
    }
  });

  test('on a phone with touch, the on-screen gamepad drives the game like the keyboard', async () => {
    const page = await openPlayer({
      browser,
      baseUrl,
      game: 'neon-drift',
      context: { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2 },
    });
    try {
      const touchpad = page.locator('ath-play .touchpad');
      assert.ok(await touchpad.isHidden(), 'no gamepad before the stream');
      await pressPlay(page);
      await waitPlaying(page);
      await touchpad.waitFor({ state: 'visible', timeout: 5_000 });
      await page.waitForTimeout(500);
      const before = await visibleShip(page);
      // Hold ◀ with a finger for 0.9 s (a real touch sequence through the DevTools protocol).
      const box = await page.locator('ath-play .touchpad .left').boundingBox();
      assert.ok(box, 'the ◀ button has a box');
      const point = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [point] });
      await page.waitForTimeout(900);
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
      // Down and up went out as key inputs, and the host applied them …
      await page.waitForFunction(
        () => (window.__athPlayer?.inputSeq ?? 0) >= 2 && (window.__athPlayer?.lastFrameMark?.inputSeq ?? 0) >= 2,
        null,
        { timeout: 10_000 },
      );
      // … as the keyboard's ArrowLeft: the ship moved left.
      const after = await visibleShip(page);
      assert.ok(after.x < before.x - 40, `ship x ${before.x.toFixed(0)} → ${after.x.toFixed(0)}`);
    } finally {
      await closePlayer(page);
    }
  });

  for (const [quality, width, height, fps] of [
    ['high', 1920, 1080, 60],
    ['smooth', 1280, 720, 120],
  ] as const) {
    test(`quality=${quality}: Neon Drift streams at ${width}×${height}, ${fps} fps, and Chromium decodes it`, async () => {
      const page = await openPlayer({ browser, baseUrl, game: 'neon-drift', query: `quality=${quality}` });
      try {
        await pressPlay(page);
        await waitPlaying(page);
        // The host states what it encodes …
        await page.waitForFunction(() => window.__athPlayer?.streamInfo !== undefined, null, { timeout: 10_000 });
        const info = await page.evaluate(() => window.__athPlayer?.streamInfo);
        assert.deepEqual([info?.width, info?.height, info?.fps], [width, height, fps]);
        // … and the browser decodes frames of that size, and keeps decoding (the rate is the bench's business:
        // 1080p60 from a canvas does not fit this 2-core box).
        const first = await nextStats(page, 0);
        const later = await nextStats(page, first.atMs + 3_000);
        assert.deepEqual([later.width, later.height], [width, height]);
        assert.ok(later.framesDecoded > first.framesDecoded, 'frames keep decoding');
      } finally {
        await closePlayer(page);
      }
    });
  }

  test('nothing is drawn over the game: the top-left corner carries no frame tag', async () => {
    const page = await openPlayer({ browser, baseUrl, game: 'neon-drift' });
    try {
      await pressPlay(page);
      await waitPlaying(page);
      await page.waitForTimeout(500);
      // The old tag was 480×24 px of black and white 12 px blocks, about half of them white: count the
      // near-white pixels of that strip (the game's own HUD text there is thin).
      const whiteFraction = await page.evaluate(() => {
        const video = document.querySelector('ath-play')?.shadowRoot?.querySelector('video');
        if (!video) throw new Error('no video element');
        const canvas = document.createElement('canvas');
        canvas.width = 480;
        canvas.height = 24;
        const ctx = canvas.getContext('2d', { willReadFrequently: true });
        if (!ctx) throw new Error('no 2d context');
        ctx.drawImage(video, 0, 0, 480, 24, 0, 0, 480, 24);
        const { data } = ctx.getImageData(0, 0, 480, 24);
        let white = 0;
        for (let o = 0; o < data.length; o += 4) {
          if ((data[o] ?? 0) > 200 && (data[o + 1] ?? 0) > 200 && (data[o + 2] ?? 0) > 200) white++;
        }
        return white / (480 * 24);
      });
      assert.ok(whiteFraction < 0.2, `${(whiteFraction * 100).toFixed(1)} % of the corner is white`);
    } finally {
      await closePlayer(page);
    }
  });

  test('a second player gets the second slot; a third is told there is no free slot', async () => {
    await waitUntil(async () => (await freeSlots(stack, hostId)) === 2, SLOTS_FREED_MS);
    // The three pages load before anyone plays. On a box half as fast as ours (CI), two 720p60 streams take the
    // whole CPU: a page loading under them took 20 s (play.js served in 13 s), and past 30 s the two players'
    // own delivery disputes (they decode < 20 fps there; this stack runs no checker to settle them) end their
    // sessions — the third then got a freed slot instead of the refusal.
    const pages = [];
    try {
      for (let i = 0; i < 3; i++) pages.push(await openPlayer({ browser, baseUrl, game: 'neon-drift' }));
      const [one, two, third] = pages as [Page, Page, Page];
      for (const page of [one, two]) {
        await pressPlay(page);
        await waitPlaying(page);
      }
      const ids = await Promise.all([one, two].map((page) => sessionId(page)));
      assert.notEqual(ids[0], ids[1]);
      assert.equal(await freeSlots(stack, hostId), 0);
      await pressPlay(third);
      await waitStatus(third, 'No free slot right now');
    } finally {
      for (const page of pages) await closePlayer(page);
    }
  });

  test('closing the tab frees the slot within 5 s', async () => {
    await waitUntil(async () => (await freeSlots(stack, hostId)) === 2, SLOTS_FREED_MS);
    const page = await openPlayer({ browser, baseUrl, game: 'neon-drift' });
    await pressPlay(page);
    await waitPlaying(page);
    assert.equal(await freeSlots(stack, hostId), 1);
    await closePlayer(page);
    const tookMs = await waitUntil(async () => (await freeSlots(stack, hostId)) === 2, 5_000);
    assert.ok(tookMs <= 5_000);
  });

  test('VP8 negotiates when the browser prefers it', async () => {
    const page = await openPlayer({ browser, baseUrl, game: 'neon-drift', query: 'codec=vp8' });
    try {
      await pressPlay(page);
      await waitPlaying(page);
      const first = await nextStats(page, 0);
      const later = await nextStats(page, first.atMs + 1_500);
      assert.equal(later.codec, 'VP8');
      assert.ok(later.framesDecoded > first.framesDecoded, 'VP8 frames decode');
      assert.equal((await stats(page))?.width, 1280);
    } finally {
      await closePlayer(page);
    }
  });
});
