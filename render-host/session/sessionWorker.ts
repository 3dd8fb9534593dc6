/**
 * The entry point of one session's worker thread (started by StreamSession, possibly ahead of time by a
 * SessionWorkerPool). Loading its modules (werift, node-av, Skia, …) takes about a second here, so the
 * worker loads them first and only then waits for its `init` message: a pooled worker is ready to stream at
 * once. From `init` on it owns the game, both encoders and the WebRTC peer; it talks to the main thread only
 * through validated messages (workerMessages.ts), and logs through it (pino lines posted as `log` events).
 *
 * A worker serves one session at a time, and may serve several in turn (a pool reuses it: booting another costs
 * the host ≈1.5 s of CPU beside its live sessions). After a clean `close` it forgets the session — nothing of
 * it posts another message, its error handlers go, the next `init` builds a new game, pipeline and peer — and
 * it drops werift's per-thread DTLS certificate, so the next session's peer has its own key; its `close` reply
 * says whether it can be reused (`recycle`). What a session leaves in the worker is its garbage in the heap.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { type Logger, pino } from 'pino';
import { RTCDtlsTransport } from 'werift';
import { parseCaptureSourceSpec } from '../apps/CaptureSourceSpec.js';
import { createGameRuntime } from '../games/index.js';
import { GameMediaSource } from './GameMediaSource.js';
import type { MediaSource } from './MediaSource.js';
import { markNativeInUse, markNativeReleased } from './nativeWork.js';
import { currentOsThreadId } from './realtimeThread.js';
import { SessionPipeline } from './SessionPipeline.js';
import { warmSessionWorker } from './warmSessionWorker.js';
import { parseWorkerCommand, type SessionWorkerInit, type WorkerCommand, type WorkerEvent } from './workerMessages.js';

const port = parentPort;
if (!port) throw new Error('sessionWorker.ts must run in a worker thread');

function post(event: WorkerEvent): void {
  port?.postMessage(event);
}

/**
 * One session's voice: everything the session posts goes through it, and nothing does once the session is over
 * (a late werift event, a command still settling, a log line): the worker may be serving another session then.
 */
type Voice = { current: boolean };

function postFor(voice: Voice, event: WorkerEvent): void {
  if (voice.current) post(event);
}

type Session = {
  pipeline: SessionPipeline;
  log: Logger;
  voice: Voice;
  /** An external game's capture (its modules and devices): the worker is not reused after one. */
  capture: boolean;
  /** Something of the session failed uncaught: the worker is not reused. */
  failed: boolean;
  /** Removes the session's process-wide error handlers. */
  unhook: () => void;
};

function createLog(init: SessionWorkerInit, voice: Voice): Logger {
  return pino(
    { level: init.logLevel, base: undefined, timestamp: false },
    {
      write: (line: string) => postFor(voice, { type: 'log', line: line.length > 65536 ? line.slice(0, 65536) : line }),
    },
  );
}

/**
 * The session's media source: a built-in game, or an external game's display (render-host/apps), opened
 * here in the worker so that capture runs beside the encoder, off the host's main thread. The external
 * source resolves only once the game shows its first frame worth streaming (`signal` aborts the wait).
 */
async function openSource(init: SessionWorkerInit, log: Logger, signal: AbortSignal): Promise<MediaSource> {
  if (init.capture) {
    // Loaded on demand: hosts that serve only built-in games never load the capture code.
    const { X11MediaSource } = await import('../apps/X11MediaSource.js');
    return X11MediaSource.open({ spec: parseCaptureSourceSpec(init.capture), log, signal });
  }
  const game = createGameRuntime({ game: init.game, seed: init.seed });
  if (init.resumeState) game.restore(init.resumeState);
  return new GameMediaSource(game, init.video);
}

