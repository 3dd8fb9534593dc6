/**
 * One external-game session in the calling thread: the workload (display, audio server, game) plus the media
 * source that captures it, started together and closed together. What tests, the benchmark and the browser
 * scenario drive directly; a render host splits the two (workload on its main thread, source in the session's
 * worker: see createAppSessionDriver).
 */
import { type Logger, pino } from 'pino';
import { AthError, type EndReasonName } from '../../signaling/protocol/index.js';
import { TypedEmitter } from '../session/TypedEmitter.js';
import { AppWorkload, type GameExit, type StartAppWorkloadParameters } from './AppWorkload.js';
import { AppsErrorCode } from './errors.js';
import { X11MediaSource } from './X11MediaSource.js';

export type StartAppSessionParameters = StartAppWorkloadParameters;

export type AppSessionEvents = {
  /** The game went away on its own (`game-crashed`); the session is closed by the time listeners run. */
  ended: [reason: EndReasonName, message: string];
};

/** Turns a workload exit into the error a start fails with. */
export function gameCrashedError(exit: GameExit, outputTail: string): AthError {
  return new AthError({
    code: AppsErrorCode.gameCrashed,
    shortMessage: exit.message,
    details: outputTail.trim().split('\n').slice(-3).join(' | ').slice(0, 400) || undefined,
  });
}

export class AppSession extends TypedEmitter<AppSessionEvents> {
  readonly workload: AppWorkload;
  readonly source: X11MediaSource;
  /** From `start` to the first frame worth showing (readiness passed, start keys pressed). */
  readonly firstFrameMs: number;
  #closing: Promise<void> | undefined;

  private constructor(workload: AppWorkload, source: X11MediaSource, log: Logger) {
    super(log);
    this.workload = workload;
    this.source = source;
    this.firstFrameMs = (source.readyAtWallMs ?? Date.now()) - workload.startedAtWallMs;
    workload.on('exited', (exit) => {
      void this.close().then(() => {
        this.safeEmit('ended', 'game-crashed', exit.message);
        this.removeAllListeners();
      });
    });
  }

  /**
   * Starts the game and resolves when its first frame is ready. Throws what the workload or source throws,
   * or ATH_ERR_GAME_CRASHED when the game died before it was ready; nothing is left running after a throw.
   */
  static async start(params: StartAppSessionParameters): Promise<AppSession> {
    const log = params.log ?? pino({ level: 'silent' });
    const workload = await AppWorkload.start({ ...params, log });
    const abort = new AbortController();
    const offExited = workload.on('exited', (exit) => abort.abort(gameCrashedError(exit, workload.outputTail)));
    try {
      const source = await X11MediaSource.open({ spec: workload.captureSpec(), log, signal: abort.signal });
      offExited();
      if (workload.exit) {
        await source.close();
        throw gameCrashedError(workload.exit, workload.outputTail);
      }
      return new AppSession(workload, source, log);
    } catch (error) {
      offExited();
      await workload.close();
      throw error;
    }
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Closes the source (capture, input, audio) and then the workload. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.source.close();
      await this.workload.close();
    })();
    return this.#closing;
  }
}
