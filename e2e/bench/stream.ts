/**
 * `npm run bench:stream` — the streaming slice, headless, measured from what Chromium decodes:
 *   firstFrameMsP50      Play click → first decoded frame presented (median of 3 fresh sessions)
 *   decodedFps           frames decoded per second over the run
 *   framesDroppedPct     frames the host's pacer dropped plus frames the browser dropped, over frames produced
 *   inputToPhotonMs*     key sent → presented frame the host's frame mark names as the first with that key
 *   serverCpuPctPerStream  the render host process (all threads) while streaming, % of one core
 *   encodeMs*            the host's encoder, per frame
 * Flags: --seconds N (30), --codec h264|vp8; --startup runs the start-up bench instead (startupBench.ts: the
 * whole `npm start` stack, Play at once, fps in each of the first 5 seconds, CPU by process); --shape 3mbit runs
 * the congestion bench (shapedBench.ts: a link shaped to that rate with 1 % loss, then lifted). The last line
 * printed is one JSON object.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildClient } from '../../client/index.js';
import { startStack } from '../../edge/index.js';
import { machineInfo, percentile, round } from '../../signaling/bench/machine.js';
import { e2eConfig } from '../support/e2eConfig.js';
import { launchChromium } from '../support/launchChromium.js';
import { closePlayer, openPlayer, pressPlay, waitPlaying } from '../support/playerPage.js';

function flag(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

if (process.argv.includes('--shape')) {
  const { runShapedBench } = await import('./shapedBench.js');
  await runShapedBench(process.argv[process.argv.indexOf('--shape') + 1] ?? '3mbit');
  process.exit(0);
}
if (process.argv.includes('--startup')) {
  const { runStartupBench } = await import('./startupBench.js');
  await runStartupBench();
  process.exit(0);
}

const SECONDS = Number(flag('seconds', '30'));
const CODEC = flag('codec', 'h264') === 'vp8' ? 'vp8' : 'h264';
const progress = (line: string) => process.stderr.write(`bench:stream ${line}\n`);

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

type HostSlots = {
  slots: Array<{
    stats: {
      framesSent: number;
      framesDropped: number;
      encodeMsP50: number;
      encodeMsP95: number;
      encoder: string;
      codec: string;
      width: number;
      height: number;
    } | null;
  }>;
};

const dataDir = mkdtempSync(join(tmpdir(), 'ath-bench-stream-'));
const { outDir } = await buildClient({});
progress('starting the stack');
const stack = await startStack({ config: e2eConfig(dataDir), clientDir: outDir });
const host = stack.renderHosts[0];
if (!host?.pid) throw new Error('no render host');
const browser = await launchChromium({ args: ['--autoplay-policy=no-user-gesture-required'] });
const baseUrl = stack.signaling.info.httpUrl;
const query = `codec=${CODEC}`;

try {
  // 1. Time to first frame, on fresh sessions (the first one also warms caches: it is measured too).
  const firstFrames: number[] = [];
  for (let i = 0; i < 3; i++) {
    const page = await openPlayer({ browser, baseUrl, game: 'neon-drift', query });
    await page.evaluate(() => {
      (window as unknown as { __playClickedAt: number }).__playClickedAt = performance.now();
    });
    await pressPlay(page);
    await page.waitForFunction(() => window.__athPlayer?.firstPresentedFrame !== undefined, null, { timeout: 30_000 });
    firstFrames.push(
      await page.evaluate(
        () =>
          (window.__athPlayer?.firstPresentedFrame?.presentedAtMs ?? Number.NaN) -
          (window as unknown as { __playClickedAt: number }).__playClickedAt,
      ),
    );
    await closePlayer(page);
    // Let the slot come free before the next Play.
    await new Promise((resolve) => setTimeout(resolve, 4_000));
  }
  progress(`first frame ms: ${firstFrames.map((ms) => ms.toFixed(0)).join(', ')}`);

  // 2. A long session with input.
  const page = await openPlayer({ browser, baseUrl, game: 'neon-drift', query });
  await pressPlay(page);
  await waitPlaying(page);
  await page.waitForTimeout(2_000);
  await page.locator('ath-play').focus();
  const hostStats = async () =>
    ((await (await fetch(`${host.info.httpUrl}/sessions`)).json()) as HostSlots).slots.find((s) => s.stats)?.stats;
  const before = {
    browser: await page.evaluate(() => window.__athPlayer?.stats),
    host: await hostStats(),
    cpu: cpuSeconds(host.pid),
    wallMs: performance.now(),
    inputs: await page.evaluate(() => window.__athPlayer?.inputToPhoton.length ?? 0),
  };
  progress(`streaming for ${SECONDS} s with a key press every 250 ms`);
  const keys = ['ArrowLeft', 'ArrowUp', 'ArrowRight', 'ArrowDown'];
  const endAt = Date.now() + SECONDS * 1000;
  for (let i = 0; Date.now() < endAt; i++) {
    const key = keys[i % keys.length] ?? 'ArrowLeft';
    await page.keyboard.down(key);
    await page.waitForTimeout(120);
    await page.keyboard.up(key);
    await page.waitForTimeout(130);
  }
  await page.waitForTimeout(1_200);
  const after = {
    browser: await page.evaluate(() => window.__athPlayer?.stats),
    host: await hostStats(),
    cpu: cpuSeconds(host.pid),
    wallMs: performance.now(),
    samples: await page.evaluate(() => window.__athPlayer?.inputToPhoton.map((s) => s.latencyMs) ?? []),
  };
  await closePlayer(page);

  if (!before.browser || !after.browser || !before.host || !after.host) throw new Error('no stats from the stream');
  const seconds = (after.browser.atMs - before.browser.atMs) / 1000;
  const decoded = after.browser.framesDecoded - before.browser.framesDecoded;
  const hostSent = after.host.framesSent - before.host.framesSent;
  const hostDropped = after.host.framesDropped - before.host.framesDropped;
  const browserDropped = after.browser.framesDropped - before.browser.framesDropped;
  const inputToPhoton = after.samples.slice(before.inputs).sort((a, b) => a - b);
  firstFrames.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      bench: 'stream',
      firstFrameMsP50: round(percentile(firstFrames, 50), 0),
      decodedFps: round(decoded / seconds, 1),
      framesDroppedPct: round((100 * (hostDropped + browserDropped)) / Math.max(1, hostSent + hostDropped), 2),
      inputToPhotonMsP50: round(percentile(inputToPhoton, 50), 1),
      inputToPhotonMsP95: round(percentile(inputToPhoton, 95), 1),
      inputSamples: inputToPhoton.length,
      serverCpuPctPerStream: round((100 * (after.cpu - before.cpu)) / ((after.wallMs - before.wallMs) / 1000), 1),
      encodeMsP50: round(after.host.encodeMsP50, 2),
      encodeMsP95: round(after.host.encodeMsP95, 2),
      encoder: after.host.encoder,
      codec: after.host.codec,
      width: after.host.width,
      height: after.host.height,
      seconds: round(seconds, 1),
      machine: machineInfo(),
    }),
  );
} finally {
  await browser.close();
  await stack.close();
}
process.exit(0);
