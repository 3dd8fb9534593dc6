/**
 * One `bench:stream` measurement of the streaming slice against a running stack, from what Chromium decodes: time to
 * first frame over fresh sessions, then one long session with a key press every 250 ms (decoded fps, drops,
 * input→photon from the host's frame marks, the host's CPU and encode times). `npm run bench:stream` runs it once;
 * `-- --relay` runs it on the direct path and through the TURN relay, side by side (relayBench.ts).
 */
import { readFileSync } from 'node:fs';
import type { Browser } from 'playwright';
import type { StatsSample } from '../../client/index.js';
import { percentile, round } from '../../signaling/bench/machine.js';
import { closePlayer, openPlayer, pressPlay, waitPlaying } from '../support/playerPage.js';
import { type ProcessCpuWindow, startProcessCpuWindow } from './processCpu.js';

export type MeasureStreamParameters = {
  browser: Browser;
  /** Signaling's page. */
  baseUrl: string;
  /** The render host's HTTP base (its `/sessions` has the encoder's stats) and process id (CPU). */
  host: { httpUrl: string; pid: number };
  /** Extra page query (`codec=vp8`, `relay=1`). */
  query: string;
  /** Length of the session with input. */
  seconds: number;
  /** Fresh sessions timed to their first frame (median reported). */
  firstFrameSessions?: number;
  /** Labels for processes of the stack (pid → role), for the CPU by process over the long session. */
  processLabels?: ReadonlyMap<number, string>;
  progress?: (line: string) => void;
};

export type StreamMeasurement = {
  firstFrameMsP50: number;
  firstFramesMs: number[];
  decodedFps: number;
  framesDroppedPct: number;
  /** Of the host's drops: frames rendered while the encoder was still busy with the previous one. */
  hostDroppedEncoderBusy: number;
  /** Of the host's drops: ticks its clock missed (the worker's thread was late). */
  hostDroppedLateTicks: number;
  inputToPhotonMsP50: number;
  inputToPhotonMsP95: number;
  inputSamples: number;
  serverCpuPctPerStream: number;
  /** Over the long session: CPU by process (% of one core) and what the rest of the machine used. */
  cpu: ProcessCpuWindow;
  encodeMsP50: number;
  encodeMsP95: number;
  encoder: string;
  codec: string;
  width: number;
  height: number;
  seconds: number;
  /** The selected candidate pair at the end of the long session (relayed or not). */
  route: NonNullable<StatsSample['route']> | null;
};

type HostSlots = {
  slots: Array<{
    stats: {
      framesSent: number;
      framesDropped: number;
      framesDroppedEncoderBusy?: number;
      encodeMsP50: number;
      encodeMsP95: number;
      encoder: string;
      codec: string;
      width: number;
      height: number;
    } | null;
  }>;
};

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export async function measureStream({
  browser,
  baseUrl,
  host,
  query,
  seconds: SECONDS,
  firstFrameSessions = 3,
  processLabels = new Map([[host.pid, 'render-host']]),
  progress = () => {},
}: MeasureStreamParameters): Promise<StreamMeasurement> {
  // 1. Time to first frame, on fresh sessions (the first one also warms caches: it is measured too).
  const firstFrames: number[] = [];
  for (let i = 0; i < firstFrameSessions; i++) {
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
    ((await (await fetch(`${host.httpUrl}/sessions`)).json()) as HostSlots).slots.find((s) => s.stats)?.stats;
  const before = {
    browser: await page.evaluate(() => window.__athPlayer?.stats),
    host: await hostStats(),
    cpu: cpuSeconds(host.pid),
    wallMs: performance.now(),
    inputs: await page.evaluate(() => window.__athPlayer?.inputToPhoton.length ?? 0),
    processes: startProcessCpuWindow(processLabels),
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
    processes: before.processes.end(),
    samples: await page.evaluate(() => window.__athPlayer?.inputToPhoton.map((s) => s.latencyMs) ?? []),
  };
  await closePlayer(page);

  if (!before.browser || !after.browser || !before.host || !after.host) throw new Error('no stats from the stream');
  const seconds = (after.browser.atMs - before.browser.atMs) / 1000;
  const decoded = after.browser.framesDecoded - before.browser.framesDecoded;
  const hostSent = after.host.framesSent - before.host.framesSent;
  const hostDropped = after.host.framesDropped - before.host.framesDropped;
  const hostDroppedBusy = (after.host.framesDroppedEncoderBusy ?? 0) - (before.host.framesDroppedEncoderBusy ?? 0);
  const browserDropped = after.browser.framesDropped - before.browser.framesDropped;
  const inputToPhoton = after.samples.slice(before.inputs).sort((a, b) => a - b);
  const sortedFirstFrames = [...firstFrames].sort((a, b) => a - b);
  return {
    firstFrameMsP50: round(percentile(sortedFirstFrames, 50), 0),
    firstFramesMs: firstFrames.map((ms) => round(ms, 0)),
    decodedFps: round(decoded / seconds, 1),
    framesDroppedPct: round((100 * (hostDropped + browserDropped)) / Math.max(1, hostSent + hostDropped), 2),
    hostDroppedEncoderBusy: hostDroppedBusy,
    hostDroppedLateTicks: hostDropped - hostDroppedBusy,
    inputToPhotonMsP50: round(percentile(inputToPhoton, 50), 1),
    inputToPhotonMsP95: round(percentile(inputToPhoton, 95), 1),
    inputSamples: inputToPhoton.length,
    serverCpuPctPerStream: round((100 * (after.cpu - before.cpu)) / ((after.wallMs - before.wallMs) / 1000), 1),
    cpu: after.processes,
    encodeMsP50: round(after.host.encodeMsP50, 2),
    encodeMsP95: round(after.host.encodeMsP95, 2),
    encoder: after.host.encoder,
    codec: after.host.codec,
    width: after.host.width,
    height: after.host.height,
    seconds: round(seconds, 1),
    route: after.browser.route ?? null,
  };
}
