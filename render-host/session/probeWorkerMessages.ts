/**
 * What crosses between the main thread and the probe worker (probeWorker.ts): one worker serves every probe
 * stream of the host, so each command and event names its probe session. Validated on both sides like the
 * session worker's messages (workerMessages.ts), whose pieces it reuses.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Codec, EndReason, IceCandidate, IceServers } from '../../signaling/protocol/index.js';
import { TestHooksSchema } from './TestHooks.js';
import {
  EncoderSettingsSchema,
  IceOptionsSchema,
  parseThreadMessage,
  StreamStatsSchema,
  WorkerErrorCode,
} from './workerMessages.js';

const strict = { additionalProperties: false } as const;
const RequestId = Type.Integer({ minimum: 1 });
const ProbeId = Type.String({ minLength: 1, maxLength: 128 });

export const ProbeWorkerInitSchema = Type.Object(
  {
    width: Type.Integer({ minimum: 16, maximum: 1920 }),
    height: Type.Integer({ minimum: 16, maximum: 1080 }),
    fps: Type.Integer({ minimum: 1, maximum: 240 }),
    encoder: EncoderSettingsSchema,
    ice: IceOptionsSchema,
    statsIntervalMs: Type.Integer({ minimum: 100 }),
    connectTimeoutMs: Type.Integer({ minimum: 1000 }),
    testHooks: TestHooksSchema,
    logLevel: Type.String({ maxLength: 16 }),
  },
  strict,
);
export type ProbeWorkerInit = Static<typeof ProbeWorkerInitSchema>;

export const ProbeCommandSchema = Type.Union([
  Type.Object({ type: Type.Literal('init'), init: ProbeWorkerInitSchema }, strict),
  /** A new probe stream: its pipeline and its offer. */
  Type.Object(
    {
      type: Type.Literal('start'),
      id: RequestId,
      probeId: ProbeId,
      codecs: Type.Array(Codec, { minItems: 1, maxItems: 2 }),
      /** The probe session's STUN/TURN servers, ahead of the host's own. */
      iceServers: Type.Optional(IceServers),
    },
    strict,
  ),
  Type.Object(
    {
      type: Type.Literal('answer'),
      id: RequestId,
      probeId: ProbeId,
      sdp: Type.String({ minLength: 1, maxLength: 65536 }),
    },
    strict,
  ),
  Type.Object(
    {
      type: Type.Literal('ice'),
      id: RequestId,
      probeId: ProbeId,
      candidate: Type.Union([IceCandidate, Type.Null()]),
    },
    strict,
  ),
  Type.Object({ type: Type.Literal('stop'), id: RequestId, probeId: ProbeId }, strict),
  Type.Object({ type: Type.Literal('test-hooks'), id: RequestId, hooks: TestHooksSchema }, strict),
]);
export type ProbeCommand = Static<typeof ProbeCommandSchema>;

export const ProbeEventSchema = Type.Union([
  Type.Object({ type: Type.Literal('ready') }, strict),
  Type.Object({ type: Type.Literal('reply'), id: RequestId, ok: Type.Literal(true) }, strict),
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
  Type.Object(
    { type: Type.Literal('offer'), probeId: ProbeId, sdp: Type.String({ minLength: 1, maxLength: 65536 }) },
    strict,
  ),
  Type.Object(
    { type: Type.Literal('ice'), probeId: ProbeId, candidate: Type.Union([IceCandidate, Type.Null()]) },
    strict,
  ),
  Type.Object({ type: Type.Literal('connected'), probeId: ProbeId }, strict),
  Type.Object({ type: Type.Literal('stats'), probeId: ProbeId, stats: StreamStatsSchema }, strict),
  Type.Object(
    { type: Type.Literal('ended'), probeId: ProbeId, reason: EndReason, message: Type.String({ maxLength: 512 }) },
    strict,
  ),
  Type.Object({ type: Type.Literal('log'), line: Type.String({ maxLength: 65536 }) }, strict),
]);
export type ProbeEvent = Static<typeof ProbeEventSchema>;

export function parseProbeCommand(data: unknown): ProbeCommand {
  return parseThreadMessage(ProbeCommandSchema, 'probe worker command', data);
}

export function parseProbeEvent(data: unknown): ProbeEvent {
  return parseThreadMessage(ProbeEventSchema, 'probe worker event', data);
}
