/**
 * PresentedFrameWatcher in real Chromium: a canvas animation goes through a loopback WebRTC connection in the
 * page (two RTCPeerConnections) into a `<video>`; the watcher must report every presented frame with the RTP
 * timestamp from requestVideoFrameCallback's metadata — what the frame marks are matched against.
 */
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright';
import { launchChromium } from '../../../e2e/support/launchChromium.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ORIGIN = 'http://ath-presented-frames.test';

let browser: Browser;
let script: string;

before(async () => {
  const bundle = await build({
    stdin: {
      contents: `
        import { PresentedFrameWatcher } from './PresentedFrameWatcher.js';
        window.startLoopback = async () => {
          const canvas = document.createElement('canvas');
          canvas.width = 320;
          canvas.height = 180;
          const ctx = canvas.getContext('2d');
          let n = 0;
          const draw = () => {
            n++;
            ctx.fillStyle = 'rgb(' + (n * 7) % 255 + ', 90, 160)';
            ctx.fillRect(0, 0, 320, 180);
            requestAnimationFrame(draw);
          };
          draw();
          const a = new RTCPeerConnection();
          const b = new RTCPeerConnection();
          a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
          b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
          const video = document.createElement('video');
          video.muted = true;
          document.body.append(video);
          b.ontrack = (e) => { video.srcObject = new MediaStream([e.track]); video.play(); };
          for (const track of canvas.captureStream(30).getTracks()) a.addTrack(track);
          await a.setLocalDescription();
          await b.setRemoteDescription(a.localDescription);
          await b.setLocalDescription();
          await a.setRemoteDescription(b.localDescription);
          window.frames = [];
          new PresentedFrameWatcher({ video, onFrame: (frame) => window.frames.push(frame) });
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

type Frame = { rtpTimestamp: number | undefined; presentedAtMs: number; receivedAtMs: number | undefined };

async function loopbackPage(): Promise<Page> {
  const page = await browser.newPage();
  await page.route(`${ORIGIN}/**`, (route) =>
    route.fulfill({ contentType: 'text/html', body: `<!doctype html><body><script>${script}</script></body>` }),
  );
  await page.goto(`${ORIGIN}/`);
  await page.evaluate(() => (window as unknown as { startLoopback(): Promise<void> }).startLoopback());
  return page;
}

describe('PresentedFrameWatcher', () => {
  test('reports each presented WebRTC frame with its RTP timestamp, in order', async () => {
    const page = await loopbackPage();
    try {
      await page.waitForFunction(() => ((window as unknown as { frames: Frame[] }).frames?.length ?? 0) >= 20, null, {
        timeout: 15_000,
      });
      const frames = await page.evaluate(() => (window as unknown as { frames: Frame[] }).frames);
      for (const frame of frames) assert.equal(typeof frame.rtpTimestamp, 'number', 'rtpTimestamp from metadata');
      for (let i = 1; i < frames.length; i++) {
        const a = frames[i - 1] as Frame;
        const b = frames[i] as Frame;
        assert.ok((((b.rtpTimestamp ?? 0) - (a.rtpTimestamp ?? 0)) | 0) > 0, 'RTP timestamps advance');
        assert.ok(b.presentedAtMs >= a.presentedAtMs, 'presentation times advance');
      }
    } finally {
      await page.close();
    }
  });
});
