/**
 * Manual smoke run: one StreamSession streamed to Debian's Chromium (Playwright), loopback only.
 *
 *   node --import tsx render-host/session/testing/chromiumSmoke.ts [--codec H264|VP8] [--seconds 10] [--no-av-sync]
 *
 * Prints what the browser measured (getStats: decoded fps, size, decoder, jitter buffer; audio packets and
 * samples; requestVideoFrameCallback receive → presentation delay) and what the host measured (send fps,
 * drops, encode ms, CPU of this process per stream), as one JSON object on the last line.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { chromium } from 'playwright';
import type { CodecName } from '../../../signaling/protocol/index.js';
import { StreamSession, type StreamStats } from '../index.js';

const { values } = parseArgs({
  options: {
    codec: { type: 'string', default: 'H264' },
    seconds: { type: 'string', default: '10' },
    'no-av-sync': { type: 'boolean', default: false },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    'max-bitrate': { type: 'string', default: '8000000' },
  },
});
const codec: CodecName = values.codec === 'VP8' ? 'VP8' : 'H264';
const seconds = Number(values.seconds);

const PAGE = `<!doctype html><meta charset="utf-8"><title>ath-edge session smoke</title>
<video id="v" autoplay playsinline></video>
<script>
window.smoke = { delays: [], frames: 0 };
async function run(wanted) {
  const pc = new RTCPeerConnection();
  window.pc = pc;
  const stream = new MediaStream();
  const video = document.getElementById('v');
  pc.ontrack = (e) => {
    stream.addTrack(e.track);
    video.srcObject = stream;
    if (e.track.kind === 'video' && 'jitterBufferTarget' in e.receiver) e.receiver.jitterBufferTarget = 0;
  };
  pc.ondatachannel = (e) => { window.channels = window.channels || {}; window.channels[e.channel.label] = e.channel; };
  const offer = await (await fetch('/offer')).text();
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  for (const t of pc.getTransceivers()) {
    if (t.receiver.track.kind !== 'video') continue;
    const caps = RTCRtpReceiver.getCapabilities('video').codecs;
    const first = caps.filter((c) => c.mimeType.toLowerCase() === 'video/' + wanted.toLowerCase());
    t.setCodecPreferences([...first, ...caps.filter((c) => !first.includes(c))]);
  }
  await pc.setLocalDescription(await pc.createAnswer());
  await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); else pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); setTimeout(r, 2000); });
  await fetch('/answer', { method: 'POST', body: pc.localDescription.sdp });
  const onFrame = (now, meta) => {
    window.smoke.frames++;
    if (meta.receiveTime) window.smoke.delays.push(meta.presentationTime - meta.receiveTime);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}
// Input → photon: a key edge on the input channel; the host's frame mark (kind 18: u32 input seq, u32 RTP
// timestamp, u32 frame; little-endian) names the first RTP frame with it; the first presented frame at or after
// that RTP timestamp (requestVideoFrameCallback metadata) ends the sample.
async function inputToPhoton(count) {
  const video = document.getElementById('v');
  const marks = new Map();
  window.channels.input.binaryType = 'arraybuffer';
  window.channels.input.addEventListener('message', (e) => {
    const v = new DataView(e.data);
    if (v.byteLength === 13 && v.getUint8(0) === 18) marks.set(v.getUint32(1, true), v.getUint32(5, true));
  });
  const out = [];
  for (let i = 0; i < count; i++) {
    const seq = 100000 + i;
    const bytes = new Uint8Array(8);
    const view = new DataView(bytes.buffer);
    view.setUint8(0, 1); view.setUint32(1, seq, true); view.setUint16(5, 53, true); view.setUint8(7, i % 2 === 0 ? 1 : 0);
    const sentAt = performance.now();
    window.channels.input.send(bytes);
    const shown = [];
    await new Promise((resolve) => {
      const check = (now, meta) => {
        shown.push([meta.rtpTimestamp, meta.expectedDisplayTime]);
        const rtp = marks.get(seq);
        const hit = rtp === undefined ? undefined : shown.find(([t]) => ((t - rtp) | 0) >= 0);
        if (hit) { out.push(hit[1] - sentAt); resolve(); }
        else if (performance.now() - sentAt > 2000) resolve();
        else video.requestVideoFrameCallback(check);
      };
      video.requestVideoFrameCallback(check);
    });
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 50));
  }
  return out;
}
async function stats() {
  const out = { video: null, audio: null, remote: {} };
  const report = await window.pc.getStats();
  const codecs = {};
  report.forEach((s) => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
  report.forEach((s) => {
    // Sender reports as Chromium read them: remoteTimestamp is the NTP time they carry (ms since 1970).
    if (s.type === 'remote-outbound-rtp') out.remote[s.kind] = { ntpMinusLocalMs: s.remoteTimestamp - s.timestamp, reportsSent: s.reportsSent };
    if (s.type !== 'inbound-rtp') return;
    const x = { ...s, mimeType: codecs[s.codecId] };
    if (s.kind === 'video') out.video = x; else out.audio = x;
  });
  return out;
}
</script>`;

async function main(): Promise<void> {
  const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
  const session = await StreamSession.start({
    sessionId: `0x${'5'.repeat(64)}`,
    game: 'neon-drift',
    codecs: codec === 'VP8' ? ['VP8', 'H264'] : ['H264', 'VP8'],
    encoder: {
      prefer: 'auto',
      minBitrateBps: 500_000,
      startBitrateBps: Number(values['max-bitrate']) / 2,
      maxBitrateBps: Number(values['max-bitrate']),
    },
    avSync: !values['no-av-sync'],
    // The player closing the tab must end the session quickly: no grace, so `ended` marks the detection.
    reconnectGraceMs: 0,
    log,
  });
  const hostStats: StreamStats[] = [];
  session.on('stats', (s) => hostStats.push(s));
  const ended = new Promise<{ reason: string; atMs: number }>((resolve) =>
    session.on('ended', (reason) => resolve({ reason, atMs: performance.now() })),
  );
  const offer = new Promise<string>((resolve) => session.once('offer', resolve));

  const server = createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    } else if (req.url === '/offer') {
      void offer.then((sdp) => res.writeHead(200, { 'content-type': 'text/plain' }).end(sdp));
    } else if (req.url === '/answer' && req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        session.acceptAnswer(Buffer.concat(chunks).toString()).then(
          () => res.writeHead(204).end(),
          (error: unknown) => res.writeHead(400).end(String(error)),
        );
      });
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  const browser = await chromium.launch({
    executablePath: values.chromium,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await page.goto(url);
    const connectedAt = new Promise<number>((resolve) => session.once('connected', () => resolve(performance.now())));
    const t0 = performance.now();
    await page.evaluate((wanted) => (window as unknown as { run(w: string): Promise<void> }).run(wanted), codec);
    const firstFrameMs = (await connectedAt) - t0;
    // Warm up, then measure a window.
    await page.waitForTimeout(2000);
    type Inbound = Record<string, number | string | undefined>;
    type Remote = Record<string, { ntpMinusLocalMs: number; reportsSent: number }>;
    type PageStats = { video: Inbound | null; audio: Inbound | null; remote: Remote };
    const read = () => page.evaluate(() => (window as unknown as { stats(): Promise<PageStats> }).stats());
    const before = await read();
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    const statsFrom = hostStats.length;
    await page.waitForTimeout(seconds * 1000);
    const after = await read();
    const cpu = process.cpuUsage(cpuBefore);
    const wallMs = performance.now() - wallBefore;
    const delays = await page.evaluate(() => (window as unknown as { smoke: { delays: number[] } }).smoke.delays);
    const num = (x: Inbound | null, k: string) => Number(x?.[k] ?? 0);
    const v0 = before.video;
    const v1 = after.video;
    const a1 = after.audio;
    const window = hostStats.slice(statsFrom);
    const avg = (k: keyof StreamStats) =>
      window.reduce((s, x) => s + Number(x[k] ?? 0), 0) / Math.max(1, window.length);
    const sorted = delays.slice(-seconds * 60).sort((x, y) => x - y);
    const result = {
      smoke: 'session-chromium',
      codec,
      avSync: !values['no-av-sync'],
      firstFrameMs: Math.round(firstFrameMs),
      browser: {
        mimeType: v1?.mimeType,
        decoder: v1?.decoderImplementation,
        width: num(v1, 'frameWidth'),
        height: num(v1, 'frameHeight'),
        decodedFps: Math.round(((num(v1, 'framesDecoded') - num(v0, 'framesDecoded')) / wallMs) * 1000 * 10) / 10,
        framesDropped: num(v1, 'framesDropped'),
        videoJitterBufferMs:
          Math.round(
            ((num(v1, 'jitterBufferDelay') - num(v0, 'jitterBufferDelay')) /
              Math.max(1, num(v1, 'jitterBufferEmittedCount') - num(v0, 'jitterBufferEmittedCount'))) *
              1000 *
              10,
          ) / 10,
        decodeMsPerFrame:
          Math.round(
            ((num(v1, 'totalDecodeTime') - num(v0, 'totalDecodeTime')) /
              Math.max(1, num(v1, 'framesDecoded') - num(v0, 'framesDecoded'))) *
              1000 *
              100,
          ) / 100,
        receiveToPresentMsP50: Math.round((sorted[Math.floor(sorted.length / 2)] ?? 0) * 10) / 10,
        receiveToPresentMsP95: Math.round((sorted[Math.floor(sorted.length * 0.95)] ?? 0) * 10) / 10,
        audioMimeType: a1?.mimeType,
        audioPacketsReceived: num(a1, 'packetsReceived'),
        audioSamplesReceived: num(a1, 'totalSamplesReceived'),
        audioConcealedSamples: num(a1, 'concealedSamples'),
        audioJitterBufferMs:
          Math.round((num(a1, 'jitterBufferDelay') / Math.max(1, num(a1, 'jitterBufferEmittedCount'))) * 1000 * 10) /
          10,
        packetsLost: num(v1, 'packetsLost'),
        nackCount: num(v1, 'nackCount'),
        pliCount: num(v1, 'pliCount'),
        // NTP time in the latest sender report minus Chromium's clock when it arrived: small and alike for
        // both tracks when the SR mapping is right (werift's own one is off by up to a second).
        senderReports: after.remote,
      },
      host: {
        encoder: window.at(-1)?.encoder,
        sentFps: Math.round(avg('fps') * 10) / 10,
        framesDropped: window.at(-1)?.framesDropped,
        framesSent: window.at(-1)?.framesSent,
        encodeMsP50: Math.round(avg('encodeMsP50') * 100) / 100,
        encodeMsP95: Math.round(avg('encodeMsP95') * 100) / 100,
        videoBitrateBps: Math.round(avg('videoBitrateBps')),
        targetBitrateBps: window.at(-1)?.targetBitrateBps,
        rttMs: window.at(-1)?.rttMs,
        // This process runs only the session (the page is served from here too, which costs nothing).
        cpuPctPerStream: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 100 * 10) / 10,
      },
    };
    const photon = (
      await page.evaluate(() =>
        (window as unknown as { inputToPhoton(n: number): Promise<number[]> }).inputToPhoton(40),
      )
    ).sort((x, y) => x - y);
    Object.assign(result.browser, {
      inputToPhotonSamples: photon.length,
      inputToPhotonMsP50: Math.round((photon[Math.floor(photon.length / 2)] ?? 0) * 10) / 10,
      inputToPhotonMsP95: Math.round((photon[Math.floor(photon.length * 0.95)] ?? 0) * 10) / 10,
    });
    // The player leaves: close the tab and time how long until the session notices and ends.
    const closedAtMs = performance.now();
    await page.close();
    const end = await Promise.race([ended, new Promise<undefined>((resolve) => setTimeout(resolve, 15_000))]);
    const leave = end
      ? { reason: end.reason, detectedMs: Math.round(end.atMs - closedAtMs) }
      : { reason: 'none in 15 s' };
    console.log(JSON.stringify({ ...result, playerLeft: leave }));
  } finally {
    await browser.close();
    await session.close();
    server.close();
  }
}

await main();
