/**
 * One Xvfb per session at the game's resolution: `Xvfb :N -screen 0 WxHx24 -nolisten tcp -noreset -displayfd 3`.
 * `-noreset` keeps the server from resetting when its first client leaves; `-displayfd` says when it accepts
 * connections (≈50 ms). The display number is claimed by the server itself: binding the abstract socket
 * `@/tmp/.X11-unix/XN` is atomic, so of several hosts (or sessions) trying the same number one wins and the
 * others fail fast with "server already running" and move on to the next number. The search starts at a
 * random point of the range, so concurrent starts rarely collide at all.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import { AthError } from '../../signaling/protocol/index.js';
import { TypedEmitter } from '../session/TypedEmitter.js';
import { APP_PATH } from './checkAppAvailability.js';
import { AppsErrorCode } from './errors.js';
import { isGroupAlive, killProcessGroup } from './processGroups.js';
import { DEFAULT_DISPLAY_RANGE, type DisplayRange } from './reapStaleAppSessions.js';

export type StartVirtualDisplayParameters = {
  width: number;
  height: number;
  displayRange?: DisplayRange;
  env?: Record<string, string>;
  /** Called with each started server's pid (before it is known to work), so it can be watched at once. */
  onSpawn?: (pid: number) => void;
  log: Logger;
};

export type VirtualDisplayEvents = { exit: [code: number | null, signal: NodeJS.Signals | null] };

const START_TIMEOUT_MS = 10_000;
const MAX_ATTEMPTS = 32;
const IN_USE = /already running|already active|Cannot establish any listening sockets/i;

type Attempt = { kind: 'ready'; child: ChildProcess } | { kind: 'in-use' } | { kind: 'failed'; details: string };

export class VirtualDisplay extends TypedEmitter<VirtualDisplayEvents> {
  readonly number: number;
  readonly display: string;
  readonly pid: number;
  readonly #child: ChildProcess;
  #exited = false;
  #closing: Promise<void> | undefined;

  private constructor(number: number, child: ChildProcess, log: Logger) {
    super(log);
    this.number = number;
    this.display = `:${number}`;
    this.#child = child;
    this.pid = child.pid ?? -1;
    child.once('exit', (code, signal) => {
      this.#exited = true;
      this.safeEmit('exit', code, signal);
    });
  }

  /** Starts a server on a free display number; throws ATH_ERR_DISPLAY when none could be started. */
  static async start({
    width,
    height,
    displayRange = DEFAULT_DISPLAY_RANGE,
    env = {},
    onSpawn,
    log,
  }: StartVirtualDisplayParameters): Promise<VirtualDisplay> {
    const offset = randomInt(0, displayRange.count);
    let lastFailure = 'no attempt';
    for (let i = 0; i < Math.min(MAX_ATTEMPTS, displayRange.count); i++) {
      const number = displayRange.first + ((offset + i) % displayRange.count);
      const attempt = await tryDisplay({ number, width, height, env, ...(onSpawn ? { onSpawn } : {}) });
      if (attempt.kind === 'ready') {
        log.debug({ display: `:${number}`, pid: attempt.child.pid }, 'virtual display up');
        return new VirtualDisplay(number, attempt.child, log);
      }
      if (attempt.kind === 'failed') {
        throw new AthError({
          code: AppsErrorCode.display,
          shortMessage: 'Xvfb failed to start',
          details: attempt.details,
        });
      }
      lastFailure = `:${number} in use`;
    }
    throw new AthError({
      code: AppsErrorCode.display,
      shortMessage: 'no free display number',
      details: `${MAX_ATTEMPTS} tries in :${displayRange.first}…:${displayRange.first + displayRange.count - 1}; last: ${lastFailure}`,
    });
  }

  get alive(): boolean {
    return !this.#exited;
  }

  /** Stops the server (its process group: SIGTERM, SIGKILL after 1 s). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.pid > 0 && isGroupAlive(this.pid)) await killProcessGroup({ pgid: this.pid, graceMs: 1000 });
      this.removeAllListeners();
    })();
    return this.#closing;
  }
}

type TryDisplayParameters = {
  number: number;
  width: number;
  height: number;
  env: Record<string, string>;
  onSpawn?: (pid: number) => void;
};

function tryDisplay({ number, width, height, env, onSpawn }: TryDisplayParameters): Promise<Attempt> {
  const args = [
    `:${number}`,
    '-screen',
    '0',
    `${width}x${height}x24`,
    '-nolisten',
    'tcp',
    '-noreset',
    '-displayfd',
    '3',
  ];
  const child = spawn('Xvfb', args, {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: { PATH: APP_PATH, ...env },
  });
  if (child.pid !== undefined) onSpawn?.(child.pid);
  return new Promise<Attempt>((resolve) => {
    let stderr = '';
    let settled = false;
    const settle = (attempt: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stderr?.removeAllListeners('data');
      child.stdio[3]?.removeAllListeners('data');
      if (attempt.kind !== 'ready' && child.exitCode === null && child.pid !== undefined) {
        void killProcessGroup({ pgid: child.pid, graceMs: 500 });
      }
      resolve(attempt);
    };
    const timer = setTimeout(
      () => settle({ kind: 'failed', details: `no display after ${START_TIMEOUT_MS} ms: ${stderr.slice(-500)}` }),
      START_TIMEOUT_MS,
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4096);
    });
    let announced = '';
    child.stdio[3]?.on('data', (chunk: Buffer) => {
      announced += chunk.toString();
      if (announced.includes('\n')) {
        const got = Number(announced.trim());
        settle(got === number ? { kind: 'ready', child } : { kind: 'failed', details: `Xvfb announced :${got}` });
      }
    });
    child.once('error', (error) => settle({ kind: 'failed', details: `cannot run Xvfb: ${error.message}` }));
    child.once('exit', (code, signal) => {
      // stderr may still be draining: give it a moment before classifying the failure.
      setTimeout(() => {
        if (IN_USE.test(stderr)) settle({ kind: 'in-use' });
        else settle({ kind: 'failed', details: `exit ${code ?? signal}: ${stderr.slice(-500)}` });
      }, 20);
    });
  });
}
