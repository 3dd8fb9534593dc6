/**
 * A session's thread at real-time priority (SCHED_RR) while it streams, with a guard that takes it back.
 *
 * Why: a stream's thread renders, converts, encodes and sends a frame every 16.7 ms, ≈ 8 ms of CPU at 720p60. On a
 * busy machine each frame waits for a core, and a frame that waits past its tick is dropped. `nice` ranks threads
 * only within one scheduling group, and the kernel groups processes by session (autogroup) or cgroup: a browser
 * started from another session — the player's, beside `npm start` — gets its own half of the CPU whatever the
 * host's nice (README "For providers"). A real-time thread runs ahead of every normal one, group or not, as the
 * media threads of PipeWire or a game-streaming client's decoder do. `npm run bench:stream -- --startup` (the
 * whole `npm start` stack and Chromium on 2 cores), 3 runs without and 6 with (9 and 18 Plays): frames the host
 * sent in a Play's first second 53–61, 6 of 9 under 60 → 58–61, 2 of 18 under 60; frames Chromium decoded in it
 * 53–62, 3 of 9 under 58 → 58–71, none under 58. A 30 s stream (`bench:stream`) did not change beyond its noise.
 *
 * The risk of real-time priority is a thread that never yields: it would starve every normal thread on its core
 * (the kernel keeps 5 % for them). A session's thread is bounded work per frame, but a bug or a flood of input
 * could make it spin, so the guard — on the main thread, which keeps running when a session thread spins — reads
 * the thread's CPU time every `windowMs` and, when it used more than `maxCoreShare` of a core, puts it back to
 * normal scheduling for the rest of its session. Best effort throughout: where it is not permitted (it needs root,
 * CAP_SYS_NICE or an RLIMIT_RTPRIO of at least `priority`) or not Linux, the thread stays as it was and the caller
 * is told why. Linux's `chrt` (util-linux) switches the policy: Node has no call for it.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';

/** `sched_setscheduler` policies as /proc reports them. */
export const SCHED_OTHER = 0;
export const SCHED_RR = 2;

/** /proc counts thread CPU time in USER_HZ ticks, 100 a second on every Linux ABI. */
const PROC_TICKS_PER_SECOND = 100;
const CHRT_TIMEOUT_MS = 5_000;
const LOWER_ATTEMPTS = 3;

/** The OS thread id of the calling thread (Linux), undefined elsewhere. */
export function currentOsThreadId(): number | undefined {
  try {
    // The first field of a thread's stat is its id.
    const tid = Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ', 1)[0]);
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

type ThreadStat = { policy: number; cpuTicks: number };

/** Policy and CPU time (user + system, ticks) of one of this process's threads; undefined once it is gone. */
export function readThreadStat(tid: number): ThreadStat | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 on: utime is 14, stime 15, policy 41.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const policy = Number(fields[41 - 3]);
    const cpuTicks = Number(fields[14 - 3]) + Number(fields[15 - 3]);
    return Number.isFinite(policy) && Number.isFinite(cpuTicks) ? { policy, cpuTicks } : undefined;
  } catch {
    return undefined;
  }
}

export type SetThreadPolicyReturnType = { ok: true } | { ok: false; reason: string };

/** The kernel's real-time throttle: −1 means real-time threads may take every cycle (no 5 % left). */
function realtimeThrottleOff(): boolean {
  try {
    return Number(readFileSync('/proc/sys/kernel/sched_rt_runtime_us', 'utf8')) < 0;
  } catch {
    return false;
  }
}

function runChrt(args: readonly string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('chrt', args, { timeout: CHRT_TIMEOUT_MS }, (error, _stdout, stderr) => {
      if (!error) resolve(undefined);
      else if ((error as NodeJS.ErrnoException).code === 'ENOENT') resolve('chrt not found (util-linux)');
      else {
        const said = String(stderr).trim().split('\n').at(-1) || error.message;
        resolve(`${said}${/not permitted/i.test(said) ? ' (needs root, CAP_SYS_NICE or RLIMIT_RTPRIO)' : ''}`);
      }
    });
  });
}

/**
 * Sets one of this process's threads to SCHED_RR at `priority` (1…99), or back to SCHED_OTHER (`priority` 0),
 * and checks with the kernel that it took (a `chrt` that timed out may have done it anyway). Raised threads reset
 * on fork: threads and processes they start (x264's own threads, a game's helpers) get normal scheduling, not an
 * unguarded real-time one. Never rejects.
 */
