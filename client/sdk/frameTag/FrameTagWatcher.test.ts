/**
 * FrameTagWatcher in real Chromium: a canvas draws the protocol's frame tag (`drawFrameTag`) into every
 * frame, a `<video>` plays the canvas's captureStream, and the watcher must read the tags back — at the
 * reference width (1280) and scaled (640).
 */
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright';
import { launchChromium } from '../../../e2e/support/launchChromium.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ORIGIN = 'http://ath-frame-tag.test';

let browser: Browser;
let script: string;

before(async () => {
  const bundle = await build({
    stdin: {
      contents: `
        import { FrameTagWatcher } from './FrameTagWatcher.js';
        import { drawFrameTag } from '../../../signaling/protocol/index.js';
        window.startTagged = async (width, height) => {
          const canvas = document.createElement('canvas');
          canvas.width = width;
          canvas.height = height;
          const ctx = canvas.getContext('2d');
          const strip = ctx.createImageData(width, Math.ceil((24 * width) / 1280));
          let frame = 0;
          const draw = () => {
            frame++;
            ctx.fillStyle = 'rgb(' + (frame * 7) % 255 + ', 90, 160)';
            ctx.fillRect(0, 0, width, height);
            drawFrameTag({ data: strip.data, width, height: strip.height }, { frame, inputSeq: frame * 2 });
            ctx.putImageData(strip, 0, 0);
            requestAnimationFrame(draw);
          };
          draw();
          const video = document.createElement('video');
          video.muted = true;
          document.body.append(video);
          video.srcObject = canvas.captureStream(30);
          await video.play();
          window.tags = [];
          window.frames = 0;
          new FrameTagWatcher({ video, onTag: (tag) => window.tags.push(tag), onFrame: () => window.frames++ });
        };`,
      resolveDir: HERE,
      loader: 'ts',
    },
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
  });
  script = bundle.outputFiles[0]?.text ?? '';
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

async function taggedPage(width: number, height: number): Promise<Page> {
  const page = await browser.newPage();
  await page.route(`${ORIGIN}/**`, (route) =>
    route.fulfill({ contentType: 'text/html', body: `<!doctype html><body><script>${script}</script></body>` }),
  );
  await page.goto(`${ORIGIN}/`);
  await page.evaluate(
    ([w, h]) => (window as unknown as { startTagged(w: number, h: number): Promise<void> }).startTagged(w ?? 0, h ?? 0),
    [width, height],
  );
  return page;
}

type Seen = { tags: Array<{ frame: number; inputSeq: number; presentedAtMs: number }>; frames: number };

async function seen(page: Page): Promise<Seen> {
  await page.waitForFunction(() => ((window as unknown as Seen).tags?.length ?? 0) >= 10, undefined, {
    timeout: 10_000,
  });
  return page.evaluate(() => ({ tags: (window as unknown as Seen).tags, frames: (window as unknown as Seen).frames }));
}

describe('FrameTagWatcher', () => {
  for (const [width, height] of [
    [1280, 720],
    [640, 360],
  ] as const) {
    test(`reads the tag of presented frames at ${width}×${height}`, async () => {
      const page = await taggedPage(width, height);
      try {
        const { tags, frames } = await seen(page);
        assert.ok(tags.length >= 10);
        // Most presented frames carry a readable tag (the first may predate the first draw).
        assert.ok(tags.length >= frames * 0.8, `${tags.length} tags of ${frames} frames`);
        for (const tag of tags) assert.equal(tag.inputSeq, tag.frame * 2);
        for (let i = 1; i < tags.length; i++) {
          assert.ok((tags[i]?.frame ?? 0) > (tags[i - 1]?.frame ?? 0), 'frames increase');
          assert.ok((tags[i]?.presentedAtMs ?? 0) >= (tags[i - 1]?.presentedAtMs ?? 0), 'presentation times increase');
        }
      } finally {
        await page.close();
      }
    });
  }
});
