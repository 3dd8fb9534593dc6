import { rmSync } from 'node:fs';
import { killProcessGroupsNow } from './processGroups.js';

/** Session directories of this process and their process groups, for the exit hook. */
const live = new Map<string, Set<number>>();
let hooked = false;

/**
 * The host is exiting with sessions still open (an uncaught error, `process.exit` without closing): SIGKILL
 * their groups and remove their directories, synchronously — nothing asynchronous runs in an exit handler.
 */
function onExit(): void {
  for (const [dir, groups] of live) {
    killProcessGroupsNow(groups);
    rmSync(dir, { recursive: true, force: true });
  }
  live.clear();
}

/** Records a live session directory (and, when given, one of its process groups). */
export function registerLiveSession(sessionDir: string, pgid?: number): void {
  if (!hooked) {
    hooked = true;
    process.on('exit', onExit);
  }
  let groups = live.get(sessionDir);
  if (!groups) {
    groups = new Set();
    live.set(sessionDir, groups);
  }
  if (pgid !== undefined) groups.add(pgid);
}

export function unregisterLiveSession(sessionDir: string): void {
  live.delete(sessionDir);
}
