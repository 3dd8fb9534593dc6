/**
 * Everything that crosses between the main thread and a session worker: the worker's start parameters, the
 * commands it takes and the events it sends back. One TypeBox schema per message gives the type and the
 * validator; each side checks what it receives (`parseWorkerCommand`, `parseWorkerEvent`) and rejects
 * unknown types and extra fields, like every other edge of ath-edge.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import {
  AthError,
  type AthErrorCode,
  Codec,
  EndReason,
  IceCandidate,
  IceServers,
  IceTransportPolicy,
} from '../../signaling/protocol/index.js';
import { CaptureSourceSpecSchema } from '../apps/CaptureSourceSpec.js';
import { RenderHostErrorCode } from '../errors.js';
import { TestHooksSchema } from './TestHooks.js';

const strict = { additionalProperties: false } as const;

export const EncoderSettingsSchema = Type.Object(
  {
    prefer: Type.Union([Type.Literal('auto'), Type.Literal('nvenc'), Type.Literal('x264')]),
    minBitrateBps: Type.Integer({ minimum: 100_000 }),
    startBitrateBps: Type.Integer({ minimum: 100_000 }),
    maxBitrateBps: Type.Integer({ minimum: 100_000 }),
  },
  strict,
);
export type EncoderSettings = Static<typeof EncoderSettingsSchema>;

const GameSnapshotSchema = Type.Object(
  { game: Type.String({ maxLength: 64 }), version: Type.Integer(), state: Type.Unknown() },
  strict,
);

/** The session's ICE settings (webrtcConfig.ts `IceOptions`): the host's NAT settings plus the session's servers. */
export const IceOptionsSchema = Type.Object(
  {
    iceServers: Type.Optional(IceServers),
    transportPolicy: Type.Optional(IceTransportPolicy),
    portRange: Type.Optional(Type.Tuple([Type.Integer({ minimum: 1 }), Type.Integer({ maximum: 65535 })])),
    publicAddresses: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 16 })),
    announce: Type.Optional(
      Type.Array(
        Type.Union([Type.Literal('host'), Type.Literal('public'), Type.Literal('srflx'), Type.Literal('relay')]),
        {
          maxItems: 4,
        },
      ),
    ),
    useIpv6: Type.Optional(Type.Boolean()),
  },
  strict,
);

export const SessionWorkerInitSchema = Type.Object(
  {
    sessionId: Type.String({ minLength: 1, maxLength: 128 }),
    game: Type.String({ minLength: 1, maxLength: 64 }),
    seed: Type.Integer({ minimum: 0, maximum: 0xffffffff }),
    encoder: EncoderSettingsSchema,
    audioBitrateBps: Type.Integer({ minimum: 16_000, maximum: 256_000 }),
    avSync: Type.Boolean(),
    ice: IceOptionsSchema,
    resumeState: Type.Optional(GameSnapshotSchema),
    /**
     * Stream an external game's display instead of running a built-in game (render-host/apps): the worker
     * opens the capture and waits for the game's first frame worth showing before it reports `ready`.
     */
    capture: Type.Optional(CaptureSourceSpecSchema),
    /** A built-in game's picture size and frame rate when not its own (the player's quality rung). */
    video: Type.Optional(
      Type.Object(
        {
          width: Type.Integer({ minimum: 16, maximum: 3840 }),
          height: Type.Integer({ minimum: 16, maximum: 2160 }),
          fps: Type.Integer({ minimum: 1, maximum: 240 }),
        },
        strict,
      ),
    ),
    logLevel: Type.String({ maxLength: 16 }),
    statsIntervalMs: Type.Integer({ minimum: 100 }),
    connectTimeoutMs: Type.Integer({ minimum: 1000 }),
    reconnectGraceMs: Type.Integer({ minimum: 0 }),
    testHooks: Type.Optional(TestHooksSchema),
  },
  strict,
);
export type SessionWorkerInit = Static<typeof SessionWorkerInitSchema>;

// ---- main → worker ---------------------------------------------------------------------------------------

const RequestId = Type.Integer({ minimum: 1 });

