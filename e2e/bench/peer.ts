/**
 * `npm run bench:peer`: ath-edge's sender against GStreamer's, side by side, in one run. The same recorded 720p60
 * raw clip of Neon Drift (recordClip.ts) is sent
 *   (a) by ath-edge's encode + werift path (peer/athSender.ts: the render host's SessionPipeline), and
 *   (b) by GStreamer webrtcbin + x264enc (peer/gstSender.py; Debian's gstreamer1.0-plugins-bad/-ugly, -nice,
 *       python3-gi, gir1.2-gst-plugins-bad-1.0),
 * each with the same x264 recipe (ultrafast, zerolatency, constrained baseline, 1 thread, 4 Mbit/s, 100 ms VBV,
 * keyframe every 30 s), each received in turn by the same Debian Chromium over loopback. For each, over a
 * measured window after a warm-up:
 *   senderCpuPct      the sender process (all its threads), % of one core
 *   senderCpuMsPerFrame  the same CPU per frame the sender sent in the window (a loaded box drops frames on both
 *                     sides: this stays comparable when the % does not), with framesSent; mainThreadCpuMsPerFrame
 *                     the main thread's share of it
 *   sendToDisplayMs*  frame handed to the network (Unix ms, recorded by the sender per RTP timestamp) →
 *                     frame presented (requestVideoFrameCallback, matched by its rtpTimestamp), p50 / p95
 *   decodedFps        Chromium's framesDecoded over the window
 *   gcCount, gcPauseMs  (ath-edge only) V8 garbage collections in the sender's main thread over the window
 *   threadsCpuMsPerFrame  the same CPU per frame split by thread, busiest first: `main`, then each other thread by
 *                     its name (`name#2`… when names repeat; on Node 20 libuv's pool and V8's helpers are all
 *                     `node`; x264 runs on the main thread since 2026-12-07, on the pool before)
 * and the ratios ath-edge / GStreamer (goal: CPU ≤ 0.9, send→display ≤ 0.5). Flags: --seconds N (15),
 * --profile DIR (a V8 CPU profile of the ath-edge sender, written into DIR), --only ath-edge|gstreamer (one
 * sender, no ratios: for A/B runs of one side).
 * The last line printed is one JSON object.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright';
import { machineInfo, percentile, round } from '../../signaling/bench/machine.js';
import { launchChromium } from '../support/launchChromium.js';
import { recordClip } from './peer/recordClip.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const secondsIndex = process.argv.indexOf('--seconds');
const SECONDS = secondsIndex >= 0 ? Number(process.argv[secondsIndex + 1]) : 15;
/** `--profile DIR`: a V8 CPU profile of the ath-edge sender process into DIR (where its CPU goes). */
const profileIndex = process.argv.indexOf('--profile');
const profileArgs = profileIndex >= 0 ? ['--cpu-prof', '--cpu-prof-dir', process.argv[profileIndex + 1] ?? '.'] : [];
const onlyIndex = process.argv.indexOf('--only');
const ONLY = onlyIndex >= 0 ? process.argv[onlyIndex + 1] : undefined;
if (ONLY !== undefined && ONLY !== 'ath-edge' && ONLY !== 'gstreamer') {
  throw new Error(`--only takes ath-edge or gstreamer, not ${ONLY}`);
}
const WARMUP_SECONDS = 3;
const CLIP_FRAMES = 120;
const BITRATE_BPS = 4_000_000;
const KEYFRAME_INTERVAL = 60 * 30;
const progress = (line: string) => process.stderr.write(`bench:peer ${line}\n`);

