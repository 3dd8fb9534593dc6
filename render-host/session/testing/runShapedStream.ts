/**
 * Streams Neon Drift from a render-host session to Debian's Chromium across a shaped link (shapedLink.ts): the
 * session runs in the sender's namespace (shapedSender.ts), Chromium in the receiver's, and the link is
 * shaped and lifted in phases. What the browser presented (requestVideoFrameCallback) and received (getStats),
 * and what the host targeted, are returned per phase. Used by the congestion test and by
 * `npm run bench:stream -- --shape 3mbit`.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright';
import { CHROMIUM_ARGS, resolveChromiumPath } from '../../../e2e/support/launchChromium.js';
import type { StreamStats } from '../workerMessages.js';
import { createShapedLink, type LinkShape } from './shapedLink.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..', '..');

export type ShapedPhase = { name: string; seconds: number; shape: LinkShape | null };

export type PhaseResult = {
  name: string;
  seconds: number;
  shape: LinkShape | null;
  /** When the phase began (the link shaped or lifted), Unix ms. */
  startedAtUnixMs: number;
  /** Frames presented in this phase, per second. */
  fps: number;
  /** Longest time between two presented frames in this phase, ms. */
  maxFreezeMs: number;
  /** Video bytes received per second in this phase, bit/s. */
  receivedBps: number;
  /** Per second of the phase: received bit/s and presented frames. */
  perSecond: Array<{ receivedBps: number; frames: number }>;
  /** The host's encoder target over the phase (min and last), bit/s. */
  targetBpsMin: number;
  targetBpsLast: number;
  packetsLost: number;
  nacks: number;
  plis: number;
};

export type ShapedStreamResult = { phases: PhaseResult[]; hostStats: Array<{ atMs: number; stats: StreamStats }> };

/** The page: answers the offer it is given, plays the video, records frames and receive stats (string script). */
const PAGE = `<!doctype html><meta charset="utf-8"><title>shaped stream</title><video id="v" muted autoplay playsinline></video>
<script>
window.frames = [];
window.samples = [];
window.start = async () => {
  const pc = new RTCPeerConnection();
  const video = document.getElementById('v');
  pc.ontrack = (e) => { if (e.track.kind === 'video') { video.srcObject = new MediaStream([e.track]); video.play(); } };
  await pc.setRemoteDescription({ type: 'offer', sdp: await window.hostOffer() });
  const answer = await pc.createAnswer();
  const level = /profile-level-id=(42e0[0-9a-f]{2})/i.exec(pc.remoteDescription.sdp);
  const sdp = level ? answer.sdp.replace(/profile-level-id=42e0[0-9a-f]{2}/gi, 'profile-level-id=' + level[1]) : answer.sdp;
  await pc.setLocalDescription({ type: 'answer', sdp });
  await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); setTimeout(r, 2000); });
  await window.hostAnswer(pc.localDescription.sdp);
  const onFrame = (now, meta) => { window.frames.push(meta.presentationTime); video.requestVideoFrameCallback(onFrame); };
  video.requestVideoFrameCallback(onFrame);
  setInterval(async () => {
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        window.samples.push({ t: performance.now(), bytes: s.bytesReceived, frames: s.framesDecoded, lost: s.packetsLost, nacks: s.nackCount, plis: s.pliCount });
      }
    });
  }, 250);
};
</script>`;

type Sample = { t: number; bytes: number; frames: number; lost: number; nacks: number; plis: number };

