#!/usr/bin/env node
// The one test command: finds `*.test.ts` beside the code (Node 20 does not expand globs after --test)
// and runs them with node's test runner through tsx. `node scripts/test.mjs edge/chain` narrows the run.
//
// Two lanes, one after the other, so the whole suite fits in 15 minutes on a 2-core machine:
// - files that need the machine to themselves (they stream video and hold it to an fps floor, drive Chromium,
//   build network namespaces or load the box on purpose: ALONE below) run one at a time;
// - every other file (ledger, chain, protocol, signaling logic: mostly waiting on anvil, PGlite or sockets) runs
//   TOGETHER_CONCURRENCY at a time.
// `ATH_TEST_CONCURRENCY=1` runs everything one at a time (to tell a flake from a fault).
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const SKIP = new Set(['node_modules', 'dist', '.cache', '.git']);

/** Path prefixes of files that run alone, and why. */
const ALONE = [
  ['e2e/', 'whole stacks, Chromium, network namespaces, fps floors'],
  ['render-host/session/StreamSession.test.ts', 'WebRTC streams held to fps floors'],
  ['render-host/session/SessionPeer.test.ts', 'a WebRTC stream'],
  ['render-host/session/SessionPipeline.test.ts', 'a WebRTC stream with the encoder saturated'],
  ['render-host/session/congestion.test.ts', 'a shaped link in a network namespace'],
  ['render-host/session/workerTeardown.test.ts', 'session workers stopped mid-encode'],
  ['render-host/session/VideoEncoder.test.ts', 'encoders at full rate'],
  ['render-host/session/FramePacer.test.ts', 'wall-clock frame ticks'],
  ['render-host/session/GameMediaSource.test.ts', 'renders and encodes in real time'],
  ['render-host/host/', 'render hosts streaming real and external games'],
  ['render-host/apps/AppWorkload.test.ts', 'game processes on their own displays'],
  ['client/pages/play/play.test.ts', 'Chromium'],
  ['client/pages/providers/providers.test.ts', 'Chromium'],
  ['client/sdk/StreamConnection.test.ts', 'Chromium receiving a stream'],
  ['client/sdk/frameMarks/PresentedFrameWatcher.test.ts', 'Chromium'],
  ['edge/checker/checker.test.ts', 'checkers probing real render hosts'],
  ['edge/checker/checkerRole.test.ts', 'the checker role process'],
  ['edge/checker/probeStarted.test.ts', 'a checker node against a probe deadline'],
  ['edge/provider/provider.test.ts', 'the whole provider stack and Chromium'],
  ['signaling/bench/', 'loads the box on purpose'],
  ['signaling/hub/heartbeatStall.test.ts', 'stalls on wall-clock heartbeats'],
  ['signaling/hub/matchmaking.test.ts', 'RTT probes against a deadline'],
  ['edge/economy/trust.test.ts', 'checker rounds on wall-clock windows'],
];
const TOGETHER_CONCURRENCY = Number(process.env.ATH_TEST_CONCURRENCY ?? 3);

function findTests(dir, out) {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

const args = process.argv.slice(2);
const roots = args.length > 0 ? args : ['signaling', 'render-host', 'client', 'metrics', 'edge', 'e2e'];
const files = roots.flatMap((r) => (r.endsWith('.test.ts') ? [r] : findTests(join(root, r), []))).sort();
if (files.length === 0) {
  console.error(`no *.test.ts files under ${roots.join(', ')}`);
  process.exit(1);
}
const runsAlone = (file) => ALONE.some(([prefix]) => file.startsWith(prefix));
const together = files.filter((file) => !runsAlone(file));
const alone = files.filter(runsAlone);

/** One `node --test` over `lane`, resolving to its exit code. */
function runLane(lane, concurrency) {
  // --test-force-exit: a file whose tests are done exits even if a library left a handle open (werift keeps a
  // closed peer's UDP sockets when the remote was a browser that sent mDNS candidates), so one leak cannot
  // stall the whole run; the leak itself is a bug to fix where it happens.
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-force-exit', `--test-concurrency=${concurrency}`, ...lane],
    { cwd: root, stdio: 'inherit' },
  );
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

const started = Date.now();
const minutes = () => `${((Date.now() - started) / 60_000).toFixed(1)} min`;
const lanes = [
  {
    name: `${together.length} files, ${TOGETHER_CONCURRENCY} at a time`,
    files: together,
    concurrency: TOGETHER_CONCURRENCY,
  },
  { name: `${alone.length} files that run alone`, files: alone, concurrency: 1 },
].filter((lane) => lane.files.length > 0);
console.log(`running ${files.length} test files: ${lanes.map((lane) => lane.name).join(', then ')}`);
const codes = [];
for (const lane of lanes) {
  console.log(`# lane: ${lane.name}`);
  const code = await runLane(lane.files, lane.concurrency);
  console.log(`# lane: ${lane.name}: ${code === 0 ? 'passed' : `FAILED (exit ${code})`} at ${minutes()}`);
  codes.push(code);
}
process.exit(codes.find((code) => code !== 0) ?? 0);
