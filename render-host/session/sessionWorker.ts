/**
 * The entry point of one session's worker thread (started by StreamSession, possibly ahead of time by a
 * SessionWorkerPool). Loading its modules (werift, node-av, Skia, …) takes about a second here, so the
 * worker loads them first and only then waits for its `init` message: a pooled worker is ready to stream at
 * once. From `init` on it owns the game, both encoders and the WebRTC peer; it talks to the main thread only
 * through validated messages (workerMessages.ts), and logs through it (pino lines posted as `log` events).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type Logger, pino } from 'pino';
import { parseCaptureSourceSpec } from '../apps/CaptureSourceSpec.js';
import { createGameRuntime } from '../games/index.js';
import { GameMediaSource } from './GameMediaSource.js';
import type { MediaSource } from './MediaSource.js';
import { markNativeInUse, markNativeReleased } from './nativeWork.js';
import { SessionPipeline } from './SessionPipeline.js';
import { warmSessionWorker } from './warmSessionWorker.js';
import { parseWorkerCommand, type SessionWorkerInit, type WorkerCommand, type WorkerEvent } from './workerMessages.js';

const port = parentPort;
if (!port) throw new Error('sessionWorker.ts must run in a worker thread');

function post(event: WorkerEvent): void {
  port?.postMessage(event);
}

type Session = { pipeline: SessionPipeline; log: Logger };

function createLog(init: SessionWorkerInit): Logger {
  return pino(
    { level: init.logLevel, base: undefined, timestamp: false },
    { write: (line: string) => post({ type: 'log', line: line.length > 65536 ? line.slice(0, 65536) : line }) },
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

function newPipeline(init: SessionWorkerInit, source: MediaSource, log: Logger): SessionPipeline {
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
      offer: (sdp) => post({ type: 'offer', sdp }),
      ice: (candidate) => post({ type: 'ice', candidate }),
      connected: () => post({ type: 'connected' }),
      stats: (stats) => post({ type: 'stats', stats }),
      ended: (reason, message) => post({ type: 'ended', reason, message }),
    },
  });
}

async function startSession(init: SessionWorkerInit, log: Logger, signal: AbortSignal): Promise<Session> {
  const source = await openSource(init, log, signal);
  let pipeline: SessionPipeline;
  try {
    pipeline = newPipeline(init, source, log);
  } catch (error) {
    // The source (an external game's capture holds FFmpeg objects) must not outlive a failed start.
    await source.close().catch((closeError: unknown) => log.error({ err: closeError }, 'source close failed'));
    throw error;
  }
  // A failure nobody caught ends this session, not the process: report it, then close in order. Letting the
  // worker die instead would tear it down under FFmpeg work still running on the thread pool, and that
  // aborts the whole process (napi fatal error) — every other session with it.
  let failed = false;
  const fail = (error: unknown) => {
    log.fatal({ err: error }, 'session worker failed');
    if (failed) return;
    failed = true;
    post({ type: 'ended', reason: 'error', message: 'The game session failed.' });
    void pipeline.close().catch((closeError: unknown) => log.error({ err: closeError }, 'close after failure failed'));
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  return { pipeline, log };
}

async function run({ pipeline, log }: Session, command: WorkerCommand): Promise<void> {
  switch (command.type) {
    case 'init':
      throw new Error('init twice');
    case 'negotiate':
      await pipeline.negotiate(command.codecs, command.ice);
      post({ type: 'reply', id: command.id, ok: true });
      return;
    case 'answer':
      await pipeline.acceptAnswer(command.sdp);
      post({ type: 'reply', id: command.id, ok: true });
      return;
    case 'ice':
      await pipeline.addIceCandidate(command.candidate);
      post({ type: 'reply', id: command.id, ok: true });
      return;
    case 'input':
      pipeline.handleInput(command.bytes);
      return;
    case 'snapshot':
      post({ type: 'reply', id: command.id, ok: true, snapshot: pipeline.snapshot() ?? null });
      return;
    case 'test-hooks':
      log.warn({ hooks: command.hooks }, 'test hooks set: this session is degraded on purpose');
      pipeline.setTestHooks(command.hooks);
      post({ type: 'reply', id: command.id, ok: true });
      return;
    case 'close':
      log.debug({ reason: command.reason }, 'closing');
      await pipeline.close();
      // Encoders freed after their in-flight work: the main thread may terminate this worker from now on.
      markNativeReleased();
      post({ type: 'reply', id: command.id, ok: true });
      return;
  }
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
  const log = createLog(init);
  const initAtMs = performance.now();
  startAbort = new AbortController();
  warmAbort.abort();
  await warming;
  // From here until the pipeline closed, terminating this worker could abort the process (nativeWork.ts).
  markNativeInUse();
  return startSession(init, log, startAbort.signal).then(
    (started) => {
      session = started;
      log.info({ readyMs: Math.round(performance.now() - initAtMs) }, 'session ready');
      post({ type: 'ready' });
      return started;
    },
    (error: unknown) => {
      const failure = SessionPipeline.toReplyError(error);
      log.warn({ err: failure }, 'session could not start');
      // What the failed start opened, it closed (or it failed before opening anything native).
      markNativeReleased();
      post({ type: 'start-failed', code: failure.code, message: failure.message.slice(0, 2048) });
      return undefined;
    },
  );
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
        post({ type: 'reply', id: command.id, ok: false, code: failure.code, message: failure.message.slice(0, 2048) });
      }
    });
  });
});
