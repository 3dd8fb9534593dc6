/**
 * `npm run bench:checker` — what checking costs:
 *   reportsVerifiedPerSec  signed CheckReports verified per second on one core, the way signaling's
 *                          CheckerDesk verifies them (CheckReportVerifier: a key recovered per checker, then
 *                          WASM ECDSA verifies; viem's recoverTypedDataAddress did ≈450/s here)
 *   probeCpuPct            extra CPU of the render host process tree while it serves one probe — a real player
 *                          session of a game at its manifest's size and rate, on a free slot — over the host idle,
 *                          % of one core
 *   liveFpsImpactPct       change of a live player's received frame rate (a werift receiver counting complete
 *                          frames) in the 5 s from 2 s after a round of three checkers starts (its probes run one
 *                          after the other on the host's other slot) against 5 s alone just before, in %
 *                          (negative = slower); 3 cycles, averaged
 *   liveFpsImpactWholeRoundPct / …NearProbeStartPct / …ProbeSteadyPct  the same over every second of the round,
 *                          over the seconds within 2 s after a probe's session started (host log), and over the
 *                          others: where in a probe the live player loses frames
 *   liveFpsImpactAveragedPct  the impact of the 5 s window × the round's length, spread over the time between two
 *                          rounds of a container that serves players (signaling's busyDeferralMs, 10 min)
 *   liveFpsImpactAfterRoundPct, liveFramesLostPerRound, liveFpsImpactAveragedInclRefillPct  the 16 s after the
 *                          round (a host that booted session workers for the probes would pay for them then), the
 *                          live player's frames lost over the round and those 16 s against its rate alone, and
 *                          that loss spread over busyDeferralMs: what a player loses to checks, all counted
 *   hostWorkerBootsPerRound session workers the host booted over a round and those 16 s (its log): 0 when its pool
 *                          reuses the workers the probes gave back
 *   cpu.*                  cores used by the render host, by signaling + the chain + the live player's receiver
 *                          (this process), by the checker processes and by the rest of the machine, idle / one
 *                          probe / live alone / live with a round (and the busiest threads of each)
 * Real parts throughout: in-process signaling, an `ath-edge render-host` process with two slots, three
 * `ath-edge checker` processes (the checker role's own probe window) and a live player. Rounds are started by the
 * bench (as a dispute of the live session starts one; a scheduled round is the same three probes).
 *
 * Placement (`--placement cgroups`, the default as root; `shared` otherwise): on a shared 2-core box the other
 * users' work takes what a render host needs for its slots, and in a real network the player, the checkers and
 * signaling are other machines. So the bench runs in its own CPU cgroup weighted far above the box's other
 * processes, with the render host (the host's machine) and the rest (the network) in two subgroups; the JSON says
 * which placement ran (`placement`, `placementMeans`) and how many cores the rest of the box still took.
 * Diagnostics: BENCH_TIMELINE=1 prints the host's log lines of each round's probes; BENCH_HOST_CPU_PROF=<dir>
 * writes V8 CPU profiles of every host thread. The last line printed is one JSON object.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Address, Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { StreamReceiver } from '../../render-host/index.js';
import { machineInfo, round } from '../../signaling/bench/machine.js';
import { DEFAULT_CHECK_SETTINGS, type RoundVerdict } from '../../signaling/checkers/CheckerDesk.js';
import { CheckReportVerifier } from '../../signaling/checkers/CheckReportVerifier.js';
import { connectTestPlayer, startTestSignaling } from '../../signaling/testing/startTestSignaling.js';
import type { CheckerInfo } from '../roles/runChecker.js';
import type { RenderHostInfo } from '../roles/runRenderHost.js';
import { RoleProcess } from '../stack/RoleProcess.js';
import { type CpuBreakdown, CpuGroups, type CpuWatch, processTree, startCpuWindow } from './cpuAccounting.js';
import { signCheckReport } from './signCheckReport.js';

const progress = (line: string) => process.stderr.write(`bench:checker ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const CYCLES = 3;
/** Seconds of a round this close after a probe's session started count as its start (the live fps dips there). */
const PROBE_START_MS = 2_000;
/**
 * How long after a round the live player is still watched: a host that boots session workers for probes (before
 * SessionWorkerPool reused them, it booted a replacement 2 s after each session start) pays for them after the
 * round too. 16 s covers a boot + warm-up with the refill delays tried (2–10 s); with reuse nothing boots.
 */
