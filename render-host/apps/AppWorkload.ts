/**
 * One session's external game, isolated: its own directory (a fresh HOME, the audio server's socket), its own
 * X display, its own PulseAudio with a null sink, and the game in its own process group with a clean
 * environment (DISPLAY, HOME, PATH, XDG_*, PULSE_*, the manifest's variables, a session marker — nothing of
 * the host's), at a lower CPU priority so an uncapped game cannot starve the encoder.
 *
 * Cleanup, in three layers: `close()` (game group SIGTERM → SIGKILL after the grace period, then the audio
 * server and the display, then the directory); a process `exit` hook that SIGKILLs every live group and
 * removes the directories if the host exits without closing; and a detached watchdog per session that does
 * the same when the host dies without running any code (SIGKILL, OOM). `reapStaleAppSessions`, run before the
 * first workload of a process, clears what an earlier host left anyway.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import { AthError } from '../../signaling/protocol/index.js';
import { TypedEmitter } from '../session/TypedEmitter.js';
import type { AppManifest } from './AppManifest.js';
import type { CaptureSourceSpec } from './CaptureSourceSpec.js';
import { APP_PATH, resolveExecutable } from './checkAppAvailability.js';
import { AppsErrorCode } from './errors.js';
import { registerLiveSession, unregisterLiveSession } from './liveSessions.js';
import { PulseAudioServer } from './PulseAudioServer.js';
import { isGroupAlive, killProcessGroup } from './processGroups.js';
import {
  type DisplayRange,
  processStartTicks,
  reapStaleAppSessions,
  SESSION_MARKER_ENV,
  type SessionOwner,
} from './reapStaleAppSessions.js';
import { SessionWatchdog } from './SessionWatchdog.js';
import { VirtualDisplay } from './VirtualDisplay.js';

/** Where session directories go unless configured: short, so socket paths stay under 108 bytes. */
export const DEFAULT_APP_WORK_ROOT = join(tmpdir(), 'ath-edge-apps');
export const DEFAULT_KILL_GRACE_MS = 2_000;

export type StartAppWorkloadParameters = {
  manifest: AppManifest;
  sessionId: string;
  workRoot?: string;
  displayRange?: DisplayRange;
  /** Between SIGTERM and SIGKILL for the game's process group. */
  killGraceMs?: number;
  log?: Logger;
};

export type GameExit = { code: number | null; signal: NodeJS.Signals | null; message: string };

export type AppWorkloadEvents = {
  /** The game (its whole process group) or its display/audio server went away on its own. Once. */
  exited: [exit: GameExit];
};

const OUTPUT_TAIL_BYTES = 2048;
const reaped = new Map<string, Promise<unknown>>();

function expandArgs(args: readonly string[], values: Record<string, string>): string[] {
  return args.map((arg) => arg.replace(/\{(width|height|fps|home)\}/g, (_, key: string) => values[key] ?? ''));
}