function startSender(exec: string[]): {
  child: ChildProcessWithoutNullStreams;
  offer: Promise<string>;
  stats: Array<{ atMs: number; stats: StreamStats }>;
} {
  const [command = 'ip', ...prefix] = exec;
  const child = spawn(command, [...prefix, process.execPath, '--import', 'tsx', join(HERE, 'shapedSender.ts')], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stats: Array<{ atMs: number; stats: StreamStats }> = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const offer = new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`sender exited (${code}): ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { type: string; sdp?: string; atMs?: number; stats?: StreamStats };
      if (message.type === 'offer' && message.sdp) resolve(message.sdp);
      if (message.type === 'stats' && message.stats)
        stats.push({ atMs: message.atMs ?? Date.now(), stats: message.stats });
    });
  });
  return { child, offer, stats };
}

export async function runShapedStream(phases: readonly ShapedPhase[]): Promise<ShapedStreamResult> {
  const link = createShapedLink();
  const dir = mkdtempSync(join(tmpdir(), 'i17-shaped-'));
  let sender: ReturnType<typeof startSender> | undefined;
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  try {
    // Chromium in the receiver's namespace: Playwright talks to it over a pipe, which crosses namespaces.
    const wrapper = join(dir, 'chromium-in-ns.sh');
    writeFileSync(wrapper, `#!/bin/sh\nexec ${link.exec(link.receiverNs).join(' ')} ${resolveChromiumPath()} "$@"\n`);
    chmodSync(wrapper, 0o755);
    sender = startSender(link.exec(link.senderNs));
    browser = await chromium.launch({
      executablePath: wrapper,
      args: [
        ...CHROMIUM_ARGS,
        '--autoplay-policy=no-user-gesture-required',
        // Plain host candidates (no mDNS names): the sender's namespace has no resolver for them.
        '--disable-features=WebRtcHideLocalIpsWithMdns',
      ],
    });
    const page = await browser.newPage();
    const offer = sender.offer;
    const child = sender.child;
    await page.exposeFunction('hostOffer', () => offer);
    await page.exposeFunction('hostAnswer', (sdp: string) => {
      child.stdin.write(`${JSON.stringify({ type: 'answer', sdp })}\n`);
    });
    await page.route('http://127.0.0.1:9/**', (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
    await page.goto('http://127.0.0.1:9/');
    await page.evaluate('window.start()');
    await page.waitForFunction('window.frames.length > 30', null, { timeout: 30_000 });
    const bounds: Array<{ phase: ShapedPhase; fromMs: number; toMs: number }> = [];
    for (const phase of phases) {
      if (phase.shape) link.shape(phase.shape);
      else link.lift();
      const fromMs = (await page.evaluate('performance.now()')) as number;
      await page.waitForTimeout(phase.seconds * 1000);
      const toMs = (await page.evaluate('performance.now()')) as number;
      bounds.push({ phase, fromMs, toMs });
    }
    const frames = (await page.evaluate('window.frames')) as number[];
    const samples = (await page.evaluate('window.samples')) as Sample[];
    const hostStats = [...sender.stats];
    const pageToUnixMs = ((await page.evaluate('performance.timeOrigin')) as number) ?? 0;
    const results = bounds.map(({ phase, fromMs, toMs }) => {
      const inPhase = frames.filter((t) => t >= fromMs && t < toMs);
      let maxFreezeMs = 0;
      let previous = frames.filter((t) => t < fromMs).at(-1) ?? inPhase[0] ?? fromMs;
      for (const t of inPhase) {
        maxFreezeMs = Math.max(maxFreezeMs, t - previous);
        previous = t;
      }
      maxFreezeMs = Math.max(maxFreezeMs, toMs - previous);
      const within = samples.filter((s) => s.t >= fromMs && s.t <= toMs);
      const first = within[0];
      const last = within.at(-1);
      const spanSec = first && last ? Math.max(0.001, (last.t - first.t) / 1000) : 1;
      const perSecond = Array.from({ length: Math.floor((toMs - fromMs) / 1000) }, (_, s) => {
        const a = samples.filter((x) => x.t <= fromMs + s * 1000).at(-1);
        const b = samples.filter((x) => x.t <= fromMs + (s + 1) * 1000).at(-1);
        return {
          receivedBps: a && b && b.t > a.t ? Math.round(((b.bytes - a.bytes) * 8 * 1000) / (b.t - a.t)) : 0,
          frames: inPhase.filter((t) => t >= fromMs + s * 1000 && t < fromMs + (s + 1) * 1000).length,
        };
      });
      const targets = hostStats
        .filter((h) => h.atMs >= pageToUnixMs + fromMs && h.atMs <= pageToUnixMs + toMs)
        .map((h) => h.stats.targetBitrateBps);
      return {
        name: phase.name,
        seconds: phase.seconds,
        shape: phase.shape,
        startedAtUnixMs: Math.round(pageToUnixMs + fromMs),
        fps: Math.round((inPhase.length / ((toMs - fromMs) / 1000)) * 10) / 10,
        maxFreezeMs: Math.round(maxFreezeMs),
        receivedBps: first && last ? Math.round(((last.bytes - first.bytes) * 8) / spanSec) : 0,
        perSecond,
        targetBpsMin: targets.length > 0 ? Math.min(...targets) : 0,
        targetBpsLast: targets.at(-1) ?? 0,
        packetsLost: (last?.lost ?? 0) - (first?.lost ?? 0),
        nacks: (last?.nacks ?? 0) - (first?.nacks ?? 0),
        plis: (last?.plis ?? 0) - (first?.plis ?? 0),
      } satisfies PhaseResult;
    });
    return { phases: results, hostStats };
  } finally {
    await browser?.close().catch(() => undefined);
    if (sender && sender.child.exitCode === null) {
      sender.child.stdin.end();
      const exited = new Promise((resolve) => sender?.child.once('exit', resolve));
      const timer = setTimeout(() => sender?.child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    link.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