export async function setThreadPolicy(tid: number, priority: number): Promise<SetThreadPolicyReturnType> {
  // Only threads of this process: a thread id read from elsewhere, or reused after its thread ended, is refused.
  if (!readThreadStat(tid)) return { ok: false, reason: `thread ${tid} is not one of this process's` };
  if (priority > 0 && realtimeThrottleOff()) {
    return { ok: false, reason: 'kernel.sched_rt_runtime_us is -1: no CPU would be left for the guard' };
  }
  const args =
    priority > 0
      ? ['--rr', '--reset-on-fork', '--pid', String(priority), String(tid)]
      : ['--other', '--pid', '0', String(tid)];
  const failure = await runChrt(args);
  const policy = readThreadStat(tid)?.policy;
  const wanted = priority > 0 ? SCHED_RR : SCHED_OTHER;
  if (policy === wanted) return { ok: true };
  return { ok: false, reason: failure ?? `the kernel reports policy ${policy ?? 'none'} (thread gone?)` };
}

export type RealtimeThreadGuardParameters = {
  /** The OS thread id (see `currentOsThreadId`, sent by the thread itself). */
  tid: number;
  /** SCHED_RR priority, 1…99 (1: ahead of every normal thread, behind every other real-time one). */
  priority: number;
  /** Above this share of one core over a window, the thread goes back to normal scheduling. Default 0.85. */
  maxCoreShare?: number;
  /** How often the guard reads the thread's CPU time. Default 0.5 s. */
  windowMs?: number;
  log: Logger;
};

export type RealtimeThreadState = 'normal' | 'raising' | 'realtime' | 'demoted' | 'refused';

/** Raises one thread to SCHED_RR for as long as it is held (`raise` … `release`), guarded as the header says. */
export class RealtimeThreadGuard {
  readonly tid: number;
  readonly #priority: number;
  readonly #maxCoreShare: number;
  readonly #windowMs: number;
  readonly #log: Logger;
  #state: RealtimeThreadState = 'normal';
  #timer: NodeJS.Timeout | undefined;
  #lastTicks = 0;
  #lastAtMs = 0;
  #raising: Promise<void> | undefined;
  #lowering: Promise<boolean> | undefined;
  #released = false;
  /** Why the raise was refused, when it was. */
  refusal: string | undefined;

  constructor({ tid, priority, maxCoreShare = 0.85, windowMs = 500, log }: RealtimeThreadGuardParameters) {
    this.tid = tid;
    this.#priority = priority;
    this.#maxCoreShare = maxCoreShare;
    this.#windowMs = windowMs;
    this.#log = log;
  }

  get state(): RealtimeThreadState {
    return this.#state;
  }

  /** Switches the thread to SCHED_RR and starts guarding it. Never rejects; see `state` and `refusal`. */
  raise(): Promise<void> {
    if (this.#state !== 'normal' || this.#released) return this.#raising ?? Promise.resolve();
    this.#state = 'raising';
    this.#raising = setThreadPolicy(this.tid, this.#priority).then((result) => {
      if (!result.ok) {
        this.#state = 'refused';
        this.refusal = result.reason;
        return;
      }
      this.#state = 'realtime';
      this.#lastTicks = readThreadStat(this.tid)?.cpuTicks ?? 0;
      this.#lastAtMs = performance.now();
      this.#timer = setInterval(() => this.#check(), this.#windowMs);
      this.#timer.unref();
    });
    return this.#raising;
  }

  /**
   * Back to normal scheduling (when it was raised) and no more guarding; resolves once the thread is lowered,
   * false if it could not be (then the caller should not reuse the thread). Idempotent; never rejects. A raise or
   * a lowering still in flight completes first: a pooled worker serves another session next, and a late `chrt`
   * of this one must not undo that session's raise, or redo this one.
   */
  async release(): Promise<boolean> {
    this.#released = true;
    await this.#raising;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#lowering;
    if (this.#state === 'realtime') this.#state = 'normal';
    const stat = readThreadStat(this.tid);
    // Gone (its worker exited), or normal already.
    if (!stat || stat.policy !== SCHED_RR) return true;
    return this.#lower();
  }

  /** SCHED_OTHER again, tried three times (a `chrt` can fail to start on a starved machine). */
  #lower(): Promise<boolean> {
    this.#lowering = (async () => {
      let reason = '';
      for (let attempt = 0; attempt < LOWER_ATTEMPTS; attempt++) {
        const result = await setThreadPolicy(this.tid, 0);
        if (result.ok) return true;
        reason = result.reason;
      }
      this.#log.error({ tid: this.tid, reason }, 'could not lower a session thread from real-time priority');
      return false;
    })();
    return this.#lowering;
  }

  #check(): void {
    const stat = readThreadStat(this.tid);
    if (!stat) {
      void this.release();
      return;
    }
    const nowMs = performance.now();
    const share = (stat.cpuTicks - this.#lastTicks) / PROC_TICKS_PER_SECOND / ((nowMs - this.#lastAtMs) / 1000);
    this.#lastTicks = stat.cpuTicks;
    this.#lastAtMs = nowMs;
    if (share <= this.#maxCoreShare) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#state = 'demoted';
    this.#log.warn(
      { tid: this.tid, coreShare: Math.round(share * 100) / 100, maxCoreShare: this.#maxCoreShare },
      'session thread used too much CPU at real-time priority: back to normal scheduling for this session',
    );
    void this.#lower();
  }
}
