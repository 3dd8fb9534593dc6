/**
 * A session's thread runs ahead of the rest of its render host. The host process as a whole is raised
 * (`renderHost.nice`, render-host/host/schedulingPriority.ts), but its other threads — the main thread with the
 * signaling connection and the workers' log lines, V8's compiler and GC helpers, the libuv pool, idle workers
 * warming up — were then level with the one thread whose lateness a player sees. A trace of
 * `bench:stream -- --startup` (sched_switch, 2 cores) showed the session thread preempted by those threads in a
 * Play's first second, right when the stream starts; the session thread renders, converts, encodes and sends
 * every frame (VideoEncoder encodes on it), so it is the one raised further.
 *
 * Only when the host itself runs raised (a negative nice: it was configured and permitted to): a host left at
 * its priority by choice, or refused one, keeps its sessions there too.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** Nice levels a session's thread runs above the host's (nice −5 → −10). */
export const SESSION_THREAD_NICE_STEP = 5;

export type RaiseSessionThreadReturnType =
  | { raised: true; nice: number }
  | { raised: false; nice: number; reason: string };

/** This thread's kernel id (Linux: /proc/thread-self), or undefined where there is none. */
function ownThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Raises the calling thread (only it: Linux nice is per thread) `step` levels above where it runs, at most to
 * −20, when it runs raised already. Threads it starts later inherit the new value (x264's slice threads above
 * 720p60). Never throws.
 */
export function raiseSessionThread(step = SESSION_THREAD_NICE_STEP): RaiseSessionThreadReturnType {
  const tid = ownThreadId();
  if (tid === undefined) return { raised: false, nice: getPriority(), reason: 'no per-thread priority here' };
  const current = getPriority(tid);
  if (current >= 0) return { raised: false, nice: current, reason: 'the host runs at its own priority' };
  const target = Math.max(-20, current - step);
  if (target === current) return { raised: false, nice: current, reason: 'already at the highest priority' };
  try {
    setPriority(tid, target);
    return { raised: true, nice: target };
  } catch (error) {
    const code = (error as { info?: { code?: string } }).info?.code ?? 'error';
    return { raised: false, nice: current, reason: `${code}: ${(error as Error).message}` };
  }
}
