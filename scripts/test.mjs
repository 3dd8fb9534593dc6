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
//
// The test processes run the code compiled once to JavaScript (scripts/compileTests.mjs says why: module loading
// through tsx was a large share of the suite's CPU); `ATH_TEST_FROM_SOURCE=1` runs them through tsx instead.
// Each lane ends with its slowest files (scripts/testTimes.mjs; the figures are kept in .cache/test-times.json).
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CODE_DIRS, compileTests, SKIP } from './compileTests.mjs';

const root = new URL('..', import.meta.url).pathname;

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

// `--lane together` or `--lane alone` runs one lane only (e.g. to time it).
const laneArg = process.argv.indexOf('--lane');
const onlyLane = laneArg >= 0 ? process.argv[laneArg + 1] : undefined;
const args = process.argv.slice(2).filter((_, i, all) => all[i] !== '--lane' && all[i - 1] !== '--lane');
const roots = args.length > 0 ? args : CODE_DIRS;
const files = roots.flatMap((r) => (r.endsWith('.test.ts') ? [r] : findTests(join(root, r), []))).sort();
if (files.length === 0) {
  console.error(`no *.test.ts files under ${roots.join(', ')}`);
  process.exit(1);
}
const runsAlone = (file) => ALONE.some(([prefix]) => file.startsWith(prefix));

const timesPath = join(root, '.cache', 'test-times.json');
/** Seconds each file took in earlier runs (none on a fresh clone): a run of one folder keeps the others'. */
function readTimes() {
  try {
    const parsed = JSON.parse(readFileSync(timesPath, 'utf8'));
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {};
  }
}
const times = readTimes();
// Longest first (a file never timed counts as long): with several files at a time, the lane then ends on short
// files instead of waiting for one long file started last.
const together = files
  .filter((file) => !runsAlone(file))
  .sort((a, b) => (times[b] ?? Number.POSITIVE_INFINITY) - (times[a] ?? Number.POSITIVE_INFINITY));
const alone = files.filter(runsAlone);

const fromSource = process.env.ATH_TEST_FROM_SOURCE === '1';
const cacheDir = join(root, '.cache');
/** This run's compiled mirror (one per run: two runs in one checkout must not rebuild each other's). */
const mirror = join(cacheDir, `test-js-${process.pid}`);
/** Mirrors of runs that were killed before they could remove theirs. */
function removeStaleMirrors() {
  let names = [];
  try {
    names = readdirSync(cacheDir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = /^test-js-(\d+)$/.exec(name)?.[1];
    if (!pid) continue;
    try {
      process.kill(Number(pid), 0);
    } catch {
      rmSync(join(cacheDir, name), { recursive: true, force: true });
    }
  }
}
/** The path node runs for a test file, and back. */
const runPath = (file) => (fromSource ? file : join(relative(root, mirror), file.replace(/\.ts$/, '.js')));
const sourcePath = (file) => (fromSource ? file : relative(mirror, join(root, file)).replace(/\.js$/, '.ts'));

/** Lines a reporter appended to `path` (none if it never wrote), each parsed; the file is removed. */
function takeJsonLines(path) {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    // nothing was written
  }
  rmSync(path, { force: true });
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

/**
 * One `node --test` over `lane`, resolving to its exit code, the seconds each file's tests took and the tests that
 * failed (`[file, line, name, message]`).
 */
async function runLane(lane, concurrency) {
  const stamp = `${process.pid}-${Date.now()}`;
  const timesFile = join(tmpdir(), `ath-test-times-${stamp}.jsonl`);
  const failuresFile = join(tmpdir(), `ath-test-failures-${stamp}.jsonl`);
  // The console reporter stays what node picks by default (spec on a terminal, TAP otherwise); the second one
  // writes the per-file times.
  const reporters = [
    `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts', 'testTimes.mjs')}`,
    '--test-reporter-destination=/dev/null',
  ];
  // --test-force-exit: a file whose tests are done exits even if a library left a handle open (werift keeps a
  // closed peer's UDP sockets when the remote was a browser that sent mDNS candidates), so one leak cannot
  // stall the whole run; the leak itself is a bug to fix where it happens.
  // --enable-source-maps: stack traces from the compiled mirror name the .ts files and lines.
  const loader = fromSource ? ['--import', 'tsx'] : ['--enable-source-maps'];
  const child = spawn(
    process.execPath,
    [...loader, '--test', '--test-force-exit', `--test-concurrency=${concurrency}`, ...reporters, ...lane.map(runPath)],
    {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, ATH_TEST_TIMES_FILE: timesFile, ATH_TEST_FAILURES_FILE: failuresFile },
    },
  );
  running = child;
  const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
  const seconds = {};
  for (const [file, s] of takeJsonLines(timesFile)) {
    const source = sourcePath(file);
    seconds[source] = (seconds[source] ?? 0) + s;
  }
  // Source maps already name the .ts file of a failure inside a test; a file-level failure names the mirror's .js.
  const failures = takeJsonLines(failuresFile).map(([file, line, name, message]) => [
    file.endsWith('.ts') ? file : sourcePath(file),
    line,
    name,
    message,
  ]);
  return { code, seconds, failures };
}

