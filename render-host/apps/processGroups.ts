import { setTimeout as sleep } from 'node:timers/promises';

/** Whether any process of the group still exists (zombies count until reaped). */
export function isGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but is not ours, which cannot happen for our own groups; treat as alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

async function waitGroupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (isGroupAlive(pgid)) {
    if (performance.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
}

export type KillProcessGroupParameters = {
  pgid: number;
  /** Between SIGTERM and SIGKILL. */
  graceMs: number;
};

/**
 * Ends a whole process group: SIGTERM, then SIGKILL to whatever is left after `graceMs`. Resolves true when
 * the group is gone (false if something survived even SIGKILL for a second: an uninterruptible sleep).
 */
export async function killProcessGroup({ pgid, graceMs }: KillProcessGroupParameters): Promise<boolean> {
  if (!isGroupAlive(pgid)) return true;
  signalGroup(pgid, 'SIGTERM');
  if (await waitGroupGone(pgid, graceMs)) return true;
  signalGroup(pgid, 'SIGKILL');
  return waitGroupGone(pgid, 1000);
}

/** Synchronous last resort (process exit handlers): SIGKILL to every group, no waiting. */
export function killProcessGroupsNow(pgids: Iterable<number>): void {
  for (const pgid of pgids) signalGroup(pgid, 'SIGKILL');
}
