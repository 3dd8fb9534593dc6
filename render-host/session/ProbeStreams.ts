/**
 * The main thread's side of checkers' probe streams: one probe worker (probeWorker.ts), started when the
 * first probe comes and stopped after an idle while, serves every probe of the host. A probe is a cheap
 * stream — a 320×180 test card at the host's frame rate, ≤ 300 kbit/s, no audio — on its own peer connection
 * with the same data channels as a player's session (pings are echoed on `input`). Probes are bounded in
 * number and never touch the players' session workers. Whatever happens in the worker ends as `ended` events,
 * never as an exception here.
 */
import type { Worker } from 'node:worker_threads';
import { type Logger, pino } from 'pino';
import {
  AthError,
  type CodecName,
  type EndReasonName,
  type IceCandidateInit,
  type IceServerRecord,
  PROBE_VIDEO_HEIGHT,
  PROBE_VIDEO_WIDTH,
} from '../../signaling/protocol/index.js';
import { RenderHostErrorCode } from '../errors.js';
import { type ProbeCommand, type ProbeEvent, type ProbeWorkerInit, parseProbeEvent } from './probeWorkerMessages.js';
import { relogWorkerLine } from './relogWorkerLine.js';
import { spawnSessionWorker } from './spawnSessionWorker.js';
import { NO_TEST_HOOKS, type TestHookSwitch } from './TestHooks.js';
import type { IceOptions } from './webrtcConfig.js';
import type { EncoderSettings, StreamStats } from './workerMessages.js';

/** A probe's stream needs little: the checker counts frames and pings, it does not look at the picture. */
export const PROBE_ENCODER_SETTINGS: EncoderSettings = {
  prefer: 'x264',
  minBitrateBps: 100_000,
  startBitrateBps: 200_000,
  maxBitrateBps: 300_000,
};

export type ProbeStreamEvents = {
  offer(sdp: string): void;
  ice(candidate: IceCandidateInit | null): void;
  /** ICE and DTLS are up and the first frame went out. */
  connected(): void;
  stats?(stats: StreamStats): void;
  /** The probe ended on its own (checker gone, never connected, worker failure). Not called after `close`. */
  ended(reason: EndReasonName, message: string): void;
};

export type ProbeStream = {
  readonly probeId: string;
  acceptAnswer(sdp: string): Promise<void>;
  addIceCandidate(candidate: IceCandidateInit | null): Promise<void>;
  /** The latest stats of the stream, if any. */
  stats(): StreamStats | undefined;
  /** Stops the stream. Idempotent. */
  close(): Promise<void>;
};

export type OpenProbeParameters = {
  probeId: string;
  codecs: CodecName[];
  /** STUN/TURN servers signaling issued for this probe session (`start-probe`). */
  iceServers?: IceServerRecord[];
  events: ProbeStreamEvents;
};

/** What the render host needs of a probe server (ProbeStreams, or anything else that serves probes). */
export type ProbeService = { open(params: OpenProbeParameters): Promise<ProbeStream> };

export type ProbeStreamsParameters = {
  /** The host's frame rate (the highest of its games'): what a checker compares against. */
  fps: number;
  width?: number;
  height?: number;
  encoder?: EncoderSettings;
  ice?: IceOptions;
  /** Probes at once; more are refused (a misbehaving signaling cannot make the host stream without bound). */
  maxProbes?: number;
  /** From the offer to a connected checker. */
  connectTimeoutMs?: number;
  statsIntervalMs?: number;
  /** The worker stops after this long without probes (it is started again, ≈1 s, for the next one). */
  idleTimeoutMs?: number;
  testHooks?: TestHookSwitch;
  log?: Logger;
};

const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 3_000;

type Pending = { resolve: () => void; reject: (error: AthError) => void };
type Live = { events: ProbeStreamEvents; lastStats: StreamStats | undefined; closed: boolean };
type RunningWorker = { worker: Worker; ready: Promise<void>; alive: boolean };

export class ProbeStreams implements ProbeService {
  readonly #p: Required<Omit<ProbeStreamsParameters, 'testHooks' | 'log' | 'ice'>> & { ice: IceOptions };
  readonly #log: Logger;
  readonly #live = new Map<string, Live>();
  readonly #pending = new Map<number, Pending>();
  readonly #unsubscribeHooks: (() => void) | undefined;
  readonly #testHooks: TestHookSwitch | undefined;
  #running: RunningWorker | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #nextId = 1;
  #closed = false;