/** The receiving page: answers the sender's offer, trickles ICE both ways, records presented frames. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>bench:peer</title><video id="v" muted autoplay playsinline></video>
<script>
window.presented = [];
window.remoteCandidates = [];
let pc;
window.addRemoteCandidate = (c) => { if (pc && pc.remoteDescription) pc.addIceCandidate(c).catch(() => {}); else window.remoteCandidates.push(c); };
window.start = async () => {
  pc = new RTCPeerConnection();
  window.pc = pc;
  const video = document.getElementById('v');
  pc.ontrack = (e) => { if (e.track.kind === 'video') { video.srcObject = new MediaStream([e.track]); video.play(); } };
  pc.onicecandidate = (e) => { if (e.candidate) window.hostIce(e.candidate.toJSON()); };
  await pc.setRemoteDescription({ type: 'offer', sdp: await window.hostOffer() });
  for (const c of window.remoteCandidates.splice(0)) await pc.addIceCandidate(c).catch(() => {});
  const answer = await pc.createAnswer();
  const level = /profile-level-id=(42e0[0-9a-f]{2})/i.exec(pc.remoteDescription.sdp);
  const sdp = level ? answer.sdp.replace(/profile-level-id=42e0[0-9a-f]{2}/gi, 'profile-level-id=' + level[1]) : answer.sdp;
  await pc.setLocalDescription({ type: 'answer', sdp });
  await window.hostAnswer(pc.localDescription.sdp);
  const onFrame = (now, meta) => {
    if (meta.rtpTimestamp !== undefined) window.presented.push([meta.rtpTimestamp >>> 0, performance.timeOrigin + meta.presentationTime]);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
};
window.framesDecoded = async () => {
  let n = 0;
  (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') n = s.framesDecoded; });
  return n;
};
</script>`;

/** CPU seconds (user + system) of a process, all its threads — or of one thread: `/proc/<pid>/task/<tid>/stat`. */
function cpuSeconds(pid: number, tid?: number): number {
  const path = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
  const fields = readFileSync(path, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds of each thread of a process now, by thread id, with its name (`comm`). */
function threadCpuSeconds(pid: number): Map<number, { name: string; cpuSec: number }> {
  const threads = new Map<number, { name: string; cpuSec: number }>();
  for (const entry of readdirSync(`/proc/${pid}/task`)) {
    const tid = Number(entry);
    try {
      const name = tid === pid ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      threads.set(tid, { name, cpuSec: cpuSeconds(pid, tid) });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return threads;
}

/** CPU ms per frame of each thread that worked in a window, busiest first (`name`, `name#2`… when names repeat). */
function cpuByThread(
  before: Map<number, { name: string; cpuSec: number }>,
  after: Map<number, { name: string; cpuSec: number }>,
  frames: number,
): Record<string, number> {
  const worked = [...after]
    .map(([tid, { name, cpuSec }]) => ({ name, ms: 1000 * (cpuSec - (before.get(tid)?.cpuSec ?? 0)) }))
    .filter(({ ms }) => ms > 0)
    .sort((a, b) => b.ms - a.ms);
  const seen = new Map<string, number>();
  const result: Record<string, number> = {};
  for (const { name, ms } of worked) {
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    result[n > 1 ? `${name}#${n}` : name] = round(ms / Math.max(1, frames), 2);
  }
  return result;
}

type SenderResult = {
  senderCpuPct: number;
  /** Sender CPU (all threads) per frame it sent in the window, ms: steadier than the % on a loaded box. */
  senderCpuMsPerFrame: number;
  /**
   * The same for the sender's main thread alone (ath-edge: the JavaScript — clock, colour conversion, werift's
   * packetizing, SRTP and sends, RTCP — and, since 2026-12-07, x264 itself; GStreamer: python's main loop only).
   */
  mainThreadCpuMsPerFrame: number;
  framesSent: number;
  /** CPU ms per frame by thread (see the header). */
  threadsCpuMsPerFrame: Record<string, number>;
  sendToDisplayMsP50: number;
  sendToDisplayMsP95: number;
  decodedFps: number;
  matchedFrames: number;
  /** GC pauses of the sender's main thread in the window (ath-edge only: GStreamer has no GC). */
  gcCount?: number;
  gcPauseMs?: number;
};

async function measure(name: string, child: ChildProcessWithoutNullStreams, browser: Browser): Promise<SenderResult> {
  const page = await browser.newPage();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let resolveOffer: (sdp: string) => void = () => undefined;
  const offer = new Promise<string>((resolve, reject) => {
    resolveOffer = resolve;
    void exited.then(() => reject(new Error(`${name} sender exited: ${stderr}`)));
  });
  type Sent = { frames: Array<[number, number]>; gcPauses?: Array<[number, number]> };
  let resolveSent: (sent: Sent) => void = () => undefined;
  const sentFrames = new Promise<Sent>((resolve) => {
    resolveSent = resolve;
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const message = JSON.parse(line) as {
      type: string;
      sdp?: string;
      candidate?: unknown;
      frames?: [number, number][];
      gcPauses?: [number, number][];
    };
    if (message.type === 'offer' && message.sdp) resolveOffer(message.sdp);
    else if (message.type === 'ice' && message.candidate) {
      void page.evaluate(`window.addRemoteCandidate(${JSON.stringify(message.candidate)})`).catch(() => undefined);
    } else if (message.type === 'sent' && message.frames) {
      resolveSent({ frames: message.frames, ...(message.gcPauses ? { gcPauses: message.gcPauses } : {}) });
    }
  });
  const write = (message: unknown) => child.stdin.write(`${JSON.stringify(message)}\n`);
  try {
    await page.exposeFunction('hostOffer', () => offer);
    await page.exposeFunction('hostAnswer', (sdp: string) => write({ type: 'answer', sdp }));
    await page.exposeFunction('hostIce', (candidate: unknown) => write({ type: 'ice', candidate }));
    await page.route('http://127.0.0.1:9/**', (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
    await page.goto('http://127.0.0.1:9/');
    await page.evaluate('window.start()');
    await page.waitForFunction('window.presented.length > 10', null, { timeout: 60_000 });
    await page.waitForTimeout(WARMUP_SECONDS * 1000);
    const pid = child.pid ?? 0;
    const cpu0 = cpuSeconds(pid);
    const mainCpu0 = cpuSeconds(pid, pid);
    const threads0 = threadCpuSeconds(pid);
    const wall0 = performance.now();
    const decoded0 = (await page.evaluate('window.framesDecoded()')) as number;
    const unixFrom = Date.now();
    progress(`${name}: measuring ${SECONDS} s`);
    await page.waitForTimeout(SECONDS * 1000);
    const decoded1 = (await page.evaluate('window.framesDecoded()')) as number;
    const wallSec = (performance.now() - wall0) / 1000;
    const cpu = cpuSeconds(pid) - cpu0;
    const mainCpu = cpuSeconds(pid, pid) - mainCpu0;
    const threads1 = threadCpuSeconds(pid);
    const unixTo = Date.now();
    const presented = (await page.evaluate('window.presented')) as Array<[number, number]>;
    write({ type: 'close' });
    const { frames: sentList, gcPauses } = await sentFrames;
    const gcInWindow = gcPauses?.filter(([at]) => at >= unixFrom && at <= unixTo);
    const framesSent = sentList.filter(([, at]) => at >= unixFrom && at <= unixTo).length;
    const sent = new Map(sentList);
    const delays = presented
      .filter(([, at]) => at >= unixFrom && at <= unixTo)
      .flatMap(([rtp, at]) => {
        const sentAt = sent.get(rtp);
        return sentAt === undefined ? [] : [at - sentAt];
      })
      .sort((a, b) => a - b);
    return {
      senderCpuPct: round((100 * cpu) / wallSec, 1),
      senderCpuMsPerFrame: round((1000 * cpu) / Math.max(1, framesSent), 2),
      mainThreadCpuMsPerFrame: round((1000 * mainCpu) / Math.max(1, framesSent), 2),
      framesSent,
      threadsCpuMsPerFrame: cpuByThread(threads0, threads1, framesSent),
      sendToDisplayMsP50: round(percentile(delays, 50), 1),
      sendToDisplayMsP95: round(percentile(delays, 95), 1),
      decodedFps: round((decoded1 - decoded0) / wallSec, 1),
      matchedFrames: delays.length,
      ...(gcInWindow
        ? {
            gcCount: gcInWindow.length,
            gcPauseMs: round(
              gcInWindow.reduce((sum, [, ms]) => sum + ms, 0),
              1,
            ),
          }
        : {}),
    };
  } finally {
    await page.close();
    if (child.exitCode === null) {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.stdin.end();
      await exited;
      clearTimeout(timer);
    }
  }
}

const clipDir = mkdtempSync(join(tmpdir(), 'ath-bench-peer-'));
let browser: Browser | undefined;
try {
  progress(`recording ${CLIP_FRAMES} frames of Neon Drift at 1280×720`);
  recordClip({ directory: clipDir, frames: CLIP_FRAMES });
  browser = await launchChromium({
    args: ['--autoplay-policy=no-user-gesture-required', '--disable-features=WebRtcHideLocalIpsWithMdns'],
  });
  const args = [clipDir, String(CLIP_FRAMES), String(BITRATE_BPS)];
  let ath: SenderResult | undefined;
  let gst: SenderResult | undefined;
  if (ONLY !== 'gstreamer') {
    progress('ath-edge: SessionPipeline (node-av libx264 + werift)');
    ath = await measure(
      'ath-edge',
      spawn(process.execPath, [...profileArgs, '--import', 'tsx', join(HERE, 'peer', 'athSender.ts'), ...args], {
        cwd: ROOT,
      }),
      browser,
    );
    progress(`ath-edge: ${JSON.stringify(ath)}`);
  }
  if (ONLY !== 'ath-edge') {
    progress('GStreamer: webrtcbin + x264enc');
    gst = await measure(
      'gstreamer',
      spawn('/usr/bin/python3', [join(HERE, 'peer', 'gstSender.py'), ...args, String(KEYFRAME_INTERVAL)], {
        cwd: ROOT,
      }),
      browser,
    );
    progress(`GStreamer: ${JSON.stringify(gst)}`);
  }
  console.log(
    JSON.stringify({
      bench: 'peer',
      clip: { width: 1280, height: 720, fps: 60, frames: CLIP_FRAMES, bitrateBps: BITRATE_BPS },
      seconds: SECONDS,
      ...(ath ? { athEdge: ath } : {}),
      ...(gst ? { gstreamer: gst } : {}),
      ...(ath && gst
        ? {
            cpuRatio: round(ath.senderCpuPct / gst.senderCpuPct, 2),
            cpuPerFrameRatio: round(ath.senderCpuMsPerFrame / gst.senderCpuMsPerFrame, 2),
            sendToDisplayP50Ratio: round(ath.sendToDisplayMsP50 / gst.sendToDisplayMsP50, 2),
          }
        : {}),
      goals: { cpuRatio: 0.9, sendToDisplayP50Ratio: 0.5 },
      machine: machineInfo(),
    }),
  );
} finally {
  await browser?.close();
  rmSync(clipDir, { recursive: true, force: true });
}
process.exit(0);