/** Records this run's times (files not run this time keep their old figure). */
function saveTimes(seconds) {
  Object.assign(times, seconds);
  try {
    mkdirSync(join(root, '.cache'), { recursive: true });
    writeFileSync(timesPath, `${JSON.stringify(times, null, 1)}\n`);
  } catch {
    // a read-only checkout runs in name order next time
  }
}

const slowest = (seconds, count) =>
  Object.entries(seconds)
    .sort(([, a], [, b]) => b - a)
    .slice(0, count)
    .map(([file, s]) => `#   ${s.toFixed(1).padStart(6)} s  ${file}`)
    .join('\n');

let running;
// Ctrl-C or a CI timeout: the lane's node gets the signal too (same process group); the mirror goes with us.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    running?.kill(signal);
    if (!fromSource) rmSync(mirror, { recursive: true, force: true });
    process.exit(130);
  });
}

const started = Date.now();
const minutes = () => `${((Date.now() - started) / 60_000).toFixed(1)} min`;
if (!fromSource) {
  removeStaleMirrors();
  const compiled = await compileTests(root, mirror);
  console.log(
    `# compiled ${compiled} TypeScript files to ${relative(root, mirror)} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}
const lanes = [
  {
    key: 'together',
    name: `${together.length} files, ${TOGETHER_CONCURRENCY} at a time`,
    files: together,
    concurrency: TOGETHER_CONCURRENCY,
  },
  { key: 'alone', name: `${alone.length} files that run alone`, files: alone, concurrency: 1 },
]
  .filter((lane) => onlyLane === undefined || lane.key === onlyLane)
  .filter((lane) => lane.files.length > 0);
console.log(`running ${files.length} test files: ${lanes.map((lane) => lane.name).join(', then ')}`);
const listFailures = (failures) =>
  failures
    .slice(0, 40)
    .map(([file, line, name, message]) => `#   ${file}:${line}  ${name}: ${message}`)
    .join('\n');
const codes = [];
const allFailures = [];
for (const lane of lanes) {
  console.log(`# lane: ${lane.name}`);
  const { code, seconds, failures } = await runLane(lane.files, lane.concurrency);
  saveTimes(seconds);
  console.log(`# lane: ${lane.name}: ${code === 0 ? 'passed' : `FAILED (exit ${code})`} at ${minutes()}`);
  if (Object.keys(seconds).length > 0) console.log(`# its slowest files (seconds of tests):\n${slowest(seconds, 8)}`);
  codes.push(code);
  allFailures.push(...failures);
}
if (!fromSource) rmSync(mirror, { recursive: true, force: true });
// Last, so that the tail of a log says what failed and why.
if (allFailures.length > 0) console.log(`# ${allFailures.length} failed test(s):\n${listFailures(allFailures)}`);
process.exit(codes.find((code) => code !== 0) ?? 0);
