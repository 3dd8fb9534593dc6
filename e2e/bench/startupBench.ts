/**
 * `npm run bench:stream -- --startup`: what a newcomer sees in the first seconds of `npm start` — the whole
 * stack as `npm start` runs it (signaling with the economy, one render host with 2 slots, three checkers, the
 * embedded chain) plus Chromium, all on this machine. As soon as the stack is up, Play is pressed; then twice
 * more on fresh pages (each after the previous session ended and its slot came free). For each Play:
 *   firstFrameMs         click → first presented frame (requestVideoFrameCallback)
 *   fpsBySecond          frame callbacks (requestVideoFrameCallback) in each of the first 5 seconds after the first
 *                        frame: presented frames the page's main thread saw
 *   decodedFpsBySecond   frames Chromium's decoder finished in each of those seconds (getStats `framesDecoded`,
 *                        at the time each report was read); these seconds start at the first frame, or at the first
 *                        report after it when none was read before (`decodedFromMs`; reports are read every 50 ms
 *                        until the first frame, then at +0, 60 and 120 ms). Before 2026-12-07 a count asked for
 *                        10–40 ms after the first frame stood for the count at it, which left the frames decoded in
 *                        between (up to 2 at 60 fps) out of the first second.
 *   presentedFpsBySecond frames the compositor presented in each (the callbacks' `presentedFrames`)
 *   receivedBySecond     per second: RTP packets lost, NACKs and PLIs the browser sent, frames it dropped (getStats)
 *   hostFirstSecond      the host's own count of the first second after its first frame: frames sent, dropped
 *                        (encoder on the pool still busy / clock ticks missed — x264 at 720p60 encodes on the
 *                        session's thread, so its overruns are missed ticks), encode ms p50 and max, encodes over
 *                        16.7 ms
 *   timelineMs           when the player reached each state after the click (requesting → starting → playing)
 * and, over the first Play's click → 5 s after its first frame, the CPU each process used (% of one core):
 * where start-up CPU goes. For every Play also:
 *   cpuPctByRole         the same, over that Play's click → 5 s after its first frame
 *   cpuPctByRoleBySecond each role's CPU in each second after the click (% of one core)
 *   probesBeside         checkers' probe sessions on the host that overlapped the Play (signaling's log: when each
 *                        got its slot and when it ended, ms after the click, and whether it yielded to the player)
 *   probeMsBesidePlay    of those, ms of probe streaming between the click and 5 s after the first frame (a probe
 *                        yields to a player when its session gets its slot: what is left is click → lease)
 *   settlementsBesideMs  settlement batches signaling confirmed on chain from 3 s before the click to the Play's
 *                        end, ms after the click (the previous Play's session is settled some seconds after it
 *                        ended: that pass — ledger, simulate, sign, send, receipt — may run beside this Play)
 * The last line printed is one JSON object.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright';
import { buildClient } from '../../client/index.js';
import { DEFAULT_EDGE_CONFIG, type EdgeConfig, startStack } from '../../edge/index.js';
import { machineInfo, percentile, round } from '../../signaling/bench/machine.js';
import { launchChromium } from '../support/launchChromium.js';
import { openPlayer, pressPlay } from '../support/playerPage.js';

const progress = (line: string) => process.stderr.write(`bench:stream --startup ${line}\n`);
const SECONDS_WATCHED = 5;
const PLAYS = 3;
const CLOCK_TICKS = 100;

/** utime + stime of one process, seconds (0 once it is gone). */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

type ProcessInfo = { pid: number; ppid: number; cmd: string };

function processes(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.split(') ')[1]?.split(' ')[1]);
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
      out.push({ pid: Number(name), ppid, cmd });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Chromium's processes by type (`--type=renderer`, `gpu-process`, `utility`…; the browser process has none). */
function chromiumLabel(cmd: string): string {
  const type = /--type=([a-z-]+)/.exec(cmd)?.[1];
  return type ? `chromium:${type}` : 'chromium:browser';
}

