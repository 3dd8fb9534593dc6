/**
 * The main thread's handle on one streaming session. The session itself — game, encoders, WebRTC — runs in
 * its own worker thread (sessionWorker.ts), so rendering and encoding never block signaling or another
 * session; this class relays signaling to it, turns its messages into typed events, and guarantees that
 * whatever happens in the worker (crash, exit, garbage) ends as an `ended` event, never as an exception here.
 */
import { randomInt } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { type Logger, pino } from 'pino';
import {
  AthError,
  type CodecName,
  type EndReasonName,
  type IceCandidateInit,
  isAthError,
  type VideoFormat,
} from '../../signaling/protocol/index.js';
import type { CaptureSourceSpec } from '../apps/CaptureSourceSpec.js';
import { RenderHostErrorCode } from '../errors.js';
import { BUILTIN_GAMES, type GameSnapshot } from '../games/index.js';
import { RealtimeThreadGuard, type RealtimeThreadState } from './realtimeThread.js';
import { relogWorkerLine } from './relogWorkerLine.js';
import type { SessionWorkerPool } from './SessionWorkerPool.js';
import { spawnSessionWorker, stopSessionWorker } from './spawnSessionWorker.js';
import type { TestHooks } from './TestHooks.js';
import { TypedEmitter } from './TypedEmitter.js';
import type { IceOptions } from './webrtcConfig.js';
import {
  type EncoderSettings,
  parseWorkerEvent,
  type SessionWorkerInit,
  type StreamStats,
  type WorkerCommand,
  type WorkerEvent,
} from './workerMessages.js';

export type StreamSessionParameters = {
  sessionId: string;
  /** A built-in game id (`neon-drift`), or the id of the external game `capture` streams. */
  game: string;
  /**
   * Stream this running external game (render-host/apps) instead of a built-in one. `start` then resolves
   * only once the game shows its first frame worth streaming, so the player's first frame is the game's.
   */
  capture?: CaptureSourceSpec;
  /** A built-in game rendered at another size and frame rate than its own (the player's quality rung). */
  video?: VideoFormat;
  /** Aborts a start that is still waiting (an external game that crashed while getting ready). */
  signal?: AbortSignal;
  /** Video codecs the player decodes, most preferred first. */
  codecs: CodecName[];
  encoder: EncoderSettings;
  /** Game state to resume from (a snapshot taken from an earlier session). */
  resumeState?: GameSnapshot;
  /** Seed of the game's PRNG (random by default). */
  seed?: number;
  audioBitrateBps?: number;
  /** Lip-sync audio and video in the browser (one MediaStream). Default true. */
  avSync?: boolean;
  ice?: IceOptions;
  statsIntervalMs?: number;
  /** From the offer to a connected peer. Default 30 s. */
  connectTimeoutMs?: number;
  /** How long a session waits for `restartTransport` after its peer went away. Default 2 s. */
  reconnectGraceMs?: number;
  /**
   * How long `close()` lets the worker close its peer and encoders on its own before stopping it from outside
   * (3 s by default). A worker never stops with native work in flight, whatever this is (see nativeWork.ts).
   */
  closeTimeoutMs?: number;
  /**
   * Borrow an already booted, warm worker from here (saves ≈1.5 s of CPU and ≈1 s of set-up), and give it back
   * when the session ends (clean: kept for the next session; otherwise stopped); spawn one otherwise.
   */
  pool?: SessionWorkerPool;
  /** Degrade the stream on purpose from the start (tests only, see TestHooks.ts). */
  testHooks?: TestHooks;
  /**
   * Run the session's thread at this SCHED_RR priority (1…99) while it streams, guarded against a runaway
   * (realtimeThread.ts); 0 or absent: normal scheduling.
   */
  realtimePriority?: number;
  log?: Logger;
};

export type StreamSessionEvents = {
  /** An SDP offer for the player (after `start`, and after each `restartTransport`). */
  offer: [sdp: string];
  /** A trickled ICE candidate; `null` = no more candidates for the current offer. */
  ice: [candidate: IceCandidateInit | null];
  /** ICE + DTLS are up and the first frame went out. */
  connected: [];
  /** Every `statsIntervalMs` (1 s). */
  stats: [stats: StreamStats];
  /**
   * The session ended on its own: the player left (`player-left`), never connected (`connect-timeout`), or
   * something failed (`error`). Not emitted for `close()`. The worker is gone by the time listeners run.
   */
  ended: [reason: EndReasonName, message: string];
};

const READY_TIMEOUT_MS = 20_000;
/** An external game's start waits for its readiness check, plus this for the worker and the capture. */
const CAPTURE_READY_EXTRA_MS = 10_000;
const CLOSE_TIMEOUT_MS = 3_000;
const MAX_INPUT_BYTES = 64;
/** A host whose session threads may not be raised says so once, not with every session. */
let realtimeRefusalLogged = false;

