/**
 * `npm run bench:checker` — what checking costs:
 *   reportsVerifiedPerSec  signed CheckReports verified per second on one core, the way signaling's
 *                          CheckerDesk verifies them (CheckReportVerifier: a key recovered per checker, then
 *                          WASM ECDSA verifies; viem's recoverTypedDataAddress did ≈450/s here)
 *   probeCpuPct            extra CPU of a render host process (all threads) while it serves one probe — a real
 *                          player session of the game at 720p60 now, on a free slot — over the same host idle,
 *                          % of one core
 *   liveFpsImpactPct       change of a live player's received frame rate (a werift receiver counting complete
 *                          frames) while its host serves a round of three checkers' probes (one after the
 *                          other, on the host's other slot), in % (negative = slower); 3 alternating cycles of
 *                          5 s alone / 5 s probed, averaged
 *   liveFpsImpactAveragedPct  the same impact spread over the time between two rounds of a container that serves
 *                          players (signaling's busyDeferralMs, 10 min): what a player loses to checks
 * Real parts throughout: in-process signaling with short check rounds, an `ath-edge render-host` process,
 * real checker nodes. The last line printed is one JSON object.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Address, Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { StreamReceiver } from '../../render-host/index.js';
import { machineInfo, round } from '../../signaling/bench/machine.js';
import { DEFAULT_CHECK_SETTINGS } from '../../signaling/checkers/CheckerDesk.js';
import { CheckReportVerifier } from '../../signaling/checkers/CheckReportVerifier.js';
import { connectTestPlayer, startTestSignaling } from '../../signaling/testing/startTestSignaling.js';
import type { RenderHostInfo } from '../roles/runRenderHost.js';
import { RoleProcess } from '../stack/RoleProcess.js';
import { signCheckReport } from './signCheckReport.js';
import { type CheckerHandle, startChecker } from './startChecker.js';

const progress = (line: string) => process.stderr.write(`bench:checker ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const CYCLES = 3;

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU of `pid` over `ms`, % of one core. */
async function cpuPct(pid: number, ms: number): Promise<number> {
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  await sleep(ms);
  return (100 * (cpuSeconds(pid) - cpu0)) / ((performance.now() - t0) / 1000);
}

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

// ---- 2 and 3. a real host, a probe, a live player --------------------------------------------------------
const dataDir = mkdtempSync(join(tmpdir(), 'ath-bench-checker-'));
const secret = randomBytes(32);
const server = await startTestSignaling({
  tokenSecret: secret,
  probe: { samples: 0, timeoutMs: 1_000, maxCandidates: 8, maxPlausibleRttMs: 250 },
  // Probes beside the live player every round (signaling defers them while players play: see the JSON).
  checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 300, deadlineMs: 60_000, busyDeferralMs: 0 },
});
const checkers: CheckerHandle[] = [];
let host: RoleProcess<RenderHostInfo> | undefined;
let player: StreamReceiver | undefined;
/** A checker's probe window: what a probe costs is a player session for about this long. */
const PROBE_WINDOW = { warmupMs: 1_000, windowMs: 2_000, pings: 10, connectTimeoutMs: 15_000, pingTimeoutMs: 3_000 };
/** Checkers (their probes of one host run one after the other). */
/** Each running checker's first report, to time a round. */
const firstReports: Promise<void>[] = [];
const startCheckers = async (count: number, window = PROBE_WINDOW) => {
  for (let i = 0; i < count; i++) {
    const checker = await startChecker({
      // Signaling admits staked checkers only.
      account: privateKeyToAccount((await server.chain.newStakedAccount('checker')).privateKey),
      signalingUrl: server.httpUrl,
      bindHost: '127.0.0.1',
      metricsPort: 0,
      window,
      log,
    });
    firstReports.push(new Promise((resolve) => checker.node.on('report', () => resolve())));
    checkers.push(checker);
  }
};
const stopCheckers = async () => {
  firstReports.splice(0);
  for (const checker of checkers.splice(0)) await checker.close();
};

