/**
 * raiseSessionThread on real processes: a child Node process sets its own priority as a render host does
 * (applySchedulingPriority), then a worker thread — as a session's does — raises itself; the child reports every
 * thread's nice from /proc (as the kernel schedules them) and the worker's thread id.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';

const HOST_MODULE_URL = new URL('../host/schedulingPriority.ts', import.meta.url).href;
const MODULE_URL = new URL('./sessionThreadPriority.ts', import.meta.url).href;
/** Workers do not get tsx's hooks for their own entry (spawnSessionWorker.ts): the worker registers them. */
const TSX_API_URL = import.meta.resolve('tsx/esm/api');
const IS_ROOT = process.getuid?.() === 0;
const CAN_DROP_PRIVILEGES = IS_ROOT && existsSync('/usr/bin/setpriv');
const LINUX = process.platform === 'linux';

type ChildReport = {
  host: { applied: boolean } | null;
  raise: { raised: boolean; nice: number; reason?: string };
  workerTid: number;
  nices: Record<string, number>;
};

/** In the child: the host's priority (unless `hostNice` is null), a worker that raises itself, then every thread's nice. */
const CHILD = (hostNice: number | null) => `
  import { readdirSync, readFileSync } from 'node:fs';
  import { Worker } from 'node:worker_threads';
  const { applySchedulingPriority } = await import(${JSON.stringify(HOST_MODULE_URL)});
  const host = ${hostNice === null ? 'null' : `applySchedulingPriority(${hostNice})`};
  const worker = new Worker(\`
    import { parentPort } from 'node:worker_threads';
    import { readlinkSync } from 'node:fs';
    (await import(${JSON.stringify(TSX_API_URL)})).register();
    const { raiseSessionThread } = await import(${JSON.stringify(MODULE_URL)});
    const raise = raiseSessionThread();
    parentPort.postMessage({ raise, tid: Number(readlinkSync('/proc/thread-self').split('/').at(-1)) });
    setInterval(() => {}, 1000);
  \`, { eval: true });
  const { raise, tid } = await new Promise((resolve) => worker.once('message', resolve));
  const nices = {};
  for (const id of readdirSync('/proc/self/task')) {
    const stat = readFileSync('/proc/self/task/' + id + '/stat', 'utf8');
    nices[id] = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  }
  process.stdout.write(JSON.stringify({ host, raise, workerTid: tid, nices }));
  process.exit(0);
`;

function runChild(hostNice: number | null, asNobody = false): Promise<ChildReport> {
  const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', CHILD(hostNice)];
  const [command, ...args] = asNobody
    ? ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...node]
    : node;
  return new Promise((resolve, reject) => {
    const child = spawn(command as string, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`child exited ${code}: ${err.slice(0, 2000)}`));
      else resolve(JSON.parse(out) as ChildReport);
    });
  });
}

/** Every thread's nice but the worker's, and the worker's. */
function split(report: ChildReport): { others: number[]; worker: number | undefined } {
  const others = Object.entries(report.nices)
    .filter(([tid]) => Number(tid) !== report.workerTid)
    .map(([, nice]) => nice);
  return { others, worker: report.nices[String(report.workerTid)] };
}

describe('a session thread’s priority', { skip: !LINUX && 'per-thread nice is Linux' }, () => {
  it('is raised five levels above a raised host, and no other thread moves', {
    skip: !IS_ROOT && 'raising priority needs root here',
  }, async () => {
    const report = await runChild(-5);
    assert.deepEqual(report.raise, { raised: true, nice: -10 });
    const { others, worker } = split(report);
    assert.equal(worker, -10, JSON.stringify(report));
    assert.ok(others.length >= 3, `the process has other threads: ${JSON.stringify(report.nices)}`);
    assert.deepEqual(
      others.filter((nice) => nice !== -5),
      [],
      `the others stay at the host's -5: ${JSON.stringify(report.nices)}`,
    );
  });

  it('stops at -20', { skip: !IS_ROOT && 'raising priority needs root here' }, async () => {
    const report = await runChild(-18);
    assert.deepEqual(report.raise, { raised: true, nice: -20 });
    assert.equal(split(report).worker, -20);
  });

  it('stays with a host left at its own priority (by choice, or refused)', async () => {
    const unraised = await runChild(null, CAN_DROP_PRIVILEGES);
    assert.equal(unraised.raise.raised, false);
    assert.match(unraised.raise.reason ?? '', /own priority/);
    assert.deepEqual(
      Object.values(unraised.nices).filter((nice) => nice !== 0),
      [],
      JSON.stringify(unraised.nices),
    );
    if (!CAN_DROP_PRIVILEGES) return;
    const refused = await runChild(-5, true);
    assert.equal(refused.host?.applied, false);
    assert.equal(refused.raise.raised, false);
    assert.deepEqual(
      Object.values(refused.nices).filter((nice) => nice !== 0),
      [],
      JSON.stringify(refused.nices),
    );
  });
});