const AFTERMATH_MS = 16_000;

// ---- 1. verifying reports (one core, in-process) ---------------------------------------------------------
const domain = { chainId: 31337, verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' as const };
const accounts = Array.from({ length: 8 }, () => privateKeyToAccount(generatePrivateKey()));
const N = 400;
progress(`signing ${N} CheckReports from ${accounts.length} checkers`);
const signed = await Promise.all(
  Array.from({ length: N }, (_, i) => {
    const account = accounts[i % accounts.length] ?? accounts[0];
    if (!account) throw new Error('account');
    return signCheckReport(account, domain, {
      container: `host-${i % 50}`,
      checker: account.address,
      round: BigInt(1 + Math.floor(i / 50)),
      rttMicros: 3_000 + i,
      fpsMilli: 59_000 + i,
      lossPpm: i % 7,
      ok: i % 5 !== 0,
      timestamp: BigInt(Math.floor(Date.now() / 1000)),
    });
  }),
);
progress('verifying them as CheckerDesk does');
const verifyStarted = performance.now();
// A fresh verifier, as a signaling server starts: each checker's first report pays for recovering its key.
const reportVerifier = new CheckReportVerifier(domain);
for (const { report, signature } of signed) {
  if (!reportVerifier.verify(report.checker as Address, report, signature as Hex)) {
    throw new Error('a report did not verify');
  }
}
const reportsVerifiedPerSec = N / ((performance.now() - verifyStarted) / 1000);

// ---- 2 and 3. a real host, probes, a live player ---------------------------------------------------------
const { values: flags } = parseArgs({
  options: {
    // Where the parts run: see PLACEMENTS.
    placement: { type: 'string', default: 'cgroups' },
    // The host's slots: 2 (one for the live player, the probes on the free one), or 1 (the live player fills the
    // host: the probes run in its probe reserve beside it). The JSON says which (`hostSlots`).
    'host-slots': { type: 'string', default: '2' },
  },
});
const hostSlots = Number(flags['host-slots']);
if (hostSlots !== 1 && hostSlots !== 2) throw new Error('--host-slots is 1 or 2');
/** Weights (cgroup v1 cpu.shares) of the `cgroups` placement. */
const SHARES = { bench: 262_144, renderHost: 2_048, network: 1_024 };
const PLACEMENTS = {
  shared: "every part competes for the CPU with everything else on the box (other users' work included)",
  cgroups:
    `the bench in its own CPU cgroup weighted ${SHARES.bench} cpu.shares against the box's other processes (1024 ` +
    `each), split into renderHost (${SHARES.renderHost}: the render host process and its games — the host's own ` +
    `machine) and network (${SHARES.network}: signaling, the chain, the live player's receiver and the checkers' ` +
    'processes — other machines in a real network); both may use any idle CPU',
};
const requested = flags.placement === 'shared' ? 'shared' : 'cgroups';
const cpuGroups = requested === 'cgroups' ? CpuGroups.open('i13benchchecker', SHARES.bench) : undefined;
const placement = cpuGroups ? 'cgroups' : 'shared';
const hostGroup = cpuGroups?.group('renderHost', SHARES.renderHost);
const networkGroup = cpuGroups?.group('network', SHARES.network);
const hostLauncher = hostGroup ? CpuGroups.launcher(hostGroup) : [];
const othersLauncher = networkGroup ? CpuGroups.launcher(networkGroup) : [];
if (requested !== placement) progress('no writable cgroup v1 cpu controller (root needed): placement shared');

const dataDir = mkdtempSync(join(tmpdir(), 'ath-bench-checker-'));
const secret = randomBytes(32);
const server = await startTestSignaling({
  tokenSecret: secret,
  probe: { samples: 0, timeoutMs: 1_000, maxCandidates: 8, maxPlausibleRttMs: 250 },
  // No scheduled round while the player plays: the bench starts each round itself (see sampleRound).
  checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 600_000, deadlineMs: 60_000 },
});
// Signaling, its chain (anvil, a child of this process) and the live player's receiver: the network's side.
if (networkGroup) for (const pid of processTree(process.pid)) CpuGroups.move(networkGroup, pid);
const checkers: RoleProcess<CheckerInfo>[] = [];
let host: RoleProcess<RenderHostInfo> | undefined;
let player: StreamReceiver | undefined;
const verdicts: RoundVerdict[] = [];
server.hub.on('verdict', (verdict) => verdicts.push(verdict));
const nextVerdict = async (after: number, timeoutMs: number): Promise<RoundVerdict | undefined> => {
  const deadline = performance.now() + timeoutMs;
  while (verdicts.length <= after && performance.now() < deadline) await sleep(100);
  return verdicts[after];
};

