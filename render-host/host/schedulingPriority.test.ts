/**
 * applySchedulingPriority on real processes: a child Node process with a worker thread started before and one
 * after the call reports the nice value of each of its threads from /proc (as the kernel schedules them); run as
 * an unprivileged user (`setpriv`, util-linux) it is refused and every thread keeps nice 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';

const MODULE_URL = new URL('./schedulingPriority.ts', import.meta.url).href;
const IS_ROOT = process.getuid?.() === 0;
const CAN_DROP_PRIVILEGES = IS_ROOT && existsSync('/usr/bin/setpriv');
const LINUX = process.platform === 'linux';

type ChildReport = { result: { applied: boolean; nice: number; reason?: string }; nices: number[]; threads: number };

/** In the child: a worker before, the call, a worker after; then every thread's nice (field 19 of its stat). */
const CHILD = (nice: number) => `
  import { readdirSync, readFileSync } from 'node:fs';
  import { Worker } from 'node:worker_threads';
  const { applySchedulingPriority } = await import(${JSON.stringify(MODULE_URL)});
  const idle = 'setInterval(() => {}, 1000)';
  const before = new Worker(idle, { eval: true });
  await new Promise((resolve) => before.once('online', resolve));
  const result = applySchedulingPriority(${nice});
  const after = new Worker(idle, { eval: true });
  await new Promise((resolve) => after.once('online', resolve));
  const nices = readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
  process.stdout.write(JSON.stringify({ result, nices, threads: nices.length }));
  process.exit(0);
`;

function runChild(nice: number, asNobody: boolean): Promise<ChildReport> {
  const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', CHILD(nice)];
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

describe('the render host’s scheduling priority', { skip: !LINUX && 'per-thread nice is Linux' }, () => {
  it('sets every thread of the process, those started before and after the call', {
    skip: !IS_ROOT && 'raising priority needs root here',
  }, async () => {
    const report = await runChild(-3, false);
    assert.equal(report.result.applied, true, JSON.stringify(report.result));
    assert.ok(report.threads >= 4, `a Node process with two workers has several threads (${report.threads})`);
    assert.deepEqual(
      report.nices.filter((nice) => nice !== -3),
      [],
      `every thread at nice -3: ${JSON.stringify(report.nices)}`,
    );
  });

  it('an unprivileged process is refused, says why, and every thread keeps its priority', {
    skip: !CAN_DROP_PRIVILEGES && 'needs root and setpriv to run as nobody',
  }, async () => {
    const report = await runChild(-3, true);
    assert.equal(report.result.applied, false);
    assert.match(report.result.reason ?? '', /EACCES|EPERM/);
    assert.equal(report.result.nice, 0);
    assert.deepEqual(
      report.nices.filter((nice) => nice !== 0),
      [],
      `every thread still at 0: ${JSON.stringify(report.nices)}`,
    );
  });

  it('a lower priority needs no privilege; an out-of-range value is refused without a system call', async () => {
    const lower = await runChild(4, CAN_DROP_PRIVILEGES);
    assert.equal(lower.result.applied, true, JSON.stringify(lower.result));
    assert.deepEqual(
      lower.nices.filter((nice) => nice !== 4),
      [],
      JSON.stringify(lower.nices),
    );
    const bad = await runChild(-21, false);
    assert.equal(bad.result.applied, false);
    assert.match(bad.result.reason ?? '', /not an integer from -20 to 19/);
  });
});
