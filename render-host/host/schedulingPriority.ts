/**
 * The render host's CPU scheduling priority (Unix nice). A stream drops a frame whenever its render → convert →
 * encode → send misses its 16.7 ms, and on a busy machine that happens when another process holds the cores: a
 * browser setting up a stream, a signaling server settling, a checker probing. `bench:stream -- --startup` (the
 * whole `npm start` stack and Chromium on 2 cores) dropped 2–12 frames in a newcomer's first second at nice 0,
 * single encodes taking up to 75 ms while the thread waited for a core. Game-streaming hosts raise their capture and
 * encode threads for this reason; here the whole render-host process is raised, so its session workers, the
 * libuv pool where x264 runs and the game processes it starts all run ahead of ordinary work.
 *
 * On Linux the nice value is per thread: it is set on every thread the process has now, and threads started later
 * inherit it from the thread that starts them. Raising priority (a negative value) needs root, CAP_SYS_NICE or an
 * RLIMIT_NICE that allows it (compose.yaml sets `ulimits: nice` for the provider image); without, nothing changes
 * and the caller is told why.
 */
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

export type ApplySchedulingPriorityReturnType =
  /** Every thread of the process now runs at `nice`. */
  | { applied: true; nice: number; threads: number }
  /** Not permitted (or not possible): the process keeps the priority it had. */
  | { applied: false; nice: number; reason: string };

/** The process's thread ids (Linux), or just its own id where there is no /proc. */
function threadIds(): number[] {
  try {
    return readdirSync('/proc/self/task').map(Number);
  } catch {
    return [process.pid];
  }
}

/**
 * Sets the whole process to `nice` (−20…19). Call it early, before the process starts its workers. Never throws:
 * a refusal leaves every thread as it was (the first thread refused stops it) and says why.
 */
export function applySchedulingPriority(nice: number): ApplySchedulingPriorityReturnType {
  if (!Number.isInteger(nice) || nice < -20 || nice > 19) {
    return { applied: false, nice: getPriority(), reason: `nice ${nice} is not an integer from -20 to 19` };
  }
  const before = getPriority();
  const done: number[] = [];
  for (const tid of threadIds()) {
    try {
      setPriority(tid, nice);
      done.push(tid);
    } catch (error) {
      const code = (error as { info?: { code?: string } }).info?.code ?? 'error';
      // A thread that ended meanwhile is no refusal.
      if (code === 'ESRCH') continue;
      // Back to where it was: one priority for the whole process, not a mix.
      for (const restored of done) {
        try {
          setPriority(restored, before);
        } catch {
          // lowering back to the old priority is always allowed; a thread gone meanwhile is fine
        }
      }
      return {
        applied: false,
        nice: before,
        reason: `${code}: ${code === 'EACCES' || code === 'EPERM' ? 'needs root, CAP_SYS_NICE or RLIMIT_NICE' : (error as Error).message}`,
      };
    }
  }
  return { applied: true, nice, threads: done.length };
}