/** `ath-edge checker` processes, as a checker runs them, with the checker role's default probe window. */
const spawnCheckers = async (count: number, set: string[] = []) => {
  const spawned = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const name = `checker-${checkers.length + i + 1}`;
      const key = (await server.chain.newStakedAccount('checker')).privateKey;
      return RoleProcess.spawn<CheckerInfo>({
        role: 'checker',
        args: [
          '--signaling',
          server.httpUrl,
          '--data-dir',
          dataDir,
          '--log-file',
          join(dataDir, `${name}.log`),
          '--set',
          `checker.name=${name}`,
          '--set',
          `checker.key=${key}`,
          '--set',
          'checker.metricsPort=0',
          ...set.flatMap((s) => ['--set', s]),
        ],
        outputFile: join(dataDir, `${name}.out`),
        launcher: othersLauncher,
      });
    }),
  );
  checkers.push(...spawned);
};
const stopCheckers = async () => {
  await Promise.all(checkers.splice(0).map((c) => c.stop()));
};
const watched = (): CpuWatch[] => [
  ...(host?.pid ? [{ name: 'renderHost', pid: host.pid }] : []),
  { name: 'signalingAndPlayer', pid: process.pid },
  ...checkers.flatMap((c) => (c.pid ? [{ name: 'checkers', pid: c.pid }] : [])),
];

