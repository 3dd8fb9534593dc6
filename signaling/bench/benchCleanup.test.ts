/**
 * bench:indexer's child processes end with the bench, even when the bench is killed (SIGKILL: no handler of
 * its runs) — before, a killed run left them serving, at 60–80 % CPU, deaf to SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('./indexerBench.ts', import.meta.url));

function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]);
      if (ppid === pid) found.push(Number(entry), ...childrenOf(Number(entry)));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    const state = /State:\s+(\w)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return state !== 'Z';
  } catch {
    return false;
  }
}

describe('bench:indexer cleanup', () => {
  test('killing the bench with SIGKILL ends its child processes (signaling, load generators, redis-server, anvil)', async () => {
    const bench = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        BENCH,
        '--sockets-only',
        '--skip-compare',
        '--single-sockets',
        '100',
        '--sockets',
        '400',
        '--seconds',
        '2',
        '--instances',
        '2',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    bench.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    let servers: number[] = [];
    try {
      // Wait until both instances of the Redis network are up and the bench is connecting sockets to them.
      const deadline = Date.now() + 90_000;
      while (Date.now() < deadline && !/two instances \+ Redis: connecting/.test(stderr))
        await new Promise((r) => setTimeout(r, 200));
      servers = childrenOf(bench.pid ?? 0);
      const commands = servers.map(commandOf);
      const signaling = commands.filter((c) => c.includes('benchServer.ts'));
      const redis = commands.filter((c) => c.startsWith('redis-server'));
      // Two: the two-instance run comes first, the one-instance runs after it.
      assert.equal(
        signaling.length,
        2,
        `signaling servers of the bench: ${commands.join(' | ')}; ${stderr.slice(-500)}`,
      );
      assert.equal(redis.length, 1, `redis-server of the bench: ${commands.join(' | ')}`);
      assert.ok(
        commands.some((c) => /\/anvil /.test(c)),
        `anvil of the bench: ${commands.join(' | ')}`,
      );
      bench.kill('SIGKILL');
      const gone = Date.now() + 10_000;
      while (Date.now() < gone && servers.some(alive)) await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(
        servers.filter(alive).map(commandOf),
        [],
        'server processes left running after the bench was killed',
      );
    } finally {
      bench.kill('SIGKILL');
      for (const pid of servers.filter(alive)) process.kill(pid, 'SIGKILL');
    }
  });
});