function newPipeline(init: SessionWorkerInit, source: MediaSource, log: Logger, voice: Voice): SessionPipeline {
  return new SessionPipeline({
    source,
    encoder: init.encoder,
    audioBitrateBps: init.audioBitrateBps,
    avSync: init.avSync,
    ice: init.ice,
    statsIntervalMs: init.statsIntervalMs,
    connectTimeoutMs: init.connectTimeoutMs,
    reconnectGraceMs: init.reconnectGraceMs,
    ...(init.testHooks ? { testHooks: init.testHooks } : {}),
    log,
    events: {
      offer: (sdp) => postFor(voice, { type: 'offer', sdp }),
      ice: (candidate) => postFor(voice, { type: 'ice', candidate }),
      connected: () => postFor(voice, { type: 'connected' }),
      stats: (stats) => postFor(voice, { type: 'stats', stats }),
      ended: (reason, message) => postFor(voice, { type: 'ended', reason, message }),
    },
  });
}

async function startSession(init: SessionWorkerInit, log: Logger, voice: Voice, signal: AbortSignal): Promise<Session> {
  const source = await openSource(init, log, signal);
  let pipeline: SessionPipeline;
  try {
    pipeline = newPipeline(init, source, log, voice);
  } catch (error) {
    // The source (an external game's capture holds FFmpeg objects) must not outlive a failed start.
    await source.close().catch((closeError: unknown) => log.error({ err: closeError }, 'source close failed'));
    throw error;
  }
  // A failure nobody caught ends this session, not the process: report it, then close in order. Letting the
  // worker die instead would tear it down under FFmpeg work still running on the thread pool, and that
  // aborts the whole process (napi fatal error) — every other session with it.
  const fail = (error: unknown) => {
    log.fatal({ err: error }, 'session worker failed');
    if (started.failed) return;
    started.failed = true;
    postFor(voice, { type: 'ended', reason: 'error', message: 'The game session failed.' });
    void pipeline.close().catch((closeError: unknown) => log.error({ err: closeError }, 'close after failure failed'));
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  const started: Session = {
    pipeline,
    log,
    voice,
    capture: init.capture !== undefined,
    failed: false,
    unhook: () => {
      process.off('uncaughtException', fail);
      process.off('unhandledRejection', fail);
    },
  };
  return started;
}

async function run(current: Session, command: WorkerCommand): Promise<void> {
  const { pipeline, log, voice } = current;
  switch (command.type) {
    case 'init':
      throw new Error('init twice');
    case 'negotiate':
      await pipeline.negotiate(command.codecs, command.ice);
      postFor(voice, { type: 'reply', id: command.id, ok: true });
      return;
    case 'answer':
      await pipeline.acceptAnswer(command.sdp);
      postFor(voice, { type: 'reply', id: command.id, ok: true });
      return;
    case 'ice':
      await pipeline.addIceCandidate(command.candidate);
      postFor(voice, { type: 'reply', id: command.id, ok: true });
      return;
    case 'input':
      pipeline.handleInput(command.bytes);
      return;
    case 'snapshot':
      postFor(voice, { type: 'reply', id: command.id, ok: true, snapshot: pipeline.snapshot() ?? null });
      return;
    case 'test-hooks':
      log.warn({ hooks: command.hooks }, 'test hooks set: this session is degraded on purpose');
      pipeline.setTestHooks(command.hooks);
      postFor(voice, { type: 'reply', id: command.id, ok: true });
      return;
    case 'close': {
      log.debug({ reason: command.reason }, 'closing');
      await pipeline.close();
      const reusable = forget(current);
      // The next session's DTLS key, made now rather than in that session's set-up — and before the worker says
      // it may be terminated: a key generation that completes inside a terminating worker can abort the whole
      // process (FATAL ERROR v8::ToLocalChecked, seen once in StreamSession.test at load 13), as node-av's can.
      if (reusable) await RTCDtlsTransport.SetupCertificate().catch(() => undefined);
      // Encoders freed after their in-flight work: the main thread may terminate this worker from now on.
      markNativeReleased();
      // The session's last word, then silence (postFor drops whatever of it comes later).
      const heapUsedBytes = getHeapStatistics().used_heap_size;
      post({ type: 'reply', id: command.id, ok: true, recycle: { reusable, heapUsedBytes } });
      return;
    }
  }
}

/**
 * After a clean close: the worker forgets its session, and says whether it may serve another. Its voice goes
 * quiet, its error handlers go, the next `init` starts from nothing (a new game from its own seed, a new pipeline
 * and peer with that session's ICE servers and credentials); werift's per-thread DTLS certificate is dropped so
 * that the next peer gets a new key and fingerprint, as a fresh worker would.
 */
function forget(current: Session): boolean {
  current.voice.current = false;
  current.unhook();
  session = undefined;
  starting = undefined;
  startAbort = undefined;
  const dtls = RTCDtlsTransport as unknown as { localCertificate?: unknown; localCertificatePromise?: unknown };
  dtls.localCertificate = undefined;
  dtls.localCertificatePromise = undefined;
  return !current.failed && !current.capture;
}

/** Set by `init`: the session once it started, or undefined when it could not start. */
let starting: Promise<Session | undefined> | undefined;
let session: Session | undefined;
let startAbort: AbortController | undefined;

/**
 * The warm-up (warmSessionWorker.ts) starts as soon as the modules are loaded; a session that arrives meanwhile
 * stops it at its next step and waits for it to close what it opened (a few ms).
 */
const warmAbort = new AbortController();
const warming = (workerData as { warmUp?: boolean } | null)?.warmUp
  ? warmSessionWorker({
      signal: warmAbort.signal,
      log: pino(
        { level: 'info', base: undefined, timestamp: false },
        { write: (line: string) => post({ type: 'log', line }) },
      ),
    }).then((result) => post({ type: 'warm', completed: result.completed, stepsMs: result.stepsMs }))
  : Promise.resolve();

async function begin(init: SessionWorkerInit): Promise<Session | undefined> {
  const voice: Voice = { current: true };
  const log = createLog(init, voice);
  const initAtMs = performance.now();
  const abort = new AbortController();
  startAbort = abort;
  warmAbort.abort();
  await warming;
  // From here until the pipeline closed, terminating this worker could abort the process (nativeWork.ts).
  markNativeInUse();
  return startSession(init, log, voice, abort.signal).then(
    (started) => {
      session = started;
      log.info({ readyMs: Math.round(performance.now() - initAtMs), ...workerUse() }, 'session ready');
      const osThreadId = currentOsThreadId();
      postFor(voice, { type: 'ready', ...(osThreadId ? { osThreadId } : {}) });
      return started;
    },
    (error: unknown) => {
      const failure = SessionPipeline.toReplyError(error);
      log.warn({ err: failure }, 'session could not start');
      // What the failed start opened, it closed (or it failed before opening anything native).
      markNativeReleased();
      postFor(voice, { type: 'start-failed', code: failure.code, message: failure.message.slice(0, 2048) });
      return undefined;
    },
  );
}

let sessionsStarted = 0;
/** Which of this worker's sessions this is (1 = a fresh worker), for the session's log. */
function workerUse(): { workerSession: number } {
  sessionsStarted += 1;
  return { workerSession: sessionsStarted };
}

port.on('message', (data: unknown) => {
  let command: WorkerCommand;
  try {
    command = parseWorkerCommand(data);
  } catch (error) {
    // Without a session there is no logger yet: the main thread sees the failure as a worker error.
    if (!session) throw error;
    session.log.error({ err: error }, 'invalid command from the main thread');
    return;
  }
  if (!starting) {
    if (command.type !== 'init') throw new Error(`${command.type} before init`);
    starting = begin(command.init);
    return;
  }
  // A close while an external game is still getting ready stops the wait (its source closes what it opened).
  if (command.type === 'close' && !session) startAbort?.abort();
  // Commands run in arrival order once the start settled (at once after it, as before).
  void starting.then((current) => {
    if (!current) {
      if ('id' in command) {
        if (command.type === 'close') post({ type: 'reply', id: command.id, ok: true });
        else post({ type: 'reply', id: command.id, ok: false, code: 'ATH_ERR_SESSION_CLOSED', message: 'not started' });
      }
      return;
    }
    run(current, command).catch((error: unknown) => {
      const failure = SessionPipeline.toReplyError(error);
      current.log.debug({ err: failure, command: command.type }, 'command failed');
      if ('id' in command) {
        postFor(current.voice, {
          type: 'reply',
          id: command.id,
          ok: false,
          code: failure.code,
          message: failure.message.slice(0, 2048),
        });
      }
    });
  });
});