try {
  progress(`starting a render host (placement ${placement})`);
  host = await RoleProcess.spawn<RenderHostInfo>({
    role: 'render-host',
    args: [
      '--signaling',
      server.httpUrl,
      '--host-id',
      'bench-host',
      '--data-dir',
      dataDir,
      '--log-file',
      join(dataDir, 'host.log'),
      '--set',
      // One slot for the live player and one free for the probes; or (--host-slots 1) the live player's only: the
      // probes run in the host's probe reserve.
      `renderHost.slots=${hostSlots}`,
      // Signaling admits staked providers only.
      '--set',
      `renderHost.providerKey=${(await server.chain.newStakedAccount('software')).privateKey}`,
    ],
    outputFile: join(dataDir, 'host.out'),
    // BENCH_HOST_CPU_PROF=<dir>: where the host's time goes, thread by thread (V8 CPU profiles, written as each
    // thread ends; Node refuses --cpu-prof in NODE_OPTIONS, so it goes on the command line).
    launcher: [
      ...hostLauncher,
      ...(process.env.BENCH_HOST_CPU_PROF
        ? ['sh', '-c', `n=$1; shift; exec "$n" --cpu-prof --cpu-prof-dir=${process.env.BENCH_HOST_CPU_PROF} "$@"`, 'sh']
        : []),
    ],
  });
  const hostId = host.info.hostId;
  await sleep(3_000);
  progress('host idle: 6 s');
  let window = startCpuWindow(watched());
  await sleep(6_000);
  const idle = window.stop();

  progress('one checker probing (a real session, 14 s window): 6 s after 4 s to start the game and connect');
  await spawnCheckers(1, ['checker.windowMs=14000', 'checker.pings=20']);
  await sleep(4_000);
  window = startCpuWindow(watched());
  await sleep(6_000);
  const oneProbe = window.stop();
  await nextVerdict(0, 30_000);
  await stopCheckers();

  progress('three checkers, then a live player');
  await spawnCheckers(3);
  // Their registration starts a round on the idle host: let it finish.
  await nextVerdict(verdicts.length, 60_000);
  const peer = await connectTestPlayer(server, secret);
  peer.send({ type: 'play', game: 'neon-drift', codecs: ['H264'], queue: false });
  const session = await peer.next('session', 20_000);
  const offer = await peer.next('offer', 20_000);
  const connected = await StreamReceiver.connect({ offerSdp: offer.sdp, codecs: ['H264'] });
  player = connected.receiver;
  peer.send({ type: 'answer', sessionId: session.sessionId, sdp: connected.answerSdp });
  const live = player;
  await live.waitFor('the first frames', () => live.video.framesComplete > 30, 30_000);
  // What the host says it sends the live player (its host-reports), beside what the player receives.
  const hostClaims: { atMs: number; fps: number }[] = [];
  server.hub.on('report', (report) => {
    if (report.sessionId === session.sessionId && report.source === 'host') {
      hostClaims.push({ atMs: performance.now(), fps: report.fpsMilli / 1000 });
    }
  });
  const measure = async (ms: number) => {
    const f0 = live.video.framesComplete;
    const i0 = live.video.framesIncomplete;
    const t0 = performance.now();
    const cpu = startCpuWindow(watched());
    await sleep(ms);
    const t1 = performance.now();
    const claims = hostClaims.filter((c) => c.atMs > t0 && c.atMs <= t1).map((c) => c.fps);
    return {
      fps: (live.video.framesComplete - f0) / ((t1 - t0) / 1000),
      incompleteFps: (live.video.framesIncomplete - i0) / ((t1 - t0) / 1000),
      hostClaimedFps: claims.length > 0 ? claims.reduce((a, b) => a + b, 0) / claims.length : Number.NaN,
      cpu: cpu.stop(),
    };
  };
  type Measured = Awaited<ReturnType<typeof measure>>;
  // Alternate the two conditions a few times so the shared box's drifting load hits both alike.
  const alone: Measured[] = [];
  const probed: Measured[] = [];
  const roundSeconds: number[] = [];
  const roundSecondsNearProbeStart: number[] = [];
  const roundSecondsSteady: number[] = [];
  const aftermathSeconds: number[] = [];
  const framesLostPerRound: number[] = [];
  const roundAndAftermathSeconds: number[] = [];
  const workerBootsPerRound: number[] = [];
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    await sleep(2_000);
    progress(`cycle ${cycle}/${CYCLES}: player alone 5 s, then a round of three checkers' probes beside it`);
    alone.push(await measure(5_000));
    const before = verdicts.length;
    const roundStarted = performance.now();
    // A round now, as a dispute of this session brings one (a scheduled round is the same three probes).
    if (!server.hub.checkers.sampleSession({ sessionId: session.sessionId, hostId, game: 'neon-drift' })) {
      throw new Error('no round started');
    }
    // The live player's frames in each second of the round, and when the host started each probe's session.
    const perSecond: number[] = [];
    let framesBefore = live.video.framesComplete;
    const ticker = setInterval(() => {
      perSecond.push(live.video.framesComplete - framesBefore);
      framesBefore = live.video.framesComplete;
    }, 1000);
    const roundStartedEpoch = Date.now();
    await sleep(2_000);
    probed.push(await measure(5_000));
    const verdict = await nextVerdict(before, 90_000);
    roundSeconds.push((performance.now() - roundStarted) / 1000);
    const roundLength = perSecond.length;
    // A host that boots session workers for the round's probes pays for it some seconds later (a refill): that is
    // part of what the round costs the live player.
    await sleep(AFTERMATH_MS);
    clearInterval(ticker);
    const aloneFps = alone.at(-1)?.fps ?? 0;
    aftermathSeconds.push(...perSecond.slice(roundLength));
    framesLostPerRound.push(perSecond.reduce((lost, frames) => lost + (aloneFps - frames), 0));
    roundAndAftermathSeconds.push(perSecond.length);
    const hostLines = readFileSync(join(dataDir, 'host.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { time: number; msg: string; sessionId?: string })
      .filter((entry) => entry.time >= roundStartedEpoch && entry.sessionId !== session.sessionId);
    const probeStarts = hostLines.filter((e) => e.msg === 'session starting').map((e) => e.time - roundStartedEpoch);
    workerBootsPerRound.push(hostLines.filter((e) => e.msg === 'session worker booting').length);
    perSecond.slice(0, roundLength).forEach((frames, i) => {
      // A second that ends within PROBE_START_MS after a probe's session started, or the rest of the round.
      const nearStart = probeStarts.some((startMs) => (i + 1) * 1000 > startMs && i * 1000 < startMs + PROBE_START_MS);
      (nearStart ? roundSecondsNearProbeStart : roundSecondsSteady).push(frames);
    });
    progress(
      `live fps per second from the round's start: ${perSecond.slice(0, roundLength).join(' ')} | after it: ${perSecond.slice(roundLength).join(' ')}; probes started at ${probeStarts.map((ms) => `+${(ms / 1000).toFixed(1)} s`).join(', ')}`,
    );
    if (process.env.BENCH_TIMELINE) {
      for (const entry of hostLines) {
        progress(
          `  +${((entry.time - roundStartedEpoch) / 1000).toFixed(2)} s ${entry.msg} ${entry.sessionId?.slice(0, 10) ?? ''}`,
        );
      }
    }
    if (verdict) progress(`round: ${verdict.verdict}, ${verdict.responders} responders`);
  }
  peer.send({ type: 'quit', sessionId: session.sessionId });
  peer.terminate();

  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const meanCpu = (windows: CpuBreakdown[]) => {
    const names = [...new Set(windows.flatMap((w) => Object.keys(w.cores)))];
    return {
      machineCores: round(mean(windows.map((w) => w.machineCores)), 2),
      ...Object.fromEntries(names.map((n) => [`${n}Cores`, round(mean(windows.map((w) => w.cores[n] ?? 0)), 2)])),
      otherCores: round(mean(windows.map((w) => w.otherCores)), 2),
      processes: windows.at(-1)?.processes,
      busiestThreads: windows.at(-1)?.busiestThreads,
    };
  };
  const fpsAlone = mean(alone.map((m) => m.fps));
  const fpsProbed = mean(probed.map((m) => m.fps));
  const impact = (100 * (fpsProbed - fpsAlone)) / fpsAlone;
  const meanRound = mean(roundSeconds);
  console.log(
    JSON.stringify({
      bench: 'checker',
      reportsVerifiedPerSec: round(reportsVerifiedPerSec, 0),
      placement,
      placementMeans: PLACEMENTS[placement],
      hostSlots,
      probeCpuPct: round(100 * ((oneProbe.cores.renderHost ?? 0) - (idle.cores.renderHost ?? 0)), 1),
      liveFpsImpactPct: round(impact, 1),
      probeRoundSeconds: round(meanRound, 1),
      liveFpsImpactAveragedPct: round(impact * (meanRound / (DEFAULT_CHECK_SETTINGS.busyDeferralMs / 1000)), 2),
      liveFpsAlone: round(fpsAlone, 1),
      liveFpsWithProbes: round(fpsProbed, 1),
      liveFpsImpactWholeRoundPct: round(
        (100 * (mean([...roundSecondsNearProbeStart, ...roundSecondsSteady]) - fpsAlone)) / fpsAlone,
        1,
      ),
      liveFpsImpactNearProbeStartPct: round((100 * (mean(roundSecondsNearProbeStart) - fpsAlone)) / fpsAlone, 1),
      liveFpsImpactProbeSteadyPct: round((100 * (mean(roundSecondsSteady) - fpsAlone)) / fpsAlone, 1),
      liveFpsImpactAfterRoundPct: round((100 * (mean(aftermathSeconds) - fpsAlone)) / fpsAlone, 1),
      liveFramesLostPerRound: round(mean(framesLostPerRound), 0),
      roundAndAftermathSeconds: round(mean(roundAndAftermathSeconds), 0),
      liveFpsImpactAveragedInclRefillPct: round(
        (-100 * mean(framesLostPerRound)) / (fpsAlone * (DEFAULT_CHECK_SETTINGS.busyDeferralMs / 1000)),
        2,
      ),
      hostWorkerBootsPerRound: round(mean(workerBootsPerRound), 1),
      liveIncompleteFramesPerSecAlone: round(mean(alone.map((m) => m.incompleteFps)), 1),
      liveIncompleteFramesPerSecWithProbes: round(mean(probed.map((m) => m.incompleteFps)), 1),
      hostClaimedFpsAlone: round(mean(alone.map((m) => m.hostClaimedFps)), 1),
      hostClaimedFpsWithProbes: round(mean(probed.map((m) => m.hostClaimedFps)), 1),
      cpu: {
        hostIdle: meanCpu([idle]),
        oneProbe: meanCpu([oneProbe]),
        liveAlone: meanCpu(alone.map((m) => m.cpu)),
        liveWithProbes: meanCpu(probed.map((m) => m.cpu)),
      },
      // A shared box: how busy it was says how far to trust the CPU and fps figures.
      loadAverage1m: round(loadavg()[0] ?? 0, 2),
      machine: machineInfo(),
    }),
  );
} finally {
  await stopCheckers();
  await player?.close();
  await host?.stop();
  await server.close();
  cpuGroups?.close();
  rmSync(dataDir, { recursive: true, force: true });
}
// Done, the JSON printed and everything stopped: exit even if a library keeps a handle open (a closed werift peer's
// sockets), so a bench run under the shared heavy lock never holds it after its figures (it did for minutes).
process.exit(0);