try {
  progress('starting a render host');
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
      // One slot for the live player, one free: probes run on free slots only.
      'renderHost.slots=2',
      // Signaling admits staked providers only.
      '--set',
      `renderHost.providerKey=${(await server.chain.newStakedAccount('software')).privateKey}`,
    ],
    outputFile: join(dataDir, 'host.out'),
  });
  const pid = host.pid;
  if (!pid) throw new Error('no render host pid');
  await sleep(3_000);
  progress('host idle: 6 s');
  const idleCpu = await cpuPct(pid, 6_000);
  progress('one checker probing (a real session): 6 s (after 4 s to start the game and connect)');
  await startCheckers(1, { ...PROBE_WINDOW, windowMs: 14_000, pings: 20 });
  await sleep(4_000);
  const probeCpu = await cpuPct(pid, 6_000);
  await stopCheckers();
  await sleep(2_000);

  progress('a live player');
  const peer = await connectTestPlayer(server, secret);
  peer.send({ type: 'play', game: 'neon-drift', codecs: ['H264'], queue: false });
  const session = await peer.next('session', 20_000);
  const offer = await peer.next('offer', 20_000);
  const connected = await StreamReceiver.connect({ offerSdp: offer.sdp, codecs: ['H264'] });
  player = connected.receiver;
  peer.send({ type: 'answer', sessionId: session.sessionId, sdp: connected.answerSdp });
  const live = player;
  await live.waitFor('the first frames', () => live.video.framesComplete > 30, 30_000);
  const playerFps = async (ms: number) => {
    const f0 = live.video.framesComplete;
    const t0 = performance.now();
    await sleep(ms);
    return (live.video.framesComplete - f0) / ((performance.now() - t0) / 1000);
  };
  // Alternate the two conditions a few times so the shared box's drifting load hits both alike.
  const alone: number[] = [];
  const probed: number[] = [];
  const roundSeconds: number[] = [];
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    await sleep(2_000);
    progress(`cycle ${cycle}/${CYCLES}: player alone 5 s, then with three checkers probing its host 5 s`);
    alone.push(await playerFps(5_000));
    const roundStarted = performance.now();
    await startCheckers(3);
    await sleep(2_000);
    probed.push(await playerFps(5_000));
    // How long the round's probes kept the host busy: until the last checker reported.
    await Promise.race([Promise.all(firstReports), sleep(60_000)]);
    roundSeconds.push((performance.now() - roundStarted) / 1000);
    await stopCheckers();
  }
  const fpsAlone = alone.reduce((a, b) => a + b, 0) / alone.length;
  const fpsProbed = probed.reduce((a, b) => a + b, 0) / probed.length;
  await stopCheckers();
  peer.send({ type: 'quit', sessionId: session.sessionId });
  peer.terminate();

  console.log(
    JSON.stringify({
      bench: 'checker',
      reportsVerifiedPerSec: round(reportsVerifiedPerSec, 0),
      probeCpuPct: round(probeCpu - idleCpu, 1),
      liveFpsImpactPct: round((100 * (fpsProbed - fpsAlone)) / fpsAlone, 1),
      probeRoundSeconds: round(roundSeconds.reduce((a, b) => a + b, 0) / Math.max(1, roundSeconds.length), 1),
      // Signaling checks a container that serves players at most every busyDeferralMs (10 min): a player loses
      // this share of its frames to checks over that time.
      liveFpsImpactAveragedPct: round(
        ((100 * (fpsProbed - fpsAlone)) / fpsAlone) *
          (roundSeconds.reduce((a, b) => a + b, 0) /
            Math.max(1, roundSeconds.length) /
            (DEFAULT_CHECK_SETTINGS.busyDeferralMs / 1000)),
        2,
      ),
      hostIdleCpuPct: round(idleCpu, 1),
      hostCpuWithProbePct: round(probeCpu, 1),
      liveFpsAlone: round(fpsAlone, 1),
      liveFpsWithThreeProbes: round(fpsProbed, 1),
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
  rmSync(dataDir, { recursive: true, force: true });
}
// Done, the JSON printed and everything stopped: exit even if a library keeps a handle open (a closed werift peer's
// sockets), so a bench run under the shared heavy lock never holds it after its figures (it did for minutes).
process.exit(0);