type Pending = {
  resolve: (event: WorkerEvent & { type: 'reply'; ok: true }) => void;
  reject: (error: AthError) => void;
};

export class StreamSession extends TypedEmitter<StreamSessionEvents> {
  readonly sessionId: string;
  readonly #worker: Worker;
  readonly #pool: SessionWorkerPool | undefined;
  readonly #log: Logger;
  readonly #closeTimeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #workerAlive = true;
  /** The worker is terminated. */
  #closed = false;
  #closing: Promise<void> | undefined;
  #ended = false;
  #lastStats: StreamStats | undefined;
  #ready: { resolve: () => void; reject: (error: AthError) => void } | undefined;
  readonly #realtimePriority: number;
  #realtime: RealtimeThreadGuard | undefined;
  readonly #listeners = {
    message: (data: unknown) => this.#onMessage(data),
    error: (error: Error) => this.#onWorkerGone('error', error),
    exit: (code: number) => this.#onWorkerGone('exit', code),
  };

  private constructor(
    sessionId: string,
    worker: Worker,
    pool: SessionWorkerPool | undefined,
    log: Logger,
    closeTimeoutMs: number,
    realtimePriority: number,
  ) {
    super(log);
    this.sessionId = sessionId;
    this.#realtimePriority = realtimePriority;
    this.#closeTimeoutMs = closeTimeoutMs;
    this.#worker = worker;
    this.#pool = pool;
    this.#log = log;
    worker.on('message', this.#listeners.message);
    worker.on('error', this.#listeners.error);
    worker.on('exit', this.#listeners.exit);
  }

  /**
   * Starts the session's worker (game, Opus encoder, sockets) and, right after this resolves, its first
   * offer: attach listeners synchronously after `await StreamSession.start(…)` and no event is missed.
   */
  static async start(params: StreamSessionParameters): Promise<StreamSession> {
    const log = (params.log ?? pino({ level: 'silent' })).child({
      mod: 'render-host/session',
      sessionId: params.sessionId,
    });
    if (!params.capture && !BUILTIN_GAMES.some((game) => game.id === params.game)) {
      throw new AthError({
        code: RenderHostErrorCode.unknownGame,
        shortMessage: 'no such built-in game',
        details: params.game,
      });
    }
    const { minBitrateBps, startBitrateBps, maxBitrateBps } = params.encoder;
    if (!(minBitrateBps <= startBitrateBps && startBitrateBps <= maxBitrateBps) || params.codecs.length === 0) {
      throw new AthError({
        code: RenderHostErrorCode.badParameters,
        shortMessage: 'need min ≤ start ≤ max bitrate and at least one codec',
      });
    }
    const init: SessionWorkerInit = {
      sessionId: params.sessionId,
      game: params.game,
      seed: params.seed ?? randomInt(0, 2 ** 32 - 1),
      encoder: { ...params.encoder },
      audioBitrateBps: params.audioBitrateBps ?? 96_000,
      avSync: params.avSync ?? true,
      ice: { ...params.ice },
      ...(params.resumeState ? { resumeState: params.resumeState } : {}),
      ...(params.capture ? { capture: params.capture } : {}),
      ...(params.video && !params.capture ? { video: { ...params.video } } : {}),
      logLevel: log.level,
      statsIntervalMs: params.statsIntervalMs ?? 1000,
      connectTimeoutMs: params.connectTimeoutMs ?? 30_000,
      reconnectGraceMs: params.reconnectGraceMs ?? 2_000,
      ...(params.testHooks ? { testHooks: { ...params.testHooks } } : {}),
    };
    const worker = (await params.pool?.acquire()) ?? spawnSessionWorker(`session ${params.sessionId.slice(0, 10)}`);
    const session = new StreamSession(
      params.sessionId,
      worker,
      params.pool,
      log,
      params.closeTimeoutMs ?? CLOSE_TIMEOUT_MS,
      params.realtimePriority ?? 0,
    );
    session.#post({ type: 'init', init });
    const readiness = params.capture?.readiness;
    const readyTimeoutMs = readiness
      ? (readiness.kind === 'delay' ? readiness.delayMs : readiness.timeoutMs) + CAPTURE_READY_EXTRA_MS
      : READY_TIMEOUT_MS;
    const onAbort = () => {
      const reason: unknown = params.signal?.reason;
      session.#ready?.reject(
        isAthError(reason)
          ? reason
          : new AthError({ code: RenderHostErrorCode.sessionWorker, shortMessage: 'session start aborted' }),
      );
    };
    try {
      params.signal?.throwIfAborted();
      const ready = session.#waitReady(readyTimeoutMs);
      params.signal?.addEventListener('abort', onAbort, { once: true });
      await ready;
    } catch (error) {
      params.signal?.removeEventListener('abort', onAbort);
      await session.close('error');
      throw error;
    }
    params.signal?.removeEventListener('abort', onAbort);
    const codecs = [...params.codecs];
    // After the caller's continuation has run (listeners attached), ask for the first offer.
    setImmediate(() => {
      session.#request({ type: 'negotiate', codecs }).catch((error: unknown) => session.#fail(error, 'offer'));
    });
    return session;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The worker thread serving this session (a pool's workers serve one session after another). */
  get workerThreadId(): number {
    return this.#worker.threadId;
  }

  /** The latest stats event, if any. */
  get lastStats(): StreamStats | undefined {
    return this.#lastStats;
  }

  /** The player's SDP answer to the latest offer. Rejects with ATH_ERR_NEGOTIATION if unusable. */
  async acceptAnswer(sdp: string): Promise<void> {
    await this.#request({ type: 'answer', sdp });
  }

  async addIceCandidate(candidate: IceCandidateInit | null): Promise<void> {
    await this.#request({ type: 'ice', candidate });
  }

  /** Input that came through signaling instead of the data channel (same binary format). */
  relayInput(bytes: Uint8Array): void {
    if (this.#closed || this.#closing) return;
    if (bytes.byteLength === 0 || bytes.byteLength > MAX_INPUT_BYTES) {
      this.#log.debug({ bytes: bytes.byteLength }, 'relayed input of impossible size dropped');
      return;
    }
    this.#post({ type: 'input', bytes: new Uint8Array(bytes) });
  }

  /** Tests only: degrade the running stream (fps cap, delayed data-channel replies); see TestHooks.ts. */
  async setTestHooks(hooks: TestHooks): Promise<void> {
    if (this.#closed || this.#closing) return;
    // Resolves once the worker applied them: a test may then measure at once. Never rejects.
    await this.#request({ type: 'test-hooks', hooks: { ...hooks } }).catch(() => undefined);
  }

  /**
   * A new WebRTC transport (new offer event) for a player who came back; the game keeps running. `ice`: the ICE
   * settings for the new transport (the resume's fresh TURN credentials); the previous ones when absent.
   */
  async restartTransport(codecs: CodecName[], ice?: IceOptions): Promise<void> {
    await this.#request({ type: 'negotiate', codecs: [...codecs], ...(ice ? { ice: { ...ice } } : {}) });
  }

  /** The game's state, to resume it elsewhere. */
  async snapshot(): Promise<GameSnapshot | undefined> {
    const reply = await this.#request({ type: 'snapshot' });
    return reply.snapshot ?? undefined;
  }

  /**
   * Stops the session: closes the peer and encoders in the worker, then gives the worker back to its pool (which
   * keeps it for another session if it closed cleanly) or terminates it. Idempotent; no `ended` event follows an
   * explicit close.
   */
  close(reason: EndReasonName = 'host-stopped'): Promise<void> {
    this.#closing ??= this.#shutdown(reason);
    return this.#closing;
  }

  async #shutdown(reason: EndReasonName): Promise<void> {
    let recycle: { reusable: boolean; heapUsedBytes: number } | undefined;
    if (this.#workerAlive) {
      this.#pool?.returning(this.#worker);
      try {
        const reply = await Promise.race([
          this.#request({ type: 'close', reason }, true),
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), this.#closeTimeoutMs).unref()),
        ]);
        recycle = reply?.recycle;
      } catch (error) {
        this.#log.debug({ err: error }, 'worker close command failed; terminating');
      }
    }
    this.#closed = true;
    // A pooled worker waits for its next session at normal priority; one that could not be lowered is not reused.
    const lowered = (await this.#realtime?.release()) ?? true;
    this.#rejectPending(new AthError({ code: RenderHostErrorCode.sessionClosed, shortMessage: 'session closed' }));
    // Nothing of the worker reaches this session any more: it may serve another one from now on.
    this.#worker.off('message', this.#listeners.message);
    this.#worker.off('error', this.#listeners.error);
    this.#worker.off('exit', this.#listeners.exit);
    // Reused only after a clean close in time, of a session that did not fail (an error may have left anything).
    const reusable =
      lowered && recycle?.reusable === true && this.#workerAlive && reason !== 'error' && reason !== 'game-crashed';
    if (this.#pool) {
      await this.#pool.release(this.#worker, { reusable, heapUsedBytes: recycle?.heapUsedBytes ?? 0 });
    } else await stopSessionWorker(this.#worker, this.#log);
    if (!this.#ended) this.removeAllListeners();
  }

  // ---- worker plumbing -------------------------------------------------------------------------------------

  #waitReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new AthError({ code: RenderHostErrorCode.sessionWorker, shortMessage: 'session worker did not start' }),
          ),
        timeoutMs,
      );
      this.#ready = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  #post(command: WorkerCommand): void {
    this.#worker.postMessage(command);
  }

  #request(
    command: WorkerCommand extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never,
    duringShutdown = false,
  ): Promise<WorkerEvent & { type: 'reply'; ok: true }> {
    if (this.#closed || (this.#closing && !duringShutdown)) {
      return Promise.reject(new AthError({ code: RenderHostErrorCode.sessionClosed, shortMessage: 'session closed' }));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#post({ ...command, id } as WorkerCommand);
    });
  }

  #onMessage(data: unknown): void {
    let event: WorkerEvent;
    try {
      event = parseWorkerEvent(data);
    } catch (error) {
      this.#log.error({ err: error }, 'invalid message from the session worker');
      return;
    }
    switch (event.type) {
      case 'ready':
        if (event.osThreadId !== undefined) this.#raise(event.osThreadId);
        this.#ready?.resolve();
        return;
      case 'start-failed':
        this.#ready?.reject(new AthError({ code: event.code, shortMessage: event.message }));
        return;
      case 'reply': {
        const pending = this.#pending.get(event.id);
        this.#pending.delete(event.id);
        if (!pending) return;
        if (event.ok) pending.resolve(event);
        else {
          pending.reject(new AthError({ code: event.code, shortMessage: event.message }));
        }
        return;
      }
      case 'offer':
        this.safeEmit('offer', event.sdp);
        return;
      case 'ice':
        this.safeEmit('ice', event.candidate);
        return;
      case 'connected':
        this.safeEmit('connected');
        return;
      case 'stats':
        this.#lastStats = event.stats;
        this.safeEmit('stats', event.stats);
        return;
      case 'ended':
        this.#end(event.reason, event.message);
        return;
      case 'log':
        relogWorkerLine(this.#log, event.line, 'session worker');
        return;
      case 'warm':
        // A pooled worker's warm-up, cut short by this session (the pool heard of finished ones).
        this.#log.debug({ completed: event.completed, stepsMs: event.stepsMs }, 'worker warm-up ended');
        return;
    }
  }

  /** The session's thread to real-time priority (see realtimeThread.ts), when configured. */
  #raise(tid: number): void {
    if (this.#realtimePriority <= 0 || this.#realtime || this.#closed || this.#closing) return;
    const guard = new RealtimeThreadGuard({ tid, priority: this.#realtimePriority, log: this.#log });
    this.#realtime = guard;
    void guard.raise().then(() => {
      if (guard.state === 'realtime')
        this.#log.debug({ tid, priority: this.#realtimePriority }, 'session thread at real-time priority');
      else if (guard.state === 'refused' && !realtimeRefusalLogged) {
        realtimeRefusalLogged = true;
        this.#log.warn(
          { reason: guard.refusal, priority: this.#realtimePriority },
          'session threads keep normal scheduling (renderHost.sessionRealtimePriority): streams may drop frames when the machine is busy',
        );
      }
    });
  }

  /** Whether the session's thread runs at real-time priority now (diagnostics and tests). */
  get realtimeThread(): { tid: number; state: RealtimeThreadState; refusal: string | undefined } | undefined {
    const guard = this.#realtime;
    return guard ? { tid: guard.tid, state: guard.state, refusal: guard.refusal } : undefined;
  }

  #onWorkerGone(kind: 'error' | 'exit', detail: unknown): void {
    this.#workerAlive = false;
    if (this.#closed || this.#closing) return;
    const error = new AthError({
      code: RenderHostErrorCode.sessionWorker,
      shortMessage: kind === 'error' ? 'session worker crashed' : 'session worker exited',
      cause: detail,
    });
    this.#log.error({ err: error, exitCode: kind === 'exit' ? detail : undefined }, error.shortMessage);
    this.#ready?.reject(error);
    this.#rejectPending(error);
    this.#end('error', 'The game session crashed.');
  }

  #fail(error: unknown, during: string): void {
    if (this.#closed || this.#closing) return;
    this.#log.error({ err: error, during }, 'session failed');
    this.#end('error', 'The render host could not set up the stream.');
  }

  /** The session ended from inside (worker said so, or crashed): shut down, then tell the listeners. */
  #end(reason: EndReasonName, message: string): void {
    if (this.#ended || this.#closing) return;
    this.#ended = true;
    void this.close(reason)
      .catch((error: unknown) => this.#log.error({ err: error }, 'close after end failed'))
      .then(() => this.safeEmit('ended', reason, message))
      .finally(() => this.removeAllListeners());
  }

  #rejectPending(error: AthError): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
