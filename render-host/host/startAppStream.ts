/**
 * One external game's session on a render host: its workload (Xvfb display, PulseAudio sink, fresh home, the
 * game's process group) starts on the host's main thread at the lease, and the session's worker streams it
 * (StreamSession with a capture spec: x11grab + the sink's monitor + xdotool, through the same encoders and
 * peer as a built-in game). The worker reports ready only once the game showed its first frame worth
 * streaming, so no desktop or black screen ever reaches the player.
 *
 * Lifecycle: closing closes the stream, then the workload (game group SIGTERM → SIGKILL, audio server,
 * display, home). A game that dies while its player waits for the first frame fails the start with
 * ATH_ERR_GAME_CRASHED; one that dies later ends the session with `game-crashed` and a message naming the code.
 */
import type { Logger } from 'pino';
import type { EndReasonName } from '../../signaling/protocol/index.js';
import { gameCrashedError } from '../apps/AppSession.js';
import { type AppManifest, AppWorkload, type CaptureSourceSpec, type DisplayRange } from '../apps/index.js';
import type { StreamSession } from '../session/index.js';

export type StartAppStreamParameters = {
  manifest: AppManifest;
  sessionId: string;
  log: Logger;
  workRoot?: string;
  displayRange?: DisplayRange;
  /** Starts the session's stream of the running workload; `signal` aborts it when the game dies first. */
  startStream: (capture: CaptureSourceSpec, signal: AbortSignal) => Promise<StreamSession>;
  /** The game went away while streaming; everything is closed by the time this runs. */
  onCrash: (message: string) => void;
};

export type AppStream = {
  readonly session: StreamSession;
  readonly workload: AppWorkload;
  /** Closes the stream, then the workload. Idempotent. */
  close(reason: EndReasonName): Promise<void>;
};

export async function startAppStream(params: StartAppStreamParameters): Promise<AppStream> {
  const { manifest, sessionId, log } = params;
  const workload = await AppWorkload.start({
    manifest,
    sessionId,
    log,
    ...(params.workRoot ? { workRoot: params.workRoot } : {}),
    ...(params.displayRange ? { displayRange: params.displayRange } : {}),
  });
  const abort = new AbortController();
  const offExited = workload.on('exited', (exit) => abort.abort(gameCrashedError(exit, workload.outputTail)));
  let session: StreamSession;
  try {
    session = await params.startStream(workload.captureSpec(), abort.signal);
  } catch (error) {
    offExited();
    await workload.close();
    throw error;
  }
  offExited();
  let closing: Promise<void> | undefined;
  const close = (reason: EndReasonName): Promise<void> => {
    closing ??= (async () => {
      try {
        await session.close(reason);
      } finally {
        await workload.close();
      }
    })();
    return closing;
  };
  // Died between its first frame and here: nothing was streamed yet.
  if (workload.exit) {
    const error = gameCrashedError(workload.exit, workload.outputTail);
    await close('game-crashed');
    throw error;
  }
  workload.on('exited', (exit) => {
    const error = gameCrashedError(exit, workload.outputTail);
    log.warn({ err: error, sessionId, game: manifest.id }, 'game crashed; ending its session');
    void close('game-crashed')
      .catch((closeError: unknown) => log.error({ err: closeError, sessionId }, 'close after crash failed'))
      .then(() => params.onCrash(`${exit.message} (${error.code})`));
  });
  log.info(
    { sessionId, game: manifest.id, display: workload.display, firstFrameMs: Date.now() - workload.startedAtWallMs },
    'external game streaming',
  );
  return { session, workload, close };
}