/** Every process below `root` (this bench), labelled by role: the stack's roles, Chromium, anvil. */
function labelledDescendants(roles: Map<number, string>): Map<number, string> {
  const all = processes();
  const children = new Map<number, ProcessInfo[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const labels = new Map<number, string>();
  const walk = (pid: number, label: string | undefined) => {
    for (const child of children.get(pid) ?? []) {
      const own =
        roles.get(child.pid) ??
        (child.cmd.includes('chromium')
          ? chromiumLabel(child.cmd)
          : (label ?? (child.cmd.includes('anvil') ? 'anvil' : 'other')));
      labels.set(child.pid, own);
      walk(child.pid, roles.get(child.pid) ?? (own.startsWith('chromium') || own === 'anvil' ? own : label));
    }
  };
  walk(process.pid, undefined);
  return labels;
}

function cpuByLabel(labels: Map<number, string>): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of labels.keys()) out.set(pid, cpuSeconds(pid));
  out.set(process.pid, cpuSeconds(process.pid));
  return out;
}

/**
 * In the page, from the ath-play video and its peer connection: each requestVideoFrameCallback's presentation
 * time and `presentedFrames` (the compositor's count, which also counts frames whose callback the page's main
 * thread missed), and `framesDecoded` of the inbound video (getStats; the decoder's count, the figure the
 * issue holds to ≥ 58 per second) at the first frame and at each whole second after it. The peer connection is
 * caught by wrapping the constructor before Play.
 */
async function watchFrames(page: Page): Promise<void> {
  // A string, not a function: tsx would wrap named inner functions in a helper the page does not have.
  await page.evaluate(`(() => {
    window.__frames = [];
    window.__presented = [];
    window.__stats = [];
    const Original = window.RTCPeerConnection;
    window.RTCPeerConnection = class extends Original {
      constructor(...args) {
        super(...args);
        window.__pc = this;
        // Until the first frame, a report every 50 ms: then one read before the first frame usually exists, and
        // the count at the first frame lies between two reports.
        window.__setupSampler ??= setInterval(sampleDecoded, 50);
      }
    };
    const sampleDecoded = async () => {
      const pc = window.__pc;
      if (!pc || pc.connectionState === 'closed') return;
      const report = await pc.getStats();
      report.forEach((s) => {
        if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
        // When the browser read the counters (its report's timestamp: Unix ms in Chromium, page time per the
        // newer spec), not when the page asked: under load the two are tens of ms apart.
        const at = s.timestamp > 1e12 ? s.timestamp - performance.timeOrigin : s.timestamp;
        window.__stats.push([at, s.framesDecoded ?? 0, s.packetsLost ?? 0, s.nackCount ?? 0, s.pliCount ?? 0, s.framesDropped ?? 0]);
      });
    };
    const attach = () => {
      const video = document.querySelector('ath-play')?.shadowRoot?.querySelector('video');
      if (!video) return setTimeout(attach, 20);
      const onFrame = (_now, meta) => {
        if (window.__frames.length === 0) {
          clearInterval(window.__setupSampler);
          // framesDecoded at the first frame and at each whole second after it: the seconds' edges. The first
          // edge is asked three times: a report can come from the browser's stats cache, read before any video
          // arrived (and one more just past the last edge, which moves with the first).
          const edges = Array.from({ length: ${SECONDS_WATCHED} }, (_, s) => (s + 1) * 1000);
          for (const atMs of [0, 60, 120, ...edges, ${SECONDS_WATCHED} * 1000 + 150]) {
            setTimeout(sampleDecoded, Math.max(0, meta.presentationTime + atMs - performance.now()));
          }
        }
        window.__frames.push(meta.presentationTime);
        window.__presented.push([meta.presentationTime, meta.presentedFrames]);
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    };
    attach();
  })()`);
}

/** A counter sampled over time, read at `t` by linear interpolation between the samples around it. */
function counterAt(samples: readonly (readonly [number, number])[], t: number): number {
  let before: readonly [number, number] | undefined;
  for (const sample of samples) {
    if (sample[0] <= t) before = sample;
    else {
      if (before === undefined) return sample[1];
      return before[1] + ((sample[1] - before[1]) * (t - before[0])) / (sample[0] - before[0]);
    }
  }
  return before?.[1] ?? 0;
}