export const WorkerCommandSchema = Type.Union([
  /** The first message: which session this (possibly pre-started) worker runs. */
  Type.Object({ type: Type.Literal('init'), init: SessionWorkerInitSchema }, strict),
  /**
   * Make a (new) WebRTC offer; a second one replaces the transport and keeps the game. `ice`: the ICE settings from
   * this leg on (a resume brings the TURN credentials signaling issued with it); the last ones given otherwise.
   */
  Type.Object(
    {
      type: Type.Literal('negotiate'),
      id: RequestId,
      codecs: Type.Array(Codec, { minItems: 1, maxItems: 2 }),
      ice: Type.Optional(IceOptionsSchema),
    },
    strict,
  ),
  Type.Object(
    { type: Type.Literal('answer'), id: RequestId, sdp: Type.String({ minLength: 1, maxLength: 65536 }) },
    strict,
  ),
  Type.Object({ type: Type.Literal('ice'), id: RequestId, candidate: Type.Union([IceCandidate, Type.Null()]) }, strict),
  /** Input relayed through signaling (before the data channel opens); fire and forget. */
  Type.Object({ type: Type.Literal('input'), bytes: Type.Uint8Array({ maxByteLength: 256 }) }, strict),
  Type.Object({ type: Type.Literal('snapshot'), id: RequestId }, strict),
  Type.Object({ type: Type.Literal('close'), id: RequestId, reason: EndReason }, strict),
  /** Degrade this session on purpose (tests only, see TestHooks.ts); fire and forget. */
  Type.Object({ type: Type.Literal('test-hooks'), id: RequestId, hooks: TestHooksSchema }, strict),
]);
export type WorkerCommand = Static<typeof WorkerCommandSchema>;

// ---- worker → main ---------------------------------------------------------------------------------------

export const StreamStatsSchema = Type.Object(
  {
    /** Frames sent per second over the last interval. */
    fps: Type.Number({ minimum: 0 }),
    framesSent: Type.Integer({ minimum: 0 }),
    /** Frames not sent: the encoder was still busy, or the worker missed whole ticks. */
    framesDropped: Type.Integer({ minimum: 0 }),
    /**
     * Of those, the frames an encoder on the pool (NVENC, formats above 720p60) was still busy for. An encoder on
     * the session's thread (x264, libvpx up to 720p60) is never busy at a tick: its overruns are missed ticks.
     */
    framesDroppedEncoderBusy: Type.Integer({ minimum: 0 }),
    /** Payload sent (video + audio) over the last interval. */
    bitrateBps: Type.Integer({ minimum: 0 }),
    videoBitrateBps: Type.Integer({ minimum: 0 }),
    targetBitrateBps: Type.Integer({ minimum: 0 }),
    /** What got through lately, from transport-wide-cc feedback (DeliveryMonitor), if known. */
    estimateBitrateBps: Type.Optional(Type.Integer({ minimum: 0 })),
    /** One-way delay above its recent minimum, from the same feedback. */
    queueDelayMs: Type.Optional(Type.Number({ minimum: 0 })),
    /** Smoothed fraction of packets reported lost, from the same feedback. */
    lossFraction: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    /** Encode time (ms) of each frame sent since the previous stats (capped), for per-frame histograms. */
    windowEncodeMs: Type.Array(Type.Number({ minimum: 0 }), { maxItems: 1024 }),
    encodeMsP50: Type.Number({ minimum: 0 }),
    encodeMsP95: Type.Number({ minimum: 0 }),
    encoder: Type.String(),
    codec: Type.Union([Codec, Type.Literal('none')]),
    width: Type.Integer({ minimum: 0 }),
    height: Type.Integer({ minimum: 0 }),
    keyframesSent: Type.Integer({ minimum: 0 }),
    pliCount: Type.Integer({ minimum: 0 }),
    nackCount: Type.Integer({ minimum: 0 }),
    rttMs: Type.Optional(Type.Number({ minimum: 0 })),
    audioPacketsSent: Type.Integer({ minimum: 0 }),
    /** Time since the player's last input reached the game (since streaming began if none yet). */
    inputIdleMs: Type.Integer({ minimum: 0 }),
    inputMessages: Type.Integer({ minimum: 0 }),
    badInputMessages: Type.Integer({ minimum: 0 }),
    playoutDelay: Type.Boolean(),
  },
  strict,
);
export type StreamStats = Static<typeof StreamStatsSchema>;

