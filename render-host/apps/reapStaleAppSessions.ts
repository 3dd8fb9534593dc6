/**
 * What a host that died left behind: session directories whose owner is gone (their processes, found by the
 * `ATH_APP_SESSION` marker every session process carries in its environment, are killed; the directory is
 * removed), and X display sockets / lock files in our display range that nobody serves any more.
 */
import { readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';

/** Every process of a session carries `ATH_APP_SESSION=<marker>` (the session directory's name). */
export const SESSION_MARKER_ENV = 'ATH_APP_SESSION';

export type DisplayRange = { first: number; count: number };

/** Displays :200…:999 by default: clear of :0 (a desktop) and :99 (the usual CI Xvfb). */
export const DEFAULT_DISPLAY_RANGE: DisplayRange = { first: 200, count: 800 };

export type SessionOwner = { hostPid: number; hostStartTicks: string };

/** The start time of a process (clock ticks since boot, /proc/PID/stat field 22): tells a reused pid apart. */
export async function processStartTicks(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export type SessionProcess = { pid: number; marker: string };

/** Live processes carrying a session marker (all of them, or those whose marker is `marker`). */
export async function findSessionProcesses(marker?: string): Promise<SessionProcess[]> {
  const found: SessionProcess[] = [];
  const prefix = `${SESSION_MARKER_ENV}=`;
  for (const name of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    let environ: string;
    try {
      environ = await readFile(`/proc/${name}/environ`, 'latin1');
    } catch {
      continue; // gone, or not ours to read
    }
    for (const entry of environ.split('\0')) {
      if (!entry.startsWith(prefix)) continue;
      const value = entry.slice(prefix.length);
      if (marker === undefined || value === marker) found.push({ pid: Number(name), marker: value });
      break;
    }
  }
  return found;
}

/** A directory this young without its owner file is being created right now (by us or another host). */
const OWNERLESS_GRACE_MS = 60_000;

async function ownerAlive(sessionDir: string): Promise<boolean> {
  let owner: SessionOwner;
  try {
    owner = JSON.parse(await readFile(join(sessionDir, 'owner.json'), 'utf8')) as SessionOwner;
  } catch {
    const info = await stat(sessionDir).catch(() => undefined);
    return info !== undefined && Date.now() - info.mtimeMs < OWNERLESS_GRACE_MS;
  }
  if (typeof owner.hostPid !== 'number') return false;
  return (await processStartTicks(owner.hostPid)) === owner.hostStartTicks;
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export type ReapStaleAppSessionsParameters = {
  workRoot: string;
  displayRange?: DisplayRange;
  log: Logger;
};

export type ReapStaleAppSessionsReturnType = { sessions: number; processes: number; displays: number };

export async function reapStaleAppSessions({
  workRoot,
  displayRange = DEFAULT_DISPLAY_RANGE,
  log,
}: ReapStaleAppSessionsParameters): Promise<ReapStaleAppSessionsReturnType> {
  let sessions = 0;
  let processes = 0;
  let displays = 0;
  let entries: string[] = [];
  try {
    entries = await readdir(workRoot);
  } catch {
    // no work root yet: nothing left behind
  }
  const stale = [];
  for (const name of entries) {
    if (!(await ownerAlive(join(workRoot, name)))) stale.push(name);
  }
  if (stale.length > 0) {
    const staleSet = new Set(stale);
    for (const { pid, marker } of await findSessionProcesses()) {
      if (!staleSet.has(marker)) continue;
      try {
        process.kill(pid, 'SIGKILL');
        processes += 1;
      } catch {
        // already gone
      }
    }
    for (const name of stale) {
      await rm(join(workRoot, name), { recursive: true, force: true });
      sessions += 1;
    }
  }
  let sockets: string[] = [];
  try {
    sockets = await readdir('/tmp/.X11-unix');
  } catch {
    // no X sockets at all
  }
  for (const name of sockets) {
    const match = /^X([0-9]+)$/.exec(name);
    const n = Number(match?.[1]);
    if (!match || n < displayRange.first || n >= displayRange.first + displayRange.count) continue;
    const path = join('/tmp/.X11-unix', name);
    if (await socketAnswers(path)) continue;
    await unlink(path).catch(() => undefined);
    await unlink(`/tmp/.X${n}-lock`).catch(() => undefined);
    displays += 1;
  }
  // Lock files of servers that died without removing them (Xvfb started without -displayfd writes them).
  for (const name of await readdir('/tmp').catch(() => [] as string[])) {
    const match = /^\.X([0-9]+)-lock$/.exec(name);
    const n = Number(match?.[1]);
    if (!match || n < displayRange.first || n >= displayRange.first + displayRange.count) continue;
    const pid = Number((await readFile(join('/tmp', name), 'latin1').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0 && (await processStartTicks(pid)) !== undefined) continue;
    await unlink(join('/tmp', name)).catch(() => undefined);
    displays += 1;
  }
  if (sessions + processes + displays > 0) log.info({ sessions, processes, displays }, 'reaped what a dead host left');
  return { sessions, processes, displays };
}
