/**
 * Manual measurement: where the time between "start a session" and "first frame on screen" goes, without
 * signaling in between. A pooled StreamSession (Neon Drift, H.264) offers to Debian's Chromium (Playwright),
 * which answers and trickles ICE the way the player SDK does; repeated `--runs` times on fresh sessions.
 *
 *   node --import tsx render-host/session/testing/setupTimeline.ts [--runs 5] [--mdns] [--cold]
 *
 * Per run, ms after `StreamSession.start` was called: the worker ready, the offer in the page, the answer
 * sent, ICE + DTLS up in the page, the host's own stages (its "first frame sent" log line) and the first frame
 * presented (requestVideoFrameCallback). `--mdns` keeps Chromium's mDNS host candidates (the default browser
 * behaviour); without it the page sends plain IP candidates. One JSON line per run, then a summary line.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { chromium } from 'playwright';
import { CHROMIUM_ARGS, resolveChromiumPath } from '../../../e2e/support/launchChromium.js';
import type { IceCandidateInit } from '../../../signaling/protocol/index.js';
import { SessionWorkerPool, StreamSession } from '../index.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    mdns: { type: 'boolean', default: false },
    cold: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);

const PAGE = `<!doctype html><meta charset="utf-8"><title>setup timeline</title><video id="v" muted autoplay playsinline></video>
<script>
window.marks = {};
const mark = (name) => { window.marks[name] ??= performance.timeOrigin + performance.now(); };
window.start = async (offer) => {
  mark('offer');
  const pc = new RTCPeerConnection();
  window.pc = pc;
  const video = document.getElementById('v');
  const stream = new MediaStream();
  pc.ontrack = (e) => { stream.addTrack(e.track); video.srcObject = stream; if ('jitterBufferTarget' in e.receiver) e.receiver.jitterBufferTarget = 0; };
  pc.onicecandidate = (e) => { if (e.candidate && e.candidate.candidate) window.hostIce(e.candidate.toJSON()); };
  pc.onconnectionstatechange = () => { if (pc.connectionState === 'connected') mark('connected'); };
  pc.ondatachannel = (e) => { e.channel.onopen = () => mark('channel'); };
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  const answer = await pc.createAnswer();
  const level = /profile-level-id=(42e0[0-9a-f]{2})/i.exec(offer);
  const sdp = level ? answer.sdp.replace(/profile-level-id=42e0[0-9a-f]{2}/gi, 'profile-level-id=' + level[1]) : answer.sdp;
  await pc.setLocalDescription({ type: 'answer', sdp });
  mark('answer');
  window.hostAnswer(pc.localDescription.sdp);
  video.play().catch(() => {});
  video.requestVideoFrameCallback(() => mark('firstFrame'));
};
</script>`;

const log = pino({ level: 'info' }, pino.destination({ dest: '/dev/null' }));
const hostLines: Array<Record<string, unknown>> = [];
const captureLog = pino({ level: 'info' }, { write: (line: string) => hostLines.push(JSON.parse(line)) });
void log;

// Two slots, as `npm start`'s host: a run borrows one worker while the other waits; it comes back after the run.
const pool = new SessionWorkerPool({ size: 2, log: captureLog, warmUp: !values.cold });
const browser = await chromium.launch({
  executablePath: resolveChromiumPath(),
  args: [
    ...CHROMIUM_ARGS,
    '--autoplay-policy=no-user-gesture-required',
    ...(values.mdns ? [] : ['--disable-features=WebRtcHideLocalIpsWithMdns']),
  ],
});
const results: Array<Record<string, number>> = [];
try {
  for (let run = 0; run < runs; run++) {
    // Each run takes a worker that booted and warmed up (npm start's host has had seconds); with `--cold` the
    // pool does not warm its workers up (as before warmSessionWorker.ts): the run takes one once it is online.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    await pool.warm();
    const page = await browser.newPage();
    await page.route('http://127.0.0.1:9/**', (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
    await page.goto('http://127.0.0.1:9/');
    hostLines.length = 0;
    const t0 = Date.now();
    const session = await StreamSession.start({
      sessionId: `0x${String(run + 1).padStart(64, '0')}`,
      game: 'neon-drift',
      codecs: ['H264', 'VP8'],
      encoder: { prefer: 'auto', minBitrateBps: 500_000, startBitrateBps: 4_000_000, maxBitrateBps: 8_000_000 },
      pool,
      log: captureLog,
    });
    const readyAt = Date.now();
    // Listen before any await: the first offer follows start() at once.
    const offered = new Promise<string>((resolve) => session.once('offer', resolve));
    const ices: Array<IceCandidateInit | null> = [];
    await page.exposeFunction('hostIce', (candidate: IceCandidateInit) => {
      ices.push(candidate);
      void session.addIceCandidate(candidate).catch(() => undefined);
    });
    let onAnswered: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => {
      onAnswered = resolve;
    });
    // Exposed before the page starts (it calls hostAnswer as soon as it has answered).
    await page.exposeFunction('hostAnswer', (sdp: string) => {
      void session.acceptAnswer(sdp).then(onAnswered, onAnswered);
    });
    const offer = await offered;
    const offerAt = Date.now();
    await page.evaluate(`window.start(${JSON.stringify(offer)})`);
    await answered;
    await page.waitForFunction('window.marks.firstFrame !== undefined', null, { timeout: 30_000 });
    const marks = (await page.evaluate('window.marks')) as Record<string, number>;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const first = hostLines.find((l) => l.msg === 'first frame sent') as
      | { setupMs: Record<string, number>; negotiatedAtUnixMs: number; firstEncodeMs: number }
      | undefined;
    const since = (at: number | undefined) => (at === undefined ? -1 : Math.round(at - t0));
    const row: Record<string, number> = {
      workerReady: since(readyAt),
      offerOut: since(offerAt),
      pageOffer: since(marks.offer),
      pageAnswer: since(marks.answer),
      pageConnected: since(marks.connected),
      pageChannel: since(marks.channel),
      pageFirstFrame: since(marks.firstFrame),
      candidates: ices.length,
    };
    if (first) {
      for (const [stage, ms] of Object.entries(first.setupMs))
        row[`host.${stage}`] = since(first.negotiatedAtUnixMs + ms);
      row.firstEncodeMs = first.firstEncodeMs;
    }
    results.push(row);
    console.log(JSON.stringify(row));
    await session.close();
    await page.close();
  }
} finally {
  await browser.close();
  await pool.close();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? -1;
const keys = Object.keys(results[0] ?? {});
console.log(
  JSON.stringify({ medians: Object.fromEntries(keys.map((k) => [k, median(results.map((r) => r[k] ?? -1))])) }),
);
process.exit(0);