/**
 * An error code from a worker thread of this same build: typed as the closed AthErrorCode union (the worker
 * only sends `AthError.code`s), checked for the shape here.
 */
export const WorkerErrorCode = Type.Unsafe<AthErrorCode>(Type.String({ pattern: '^ATH_ERR_[A-Z0-9_]+$' }));

export const WorkerEventSchema = Type.Union([
  /** Game, audio encoder and sockets are set up; the worker takes commands. */
  Type.Object(
    {
      type: Type.Literal('ready'),
      /** The worker's OS thread id (Linux): the main thread may raise its scheduling priority (realtimeThread.ts). */
      osThreadId: Type.Optional(Type.Integer({ minimum: 1 })),
    },
    strict,
  ),
  /** The session could not start (an external game's capture failed, or it never showed a frame). */
  Type.Object(
    {
      type: Type.Literal('start-failed'),
      code: WorkerErrorCode,
      message: Type.String({ maxLength: 2048 }),
    },
    strict,
  ),
  Type.Object(
    {
      type: Type.Literal('reply'),
      id: RequestId,
      ok: Type.Literal(true),
      snapshot: Type.Optional(Type.Union([GameSnapshotSchema, Type.Null()])),
      /**
       * The reply to `close`: whether the worker can serve another session (its session started and closed
       * cleanly, nothing of it is left: sessionWorker.ts), and its heap afterwards (a pool retires big ones).
       */
      recycle: Type.Optional(
        Type.Object({ reusable: Type.Boolean(), heapUsedBytes: Type.Integer({ minimum: 0 }) }, strict),
      ),
    },
    strict,
  ),
  Type.Object(
    {
      type: Type.Literal('reply'),
      id: RequestId,
      ok: Type.Literal(false),
      code: WorkerErrorCode,
      message: Type.String({ maxLength: 2048 }),
    },
    strict,
  ),
  Type.Object({ type: Type.Literal('offer'), sdp: Type.String({ minLength: 1, maxLength: 65536 }) }, strict),
  Type.Object({ type: Type.Literal('ice'), candidate: Type.Union([IceCandidate, Type.Null()]) }, strict),
  Type.Object({ type: Type.Literal('connected') }, strict),
  Type.Object({ type: Type.Literal('stats'), stats: StreamStatsSchema }, strict),
  Type.Object({ type: Type.Literal('ended'), reason: EndReason, message: Type.String({ maxLength: 512 }) }, strict),
  /** One pino line from the worker, re-logged by the main thread's logger. */
  Type.Object({ type: Type.Literal('log'), line: Type.String({ maxLength: 65536 }) }, strict),
  /** A pooled worker's warm-up is over (warmSessionWorker.ts): ms per step, and whether it ran to the end. */
  Type.Object(
    {
      type: Type.Literal('warm'),
      completed: Type.Boolean(),
      stepsMs: Type.Record(Type.String({ maxLength: 16 }), Type.Integer({ minimum: 0 })),
    },
    strict,
  ),
]);
export type WorkerEvent = Static<typeof WorkerEventSchema>;

/** Checks a message crossing the worker boundary against its schema (session workers). */
export function parseThreadMessage<S extends TSchema>(schema: S, what: string, data: unknown): Static<S> {
  if (Value.Check(schema, data)) return data;
  const first = Value.Errors(schema, data).First();
  throw new AthError({
    code: RenderHostErrorCode.workerMessage,
    shortMessage: `invalid ${what}`,
    details: first ? `${first.path || '/'}: ${first.message}` : undefined,
  });
}

export function parseWorkerCommand(data: unknown): WorkerCommand {
  return parseThreadMessage(WorkerCommandSchema, 'worker command', data);
}

export function parseWorkerEvent(data: unknown): WorkerEvent {
  return parseThreadMessage(WorkerEventSchema, 'worker event', data);
}