/** Samples `[t, a, b, …]` as `[t, column i]`. */
function column(samples: readonly number[][], i: number): [number, number][] {
  return samples.map((sample) => [sample[0] ?? 0, sample[i] ?? 0]);
}

/** Per second from `first`: how much a sampled counter grew in each of `seconds` seconds. */
function perSecond(samples: readonly (readonly [number, number])[], first: number, seconds: number): number[] {
  return Array.from({ length: seconds }, (_, s) =>
    Math.round(counterAt(samples, first + (s + 1) * 1000) - counterAt(samples, first + s * 1000)),
  );
}

/**
 * ms after the click at which the player reached each state (session leased, stream starting, playing), the
 * SDK's set-up stages (`player`: session, offer, answer, connected, channels, firstFrame) and the render host's
 * (`host`, from its log: start-session in, worker ready, offer out, answer in, encoder open, ICE + DTLS up, first
 * frame sent).
 */
type PlayResult = {
  firstFrameMs: number;
  fpsBySecond: number[];
  decodedFpsBySecond: number[];
  /** ms after the first frame at which the decoder's seconds start (0 when a report read before it). */
  decodedFromMs: number;
  /** Per second, from the same getStats samples: RTP packets lost, NACKs and PLIs sent, frames the browser dropped. */
  receivedBySecond: { lost: number[]; nacks: number[]; plis: number[]; dropped: number[] };
  presentedFpsBySecond: number[];
  timelineMs: Record<string, number>;
  sessionId: string | undefined;
  clickedAtUnixMs: number;
  playerMs: Record<string, number>;
};

/** One pino line of a role's log, as far as this bench reads it. */
type LogRecord = {
  time?: number;
  msg?: string;
  sessionId?: string;
  setupMs?: Record<string, number | null>;
  negotiatedAtUnixMs?: number;
  firstSecond?: Record<string, number>;
};

/** The records of a log file whose line contains `mentioning` (a cheap filter before parsing); torn lines skipped. */
function logRecords(logFile: string, mentioning: string): LogRecord[] {
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  const records: LogRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes(mentioning)) continue;
    try {
      records.push(JSON.parse(line) as LogRecord);
    } catch {
      // a partial line (the role was still writing it)
    }
  }
  return records;
}

/** The host's set-up stages of one session from its log records, ms after `clickedAtUnixMs`. */
function hostStages(records: readonly LogRecord[], clickedAtUnixMs: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const record of records) {
    const at = (record.time ?? 0) - clickedAtUnixMs;
    if (record.msg === 'session starting') out.startSession ??= at;
    else if (record.msg === 'session ready') out.workerReady ??= at;
    else if (record.msg === 'first frame sent' && record.setupMs && record.negotiatedAtUnixMs !== undefined) {
      const base = record.negotiatedAtUnixMs - clickedAtUnixMs;
      out.negotiate ??= base;
      for (const [stage, ms] of Object.entries(record.setupMs)) if (ms !== null) out[stage] ??= base + ms;
    }
  }
  return out;
}

/** The host's own account of a session's first second after its first frame (its 'first second streamed' line). */
function hostFirstSecond(records: readonly LogRecord[]): Record<string, number> | null {
  return records.find((r) => r.msg === 'first second streamed')?.firstSecond ?? null;
}

/** A probe session of the host as signaling's log tells it: ms after a click. */
type ProbeSpan = { sessionId: string; startMs: number; endMs: number | null; yielded: boolean };

/** Checkers' probe sessions that overlapped [0, untilMs] after `clickedAtUnixMs` (ProbeLine logs each). */
function probesBeside(logFile: string, clickedAtUnixMs: number, untilMs: number): ProbeSpan[] {
  const spans = new Map<string, ProbeSpan>();
  for (const record of logRecords(logFile, '"probe ')) {
    if (!record.sessionId || record.time === undefined) continue;
    const at = record.time - clickedAtUnixMs;
    if (record.msg === 'probe started') {
      spans.set(record.sessionId, {
        sessionId: record.sessionId.slice(0, 10),
        startMs: at,
        endMs: null,
        yielded: false,
      });
    } else if (record.msg?.startsWith('probe stopped') || record.msg === 'probe yielded to a player') {
      const span = spans.get(record.sessionId);
      if (span && span.endMs === null) {
        span.endMs = at;
        span.yielded = record.msg === 'probe yielded to a player';
      }
    }
  }
  return [...spans.values()].filter((span) => span.startMs <= untilMs && (span.endMs === null || span.endMs >= 0));
}