  constructor(params: ProbeStreamsParameters) {
    this.#p = {
      fps: params.fps,
      width: params.width ?? PROBE_VIDEO_WIDTH,
      height: params.height ?? PROBE_VIDEO_HEIGHT,
      encoder: params.encoder ?? PROBE_ENCODER_SETTINGS,
      ice: params.ice ?? {},
      maxProbes: params.maxProbes ?? 8,
      connectTimeoutMs: params.connectTimeoutMs ?? 15_000,
      statsIntervalMs: params.statsIntervalMs ?? 1000,
      idleTimeoutMs: params.idleTimeoutMs ?? 120_000,
    };
    this.#log = (params.log ?? pino({ level: 'silent' })).child({ mod: 'render-host/probes' });
    this.#testHooks = params.testHooks;
    this.#unsubscribeHooks = params.testHooks?.onChange(async (hooks) => {
      // A worker that starts later gets them in its init.
      if (this.#running?.alive)
        await this.#request(this.#running, { type: 'test-hooks', hooks }).catch(() => undefined);
    });
  }

  /** Probe streams open now. */
  get active(): number {
    return this.#live.size;
  }

  /** Whether the probe worker is running (booted or booting). */
  get workerRunning(): boolean {
    return this.#running?.alive ?? false;
  }

  /**
   * Boots the probe worker now (≈1 s of module loading) rather than at the first probe: a host calls it before
   * it registers, so the first checker round — which comes seconds after registration, just when `npm start`'s
   * newcomer presses Play — finds it warm instead of loading modules on the cores the new stream needs. Stops
   * again after the idle timeout if no probe comes.
   */
  async warm(): Promise<void> {
    if (this.#closed) return;
    const running = this.#ensureWorker();
    await running.ready;
    if (this.#live.size === 0 && !this.#idleTimer && !this.#closed) {
      this.#idleTimer = setTimeout(() => {
        this.#idleTimer = undefined;
        if (this.#live.size === 0 && !this.#closed) void this.#stopWorker();
      }, this.#p.idleTimeoutMs);
      this.#idleTimer.unref();
    }
  }

  /** Starts a probe stream; its offer comes through `events.offer` (before this resolves). */
  async open({ probeId, codecs, iceServers, events }: OpenProbeParameters): Promise<ProbeStream> {
    if (this.#closed) throw new AthError({ code: RenderHostErrorCode.sessionClosed, shortMessage: 'probes closed' });
    if (this.#live.has(probeId)) {
      throw new AthError({ code: RenderHostErrorCode.badParameters, shortMessage: 'probe already open' });
    }
    if (this.#live.size >= this.#p.maxProbes) {
      throw new AthError({
        code: RenderHostErrorCode.badParameters,
        shortMessage: `at most ${this.#p.maxProbes} probe streams at once`,
      });
    }
    const live: Live = { events, lastStats: undefined, closed: false };
    this.#live.set(probeId, live);
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    let running: RunningWorker;
    try {
      running = this.#ensureWorker();
      await running.ready;
      await this.#request(running, {
        type: 'start',
        probeId,
        codecs: [...codecs],
        ...(iceServers?.length ? { iceServers } : {}),
      });
    } catch (error) {
      this.#forget(probeId);
      throw error;
    }
    const stream: ProbeStream = {
      probeId,
      acceptAnswer: async (sdp) => {
        if (live.closed) throw new AthError({ code: RenderHostErrorCode.sessionClosed, shortMessage: 'probe closed' });
        await this.#request(running, { type: 'answer', probeId, sdp });
      },
      addIceCandidate: async (candidate) => {
        if (live.closed) return;
        await this.#request(running, { type: 'ice', probeId, candidate });
      },
      stats: () => live.lastStats,
      close: async () => {
        if (live.closed) return;
        live.closed = true;
        if (running.alive) {
          await Promise.race([
            this.#request(running, { type: 'stop', probeId }).catch(() => undefined),
            new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS).unref()),
          ]);
        }
        this.#forget(probeId);
      },
    };
    return stream;
  }

  /** Stops every probe and the worker. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribeHooks?.();
    clearTimeout(this.#idleTimer);
    const probeIds = [...this.#live.keys()];
    for (const live of this.#live.values()) live.closed = true;
    this.#live.clear();
    await this.#stopWorker(probeIds);
  }

  // ---- the worker --------------------------------------------------------------------------------------

  #ensureWorker(): RunningWorker {
    if (this.#running?.alive) return this.#running;
    const worker = spawnSessionWorker('probes', 'probeWorker');
    let resolveReady: () => void = () => undefined;
    let rejectReady: (error: AthError) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    ready.catch(() => undefined);
    const running: RunningWorker = { worker, ready, alive: true };
    const readyTimer = setTimeout(
      () =>
        rejectReady(
          new AthError({ code: RenderHostErrorCode.sessionWorker, shortMessage: 'probe worker did not start' }),
        ),
      READY_TIMEOUT_MS,
    );
    readyTimer.unref();
    worker.on('message', (data: unknown) => {
      let event: ProbeEvent;
      try {
        event = parseProbeEvent(data);
      } catch (error) {
        this.#log.error({ err: error }, 'invalid message from the probe worker');
        return;
      }
      if (event.type === 'ready') {
        clearTimeout(readyTimer);
        resolveReady();
        return;
      }
      this.#onEvent(event);
    });
    const gone = (detail: unknown) => {
      if (!running.alive) return;
      running.alive = false;
      clearTimeout(readyTimer);
      if (this.#running === running) this.#running = undefined;
      const error = new AthError({
        code: RenderHostErrorCode.sessionWorker,
        shortMessage: 'probe worker gone',
        cause: detail,
      });
      rejectReady(error);
      for (const pending of this.#pending.values()) pending.reject(error);
      this.#pending.clear();
      if (this.#closed) return;
      this.#log.error({ err: error }, 'probe worker gone; its probes end');
      for (const [probeId, live] of [...this.#live]) {
        this.#forget(probeId);
        if (!live.closed) this.#safe(() => live.events.ended('error', 'The probe stream failed.'));
      }
    };
    worker.on('error', gone);
    worker.on('exit', gone);
    const init: ProbeWorkerInit = {
      width: this.#p.width,
      height: this.#p.height,
      fps: this.#p.fps,
      encoder: { ...this.#p.encoder },
      ice: { ...this.#p.ice },
      statsIntervalMs: this.#p.statsIntervalMs,
      connectTimeoutMs: this.#p.connectTimeoutMs,
      testHooks: this.#testHooks?.current ?? { ...NO_TEST_HOOKS },
      logLevel: this.#log.level,
    };
    this.#running = running;
    this.#post(running, { type: 'init', init });
    this.#log.info({ fps: init.fps, width: init.width, height: init.height }, 'probe worker started');
    return running;
  }

  async #stopWorker(openProbeIds: string[] = []): Promise<void> {
    const running = this.#running;
    this.#running = undefined;
    if (!running) return;
    // Close open pipelines in order first: terminating a thread under running FFmpeg work aborts the process.
    if (running.alive && openProbeIds.length > 0) {
      await Promise.race([
        Promise.all(
          openProbeIds.map((probeId) => this.#request(running, { type: 'stop', probeId }).catch(() => undefined)),
        ),
        new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS).unref()),
      ]);
    }
    running.alive = false;
    await running.worker.terminate();
  }

  #onEvent(event: Exclude<ProbeEvent, { type: 'ready' }>): void {
    if (event.type === 'log') {
      relogWorkerLine(this.#log, event.line, 'probe worker');
      return;
    }
    if (event.type === 'reply') {
      const pending = this.#pending.get(event.id);
      this.#pending.delete(event.id);
      if (!pending) return;
      if (event.ok) pending.resolve();
      else pending.reject(new AthError({ code: event.code, shortMessage: event.message }));
      return;
    }
    const live = this.#live.get(event.probeId);
    if (!live || live.closed) return;
    switch (event.type) {
      case 'offer':
        this.#safe(() => live.events.offer(event.sdp));
        return;
      case 'ice':
        this.#safe(() => live.events.ice(event.candidate));
        return;
      case 'connected':
        this.#safe(() => live.events.connected());
        return;
      case 'stats':
        live.lastStats = event.stats;
        this.#safe(() => live.events.stats?.(event.stats));
        return;
      case 'ended':
        live.closed = true;
        this.#forget(event.probeId);
        this.#safe(() => live.events.ended(event.reason, event.message));
        return;
    }
  }

  #forget(probeId: string): void {
    this.#live.delete(probeId);
    if (this.#live.size > 0 || this.#closed || this.#idleTimer) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#live.size === 0 && !this.#closed) {
        this.#log.debug('no probes for a while; probe worker stopped');
        void this.#stopWorker();
      }
    }, this.#p.idleTimeoutMs);
    this.#idleTimer.unref();
  }

  #post(running: RunningWorker, command: ProbeCommand): void {
    running.worker.postMessage(command);
  }

  #request(
    running: RunningWorker,
    command: ProbeCommand extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never,
  ): Promise<void> {
    if (!running.alive) {
      return Promise.reject(
        new AthError({ code: RenderHostErrorCode.sessionWorker, shortMessage: 'probe worker gone' }),
      );
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#post(running, { ...command, id } as ProbeCommand);
    });
  }

  #safe(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#log.error({ err: error }, 'probe event listener failed');
    }
  }
}