export class AppWorkload extends TypedEmitter<AppWorkloadEvents> {
  readonly manifest: AppManifest;
  readonly sessionId: string;
  /** The session directory (HOME, audio socket); removed on close. */
  readonly sessionDir: string;
  readonly homeDir: string;
  /** `ATH_APP_SESSION` value every process of this session carries. */
  readonly marker: string;
  /** Unix ms when `start` was called: first-frame times count from here. */
  readonly startedAtWallMs: number;
  readonly #log: Logger;
  readonly #killGraceMs: number;
  readonly #watchdog: SessionWatchdog;
  #display: VirtualDisplay | undefined;
  #audio: PulseAudioServer | undefined;
  #gamePgid: number | undefined;
  #outputTail = '';
  #exit: GameExit | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    params: StartAppWorkloadParameters & { sessionDir: string; watchdog: SessionWatchdog; log: Logger },
  ) {
    super(params.log);
    this.manifest = params.manifest;
    this.sessionId = params.sessionId;
    this.sessionDir = params.sessionDir;
    this.homeDir = join(params.sessionDir, 'home');
    this.marker = params.sessionDir.split('/').at(-1) ?? params.sessionDir;
    this.startedAtWallMs = Date.now();
    this.#log = params.log;
    this.#killGraceMs = params.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.#watchdog = params.watchdog;
  }

  /**
   * Starts display, audio server and game; resolves once the game process runs (not once it draws: the
   * media source's readiness check waits for that). Throws ATH_ERR_DISPLAY, ATH_ERR_AUDIO_SERVER,
   * ATH_ERR_APP_MISSING_BINARY or ATH_ERR_GAME_START, having cleaned up whatever had started.
   */
  static async start(params: StartAppWorkloadParameters): Promise<AppWorkload> {
    const workRoot = params.workRoot ?? DEFAULT_APP_WORK_ROOT;
    const log = (params.log ?? pino({ level: 'silent' })).child({
      mod: 'render-host/apps/workload',
      game: params.manifest.id,
      sessionId: params.sessionId,
    });
    const command = await resolveExecutable(params.manifest.launch.command);
    if (!command) {
      throw new AthError({
        code: AppsErrorCode.missingBinary,
        shortMessage: `${params.manifest.launch.command} is not installed`,
        details: `Debian packages: ${params.manifest.packages.join(' ')}`,
      });
    }
    await mkdir(workRoot, { recursive: true, mode: 0o700 });
    if (!reaped.has(workRoot)) {
      const range = params.displayRange ? { displayRange: params.displayRange } : {};
      reaped.set(
        workRoot,
        reapStaleAppSessions({ workRoot, log, ...range }).catch(() => undefined),
      );
    }
    await reaped.get(workRoot);
    const safeId = params.sessionId.replace(/[^A-Za-z0-9]/g, '').slice(0, 12) || 'session';
    const sessionDir = await mkdtemp(join(workRoot, `${safeId}-`));
    const owner: SessionOwner = { hostPid: process.pid, hostStartTicks: (await processStartTicks(process.pid)) ?? '' };
    await writeFile(join(sessionDir, 'owner.json'), JSON.stringify(owner));
    const killGraceMs = params.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    const marker = sessionDir.split('/').at(-1) ?? sessionDir;
    const watchdog = SessionWatchdog.start({ sessionDir, graceMs: killGraceMs, env: { [SESSION_MARKER_ENV]: marker } });
    const workload = new AppWorkload({ ...params, sessionDir, watchdog, log });
    registerLiveSession(sessionDir);
    try {
      await workload.#start(command, params.displayRange);
    } catch (error) {
      await workload.close();
      throw error;
    }
    return workload;
  }

  async #start(command: string, displayRange: DisplayRange | undefined): Promise<void> {
    const { manifest } = this;
    const markerEnv = { [SESSION_MARKER_ENV]: this.marker };
    const watch = (pid: number) => {
      this.#watchdog.watchGroup(pid);
      registerLiveSession(this.sessionDir, pid);
    };
    await mkdir(this.homeDir, { mode: 0o700 });
    const runtimeDir = join(this.sessionDir, 'run');
    await mkdir(runtimeDir, { mode: 0o700 });
    const clientConfig = join(this.sessionDir, 'pulse-client.conf');
    // A game without a session server must not autospawn one of its own (it would outlive the session).
    await writeFile(clientConfig, 'autospawn = no\n');
    const [displayResult, audioResult] = await Promise.allSettled([
      VirtualDisplay.start({
        width: manifest.width,
        height: manifest.height,
        env: markerEnv,
        onSpawn: watch,
        log: this.#log,
        ...(displayRange ? { displayRange } : {}),
      }),
      manifest.audio
        ? PulseAudioServer.start({
            dir: join(this.sessionDir, 'pulse'),
            env: markerEnv,
            onSpawn: watch,
            log: this.#log,
          })
        : undefined,
    ]);
    // Keep whatever started, so that close() stops it when the other part failed.
    if (displayResult.status === 'fulfilled') this.#display = displayResult.value;
    if (audioResult.status === 'fulfilled') this.#audio = audioResult.value;
    if (displayResult.status === 'rejected') throw displayResult.reason;
    if (audioResult.status === 'rejected') throw audioResult.reason;
    const display = displayResult.value;
    const audio = audioResult.value;
    display.on('exit', (code, signal) => this.#lost({ code, signal, message: 'The game’s display server stopped.' }));
    audio?.on('exit', (code, signal) => this.#lost({ code, signal, message: 'The game’s audio server stopped.' }));

    const env: Record<string, string> = {
      PATH: APP_PATH,
      HOME: this.homeDir,
      USER: 'player',
      LOGNAME: 'player',
      LANG: 'C.UTF-8',
      DISPLAY: display.display,
      XDG_RUNTIME_DIR: runtimeDir,
      XDG_CONFIG_HOME: join(this.homeDir, '.config'),
      XDG_DATA_HOME: join(this.homeDir, '.local', 'share'),
      XDG_CACHE_HOME: join(this.homeDir, '.cache'),
      PULSE_CLIENTCONFIG: clientConfig,
      ...(audio ? { PULSE_SERVER: audio.server } : {}),
      ...manifest.launch.env,
      ...markerEnv,
    };
    const args = expandArgs(manifest.launch.args, {
      width: String(manifest.width),
      height: String(manifest.height),
      fps: String(manifest.fps),
      home: this.homeDir,
    });
    const game = spawn('nice', ['-n', String(manifest.launch.nice), command, ...args], {
      cwd: this.homeDir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    if (game.pid !== undefined) watch(game.pid);
    const keepTail = (chunk: Buffer) => {
      this.#outputTail = (this.#outputTail + chunk.toString()).slice(-OUTPUT_TAIL_BYTES);
    };
    game.stdout?.on('data', keepTail);
    game.stderr?.on('data', keepTail);
    await new Promise<void>((resolve, reject) => {
      game.once('spawn', resolve);
      game.once('error', (error) =>
        reject(new AthError({ code: AppsErrorCode.gameStart, shortMessage: `cannot start ${command}`, cause: error })),
      );
    });
    this.#gamePgid = game.pid;
    game.once('exit', (code, signal) => void this.#onGameLeaderExit(code, signal));
    this.#log.info({ display: display.display, pid: game.pid, audio: audio?.server }, 'game started');
  }

  /** A launcher may exit while the game it started runs on in the group: the game ends when the group does. */
  async #onGameLeaderExit(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const pgid = this.#gamePgid;
    while (pgid !== undefined && !this.#closing && isGroupAlive(pgid)) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    this.#lost({ code, signal, message: `${this.manifest.title} ${how}.` });
  }

  #lost(exit: GameExit): void {
    if (this.#closing || this.#exit) return;
    this.#exit = exit;
    this.#log.warn({ ...exit, output: this.#outputTail.slice(-500) }, 'game gone');
    this.safeEmit('exited', exit);
  }

  /** The session's X display (`:N`). */
  get display(): string {
    return this.#display?.display ?? '';
  }

  /** PID (and process group) of the game; undefined before start. */
  get gamePid(): number | undefined {
    return this.#gamePgid;
  }

  /** PIDs of the display and audio servers. */
  get serverPids(): { display: number | undefined; audio: number | undefined } {
    return { display: this.#display?.pid, audio: this.#audio?.pid };
  }

  /** Set once the game (or its display/audio server) went away on its own. */
  get exit(): GameExit | undefined {
    return this.#exit;
  }

  /** The last lines the game printed (for crash reports). */
  get outputTail(): string {
    return this.#outputTail;
  }

  /** What a media source needs to stream this workload (plain data: it can cross into a worker). */
  captureSpec(): CaptureSourceSpec {
    const { manifest } = this;
    return {
      game: manifest.id,
      display: this.display,
      width: manifest.width,
      height: manifest.height,
      fps: manifest.fps,
      inputMode: manifest.inputMode,
      ...(this.#audio ? { audio: { pulseServer: this.#audio.server, source: this.#audio.monitorSource } } : {}),
      readiness: manifest.readiness,
      startKeys: [...manifest.startKeys],
      ...(manifest.gamepad ? { gamepad: manifest.gamepad } : {}),
      marker: this.marker,
    };
  }

  /**
   * Ends the session's processes and removes its directory: the game's group (SIGTERM, SIGKILL after the
   * grace period), then the audio server and the display. Idempotent; no `exited` event follows.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const pgid = this.#gamePgid;
    if (pgid !== undefined) {
      const gone = await killProcessGroup({ pgid, graceMs: this.#killGraceMs });
      if (!gone) this.#log.error({ pgid }, 'game process group survived SIGKILL');
    }
    await Promise.all([this.#audio?.close(), this.#display?.close()]);
    await rm(this.sessionDir, { recursive: true, force: true });
    unregisterLiveSession(this.sessionDir);
    await this.#watchdog.disarm();
    this.removeAllListeners();
    this.#log.debug('workload closed');
  }
}