/** ms after the click of each settlement batch signaling confirmed in [-3 s, untilMs] (SettlementWorker logs it). */
function settlementsBeside(logFile: string, clickedAtUnixMs: number, untilMs: number): number[] {
  return logRecords(logFile, '"settlement batch confirmed"')
    .map((record) => (record.time ?? Number.NaN) - clickedAtUnixMs)
    .filter((at) => at >= -3_000 && at <= untilMs)
    .map((at) => Math.round(at));
}

/**
 * The player leaves as a player does: the page unloads (the browser closes its signaling socket with a close
 * frame; the peer connection goes), then its context closes. Tearing the context down straight away killed the
 * renderer before unload in 2 of 12 closes (4 runs) here: no close frame, so signaling held that session (and its
 * slot) for the whole reconnect window (30 s) and the next Play queued behind a check round's probes for 20–23 s
 * (runs of 19:04 and 19:56, session 6) — a figure of the bench's own making, not of a newcomer's start.
 */
async function leavePage(page: Page): Promise<void> {
  await page.goto('about:blank');
  await page.context().close();
}

/** Samples each role's CPU once a second until stopped: % of one core in each second. */
function sampleCpuBySecond(roles: Map<number, string>): () => Record<string, number[]> {
  const bySecond: Record<string, number[]> = {};
  let labels = labelledDescendants(roles);
  let last = cpuByLabel(labels);
  let lastAt = performance.now();
  const timer = setInterval(() => {
    labels = labelledDescendants(roles);
    const now = cpuByLabel(labels);
    const at = performance.now();
    const used: Record<string, number> = {};
    for (const [pid, label] of [...labels, [process.pid, 'bench'] as const]) {
      used[label] = (used[label] ?? 0) + Math.max(0, (now.get(pid) ?? 0) - (last.get(pid) ?? 0));
    }
    for (const [label, sec] of Object.entries(used)) {
      bySecond[label] ??= [];
      bySecond[label].push(Math.round((100 * sec) / ((at - lastAt) / 1000)));
    }
    last = now;
    lastAt = at;
  }, 1_000);
  return () => {
    clearInterval(timer);
    return bySecond;
  };
}

async function play(page: Page, seconds: number): Promise<PlayResult> {
  await watchFrames(page);
  const clickedAtUnixMs = (await page.evaluate(() => {
    (window as unknown as { __clickedAt: number }).__clickedAt = performance.now();
    return performance.timeOrigin + performance.now();
  })) as number;
  await pressPlay(page);
  await page.waitForFunction(() => (window as unknown as { __frames: number[] }).__frames.length > 0, null, {
    timeout: 60_000,
  });
  await page.waitForTimeout(seconds * 1000 + 300);
  const { frames, presented, inbound, clickedAt, events, sessionId, playerMs } = await page.evaluate(() => ({
    frames: (window as unknown as { __frames: number[] }).__frames,
    presented: (window as unknown as { __presented: [number, number][] }).__presented,
    inbound: (window as unknown as { __stats: number[][] }).__stats,
    clickedAt: (window as unknown as { __clickedAt: number }).__clickedAt,
    sessionId: window.__athPlayer?.sessionId,
    playerMs: { ...(window.__athPlayer?.setupMarks ?? {}) },
    events: (window.__athPlayer?.events ?? []).map((e) => ({
      type: e.type,
      atMs: e.atMs,
      state: (e.data as { state?: string } | undefined)?.state,
    })),
  }));
  const timelineMs: Record<string, number> = {};
  for (const event of events) {
    if (event.atMs < clickedAt) continue;
    const name = event.type === 'statechange' ? `state:${event.state}` : event.type;
    timelineMs[name] ??= Math.round(event.atMs - clickedAt);
  }
  const first = frames[0] ?? Number.NaN;
  inbound.sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0));
  // The decoder's seconds start at the first frame when a getStats report read before it (then the count at the
  // first frame lies between two reports), else at the first report after it: a count read tens of ms after
  // the first frame, taken as the count at it, would leave the frames decoded in between out of the first second.
  const decodedFrom = Math.max(first, inbound[0]?.[0] ?? first);
  const fpsBySecond = Array.from(
    { length: seconds },
    (_, s) => frames.filter((t) => t >= first + s * 1000 && t < first + (s + 1) * 1000).length,
  );
  return {
    firstFrameMs: first - clickedAt,
    fpsBySecond,
    decodedFpsBySecond: perSecond(column(inbound, 1), decodedFrom, seconds),
    decodedFromMs: decodedFrom - first,
    receivedBySecond: {
      lost: perSecond(column(inbound, 2), decodedFrom, seconds),
      nacks: perSecond(column(inbound, 3), decodedFrom, seconds),
      plis: perSecond(column(inbound, 4), decodedFrom, seconds),
      dropped: perSecond(column(inbound, 5), decodedFrom, seconds),
    },
    presentedFpsBySecond: perSecond(presented, first, seconds),
    timelineMs,
    sessionId,
    clickedAtUnixMs,
    playerMs,
  };
}

