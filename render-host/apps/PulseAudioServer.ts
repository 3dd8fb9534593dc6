/**
 * One PulseAudio server per session, private to it: no default script (`-n`), a native socket in the session
 * directory, and a null sink the game plays into; the capture records the sink's monitor. Nothing else
 * (no hardware, no D-Bus, no other user's sound) is reachable from the game, and nothing of the game leaks out.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { AthError } from '../../signaling/protocol/index.js';
import { TypedEmitter } from '../session/TypedEmitter.js';
import { APP_PATH } from './checkAppAvailability.js';
import { AppsErrorCode } from './errors.js';
import { isGroupAlive, killProcessGroup } from './processGroups.js';

export const SESSION_SINK = 'ath_session';

export type StartPulseAudioServerParameters = {
  /** A directory of the session's own (no whitespace: PulseAudio module arguments split on it). */
  dir: string;
  env?: Record<string, string>;
  onSpawn?: (pid: number) => void;
  log: Logger;
};

export type PulseAudioServerEvents = { exit: [code: number | null, signal: NodeJS.Signals | null] };

const START_TIMEOUT_MS = 10_000;

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export class PulseAudioServer extends TypedEmitter<PulseAudioServerEvents> {
  /** For PULSE_SERVER. */
  readonly server: string;
  /** The source that carries everything the game plays. */
  readonly monitorSource = `${SESSION_SINK}.monitor`;
  readonly pid: number;
  #exited = false;
  #closing: Promise<void> | undefined;

  private constructor(socketPath: string, child: ChildProcess, log: Logger) {
    super(log);
    this.server = `unix:${socketPath}`;
    this.pid = child.pid ?? -1;
    child.once('exit', (code, signal) => {
      this.#exited = true;
      this.safeEmit('exit', code, signal);
    });
  }

  /** Starts the server and waits until its socket accepts; throws ATH_ERR_AUDIO_SERVER otherwise. */
  static async start({ dir, env = {}, onSpawn, log }: StartPulseAudioServerParameters): Promise<PulseAudioServer> {
    if (/\s/.test(dir)) {
      throw new AthError({
        code: AppsErrorCode.audioServer,
        shortMessage: 'session directory has whitespace',
        details: dir,
      });
    }
    const runtime = join(dir, 'run');
    await mkdir(runtime, { recursive: true, mode: 0o700 });
    const socketPath = join(dir, 'native');
    const script = join(dir, 'session.pa');
    await writeFile(
      script,
      [
        `load-module module-native-protocol-unix socket=${socketPath} auth-anonymous=1`,
        `load-module module-null-sink sink_name=${SESSION_SINK} rate=48000 channels=2 format=s16le sink_properties=device.description=ath-edge-session`,
        `set-default-sink ${SESSION_SINK}`,
        `set-default-source ${SESSION_SINK}.monitor`,
        '',
      ].join('\n'),
    );
    const child = spawn(
      'pulseaudio',
      [
        '-n',
        '-F',
        script,
        '--daemonize=no',
        '--use-pid-file=no',
        '--exit-idle-time=-1',
        '--high-priority=no',
        '--realtime=no',
        '--log-target=stderr',
        '--log-level=error',
      ],
      {
        detached: true,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { PATH: APP_PATH, HOME: dir, XDG_RUNTIME_DIR: runtime, PULSE_RUNTIME_PATH: runtime, ...env },
      },
    );
    if (child.pid !== undefined) onSpawn?.(child.pid);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4096);
    });
    const spawned = await new Promise<boolean>((resolve) => {
      child.once('spawn', () => resolve(true));
      child.once('error', () => resolve(false));
    });
    const started = performance.now();
    while (spawned && child.exitCode === null && performance.now() - started < START_TIMEOUT_MS) {
      if (await canConnect(socketPath)) {
        log.debug({ pid: child.pid, socketPath }, 'audio server up');
        return new PulseAudioServer(socketPath, child, log);
      }
      await sleep(20);
    }
    if (child.pid !== undefined && isGroupAlive(child.pid)) await killProcessGroup({ pgid: child.pid, graceMs: 500 });
    throw new AthError({
      code: AppsErrorCode.audioServer,
      shortMessage: 'PulseAudio did not start',
      details: stderr.trim().slice(-500) || (spawned ? 'no socket in time' : 'cannot run pulseaudio'),
    });
  }

  get alive(): boolean {
    return !this.#exited;
  }

  /** Stops the server (SIGTERM, SIGKILL after 1 s). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.pid > 0 && isGroupAlive(this.pid)) await killProcessGroup({ pgid: this.pid, graceMs: 1000 });
      this.removeAllListeners();
    })();
    return this.#closing;
  }
}
