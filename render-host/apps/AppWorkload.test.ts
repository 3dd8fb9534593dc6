/**
 * Isolation and cleanup of a workload with real processes (Xvfb, PulseAudio, a shell "game" that forks): after
 * `close` nothing of the session is left; a host that died is cleaned up by its watchdog or by the next
 * host's reaper. Skipped where Xvfb or PulseAudio is not installed (`.ci/run` installs them).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { waitUntil } from '../../signaling/testing/waitFor.js';
import {
  type AppManifest,
  AppWorkload,
  findSessionProcesses,
  parseAppManifest,
  reapStaleAppSessions,
  resolveExecutable,
  SESSION_MARKER_ENV,
} from './index.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const helpers = await Promise.all(['Xvfb', 'pulseaudio', 'parec'].map((name) => resolveExecutable(name)));
const skip = helpers.every(Boolean) ? false : 'Xvfb / PulseAudio not installed';

/** A "game" that forks two long sleepers and writes into its home: the whole group must go on close. */
const forking: AppManifest = parseAppManifest(
  {
    id: 'forker',
    title: 'Forker',
    description: 'test workload',
    launch: {
      command: 'sh',
      args: [
        '-c',
        'echo saved > "$HOME/save.txt"; echo "$DISPLAY" > "$HOME/display.txt"; sleep 600 & sleep 600 & wait',
      ],
    },
    width: 320,
    height: 240,
    fps: 30,
    inputMode: 'absolute',
    audio: true,
    readiness: { kind: 'delay', delayMs: 0 },
  },
  'test',
);

describe('AppWorkload: isolation and cleanup', { skip }, () => {
  let workRoot: string;
  before(async () => {
    workRoot = await mkdtemp(join(tmpdir(), 'ath-apps-workload-'));
  });
  after(async () => {
    await rm(workRoot, { recursive: true, force: true });
  });

  test('two workloads get their own display, audio server and home; close leaves no process and no directory', {
    timeout: 60_000,
  }, async () => {
    const [a, b] = await Promise.all(
      ['s1', 's2'].map((sessionId) => AppWorkload.start({ manifest: forking, sessionId, workRoot, log })),
    );
    assert.ok(a && b);
    try {
      assert.notEqual(a.display, b.display);
      assert.notEqual(a.homeDir, b.homeDir);
      assert.notEqual(a.captureSpec().audio?.pulseServer, b.captureSpec().audio?.pulseServer);
      await waitUntil(
        async () => {
          const done = await Promise.all(
            [a, b].map((w) => readFile(join(w.homeDir, 'display.txt'), 'utf8').catch(() => '')),
          );
          return done.every((text) => text.length > 0);
        },
        { what: 'both games wrote their home', intervalMs: 50 },
      );
      // Each game saw its own display, and its save stayed in its own home.
      assert.equal((await readFile(join(a.homeDir, 'display.txt'), 'utf8')).trim(), a.display);
      assert.equal((await readFile(join(b.homeDir, 'display.txt'), 'utf8')).trim(), b.display);
      // sh, two sleeps, Xvfb, PulseAudio (and the watchdog) carry the session's marker.
      await waitUntil(async () => (await findSessionProcesses(a.marker)).length >= 5, {
        what: 'all processes up',
        intervalMs: 50,
      });
      const bBefore = (await findSessionProcesses(b.marker)).length;
      await a.close();
      assert.deepEqual(await findSessionProcesses(a.marker), [], 'nothing of the closed session is left');
      await assert.rejects(stat(a.sessionDir), 'its directory (home, sockets) is gone');
      await assert.rejects(stat(`/tmp/.X11-unix/X${a.display.slice(1)}`), 'its display socket is gone');
      assert.equal((await findSessionProcesses(b.marker)).length, bBefore, 'the other session is untouched');
      assert.equal(a.exit, undefined, 'a close is not a crash');
    } finally {
      await Promise.all([a?.close(), b?.close()]);
    }
    assert.deepEqual(await findSessionProcesses(b.marker), []);
  });

  test('the game exiting on its own is reported once, with its exit code', { timeout: 30_000 }, async () => {
    const quitter = parseAppManifest(
      { ...forking, id: 'quitter', audio: false, launch: { command: 'sh', args: ['-c', 'sleep 0.3; exit 4'] } },
      'test',
    );
    const workload = await AppWorkload.start({ manifest: quitter, sessionId: 'q', workRoot, log });
    try {
      const exit = await new Promise<{ code: number | null; message: string }>((resolve) =>
        workload.once('exited', resolve),
      );
      assert.equal(exit.code, 4);
      assert.match(exit.message, /Forker exited with code 4/);
    } finally {
      await workload.close();
    }
    assert.deepEqual(await findSessionProcesses(workload.marker), []);
  });

  test('a host that dies without closing: its watchdog kills the session; the reaper clears what is left', {
    timeout: 60_000,
  }, async () => {
    // A child host process starts a workload and is then SIGKILLed: no exit handler of it runs.
    const script = `
      import { AppWorkload, parseAppManifest } from ${JSON.stringify(new URL('./index.ts', import.meta.url).href)};
      const manifest = parseAppManifest(${JSON.stringify(forking)}, 'child');
      const w = await AppWorkload.start({ manifest, sessionId: 'orphan', workRoot: ${JSON.stringify(workRoot)} });
      process.stdout.write(w.marker + '\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const marker = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
      child.once('exit', (code) => reject(new Error(`child host exited (${code})`)));
    });
    await waitUntil(async () => (await findSessionProcesses(marker)).length >= 5, {
      what: 'the orphan session runs',
      intervalMs: 50,
    });
    child.kill('SIGKILL');
    await waitUntil(async () => (await findSessionProcesses(marker)).length === 0, {
      what: 'the watchdog killed the session',
      intervalMs: 50,
    });
    await waitUntil(async () => !(await stat(join(workRoot, marker)).catch(() => false)), {
      what: 'and removed its directory',
      intervalMs: 50,
    });

    // Something the watchdog could not know about (a process of a session whose owner is dead) is the reaper's.
    const staleDir = join(workRoot, 'stale-abc123');
    await mkdir(staleDir);
    await writeFile(join(staleDir, 'owner.json'), JSON.stringify({ hostPid: 2 ** 22 + 1, hostStartTicks: '1' }));
    const straggler = spawn('sleep', ['600'], {
      detached: true,
      stdio: 'ignore',
      env: { PATH: '/usr/bin:/bin', [SESSION_MARKER_ENV]: 'stale-abc123' },
    });
    straggler.unref();
    await waitUntil(async () => (await findSessionProcesses('stale-abc123')).length === 1, {
      what: 'straggler up',
      intervalMs: 50,
    });
    const reaped = await reapStaleAppSessions({ workRoot, log });
    assert.equal(reaped.sessions, 1);
    assert.equal(reaped.processes, 1);
    await waitUntil(async () => (await findSessionProcesses('stale-abc123')).length === 0, {
      what: 'straggler gone',
      intervalMs: 50,
    });
    await assert.rejects(stat(staleDir));
  });
});