export async function runStartupBench(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ath-bench-startup-'));
  // `npm start`'s configuration, on free ports and a fresh data directory.
  const config: EdgeConfig = {
    ...DEFAULT_EDGE_CONFIG,
    dataDir,
    signaling: { ...DEFAULT_EDGE_CONFIG.signaling, httpPort: 0, wsPort: 0 },
  };
  const { outDir } = await buildClient({});
  progress('starting the stack (signaling, render host, 3 checkers, anvil)');
  const stackStartedAt = performance.now();
  const stack = await startStack({ config, clientDir: outDir });
  const stackUpMs = performance.now() - stackStartedAt;
  const roles = new Map<number, string>();
  if (stack.signaling.pid) roles.set(stack.signaling.pid, 'signaling');
  for (const host of stack.renderHosts) if (host.pid) roles.set(host.pid, 'renderHost');
  for (const checker of stack.checkers) if (checker.pid) roles.set(checker.pid, 'checkers');
  const browser = await launchChromium({ args: ['--autoplay-policy=no-user-gesture-required'] });
  const baseUrl = stack.signaling.info.httpUrl;
  const results: PlayResult[] = [];
  const hostMs: Record<string, number>[] = [];
  const hostLog = join(stack.logDir, 'host-1.log');
  const signalingLog = join(stack.logDir, 'signaling.log');
  const cpuPctByPlay: Record<string, number>[] = [];
  const cpuBySecond: Record<string, number[]>[] = [];
  const probes: ProbeSpan[][] = [];
  const hostFirstSeconds: (Record<string, number> | null)[] = [];
  const settlements: number[][] = [];
  let cpuPctByRole: Record<string, number> = {};
  let firstWindowSec = 0;
  try {
    for (let i = 0; i < PLAYS; i++) {
      const page = await openPlayer({ browser, baseUrl, game: 'neon-drift' });
      const labels = labelledDescendants(roles);
      const before = cpuByLabel(labels);
      const startedAt = performance.now();
      const stopSampling = sampleCpuBySecond(roles);
      const result = await play(page, SECONDS_WATCHED);
      cpuBySecond.push(stopSampling());
      results.push(result);
      const sessionRecords = result.sessionId ? logRecords(hostLog, result.sessionId) : [];
      hostMs.push(hostStages(sessionRecords, result.clickedAtUnixMs));
      hostFirstSeconds.push(hostFirstSecond(sessionRecords));
      const windowMs = performance.now() - startedAt;
      probes.push(probesBeside(signalingLog, result.clickedAtUnixMs, windowMs));
      settlements.push(settlementsBeside(signalingLog, result.clickedAtUnixMs, windowMs));
      progress(
        `play ${i + 1}: first frame ${result.firstFrameMs.toFixed(0)} ms, fps ${result.fpsBySecond.join(' ')}` +
          ` (decoded ${result.decodedFpsBySecond.join(' ')}, presented ${result.presentedFpsBySecond.join(' ')};` +
          ` lost ${result.receivedBySecond.lost.join(' ')}, nacks ${result.receivedBySecond.nacks.join(' ')},` +
          ` plis ${result.receivedBySecond.plis.join(' ')}, dropped ${result.receivedBySecond.dropped.join(' ')})`,
      );
      progress(`play ${i + 1}: player ${JSON.stringify(result.playerMs)} host ${JSON.stringify(hostMs.at(-1))}`);
      progress(`play ${i + 1}: host's first second ${JSON.stringify(hostFirstSeconds.at(-1))}`);
      // Children spawned meanwhile (session workers are threads; Chromium's renderers are processes).
      const labelsAfter = labelledDescendants(roles);
      const after = cpuByLabel(labelsAfter);
      const byRole: Record<string, number> = {};
      for (const [pid, label] of [...labelsAfter, [process.pid, 'bench'] as const]) {
        const used = (after.get(pid) ?? 0) - (before.get(pid) ?? 0);
        byRole[label] = (byRole[label] ?? 0) + used;
      }
      const pct = Object.fromEntries(
        Object.entries(byRole).map(([label, sec]) => [label, round((100 * sec) / (windowMs / 1000), 1)]),
      );
      cpuPctByPlay.push(pct);
      progress(
        `play ${i + 1}: cpu % ${JSON.stringify(pct)} probes ${JSON.stringify(probes.at(-1))} settlements ${JSON.stringify(settlements.at(-1))}`,
      );
      if (i === 0) {
        firstWindowSec = windowMs / 1000;
        cpuPctByRole = pct;
      }
      await leavePage(page);
      // The slot comes free when the host notices the player left.
      await new Promise((resolve) => setTimeout(resolve, 4_000));
    }
  } finally {
    await browser.close();
    await stack.close();
  }
  const firstFrames = results.map((r) => r.firstFrameMs).sort((a, b) => a - b);
  const firstPlay = results[0];
  console.log(
    JSON.stringify({
      bench: 'stream-startup',
      stackUpMs: round(stackUpMs, 0),
      firstFrameMs: results.map((r) => round(r.firstFrameMs, 0)),
      firstFrameMsP50: round(percentile(firstFrames, 50), 0),
      fpsBySecond: results.map((r) => r.fpsBySecond),
      decodedFpsBySecond: results.map((r) => r.decodedFpsBySecond),
      decodedFromMs: results.map((r) => round(r.decodedFromMs, 0)),
      receivedBySecond: results.map((r) => r.receivedBySecond),
      presentedFpsBySecond: results.map((r) => r.presentedFpsBySecond),
      hostFirstSecond: hostFirstSeconds,
      timelineMs: results.map((r) => r.timelineMs),
      playerSetupMs: results.map((r) => r.playerMs),
      hostSetupMs: hostMs,
      firstPlayMinFps: firstPlay ? Math.min(...firstPlay.fpsBySecond) : null,
      minFpsFirst5s: Math.min(...results.flatMap((r) => r.fpsBySecond)),
      minDecodedFpsFirst5s: Math.min(...results.flatMap((r) => r.decodedFpsBySecond)),
      firstPlayCpuWindowSec: round(firstWindowSec, 1),
      firstPlayCpuPctByRole: cpuPctByRole,
      cpuPctByRole: cpuPctByPlay,
      cpuPctByRoleBySecond: cpuBySecond,
      probesBeside: probes.map((spans) =>
        spans.map((span) => ({
          ...span,
          startMs: Math.round(span.startMs),
          endMs: span.endMs === null ? null : Math.round(span.endMs),
        })),
      ),
      probeMsBesidePlay: probes.map((spans, i) => {
        const untilMs = (results[i]?.firstFrameMs ?? 0) + SECONDS_WATCHED * 1000;
        const ms = spans.reduce(
          (sum, span) => sum + Math.max(0, Math.min(span.endMs ?? untilMs, untilMs) - Math.max(span.startMs, 0)),
          0,
        );
        return round(ms, 0);
      }),
      settlementsBesideMs: settlements,
      loadAvg1: round(loadavg()[0] ?? 0, 2),
      checkers: config.stack.checkers,
      machine: machineInfo(),
    }),
  );
}
