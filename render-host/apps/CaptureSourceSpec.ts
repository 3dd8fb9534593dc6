/**
 * Everything a media source needs to stream one running workload: its display, its audio source, how input
 * maps, when the game counts as ready. Plain data: it crosses into the session's worker thread, where the
 * worker validates it (`parseCaptureSourceSpec`) before opening anything.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { AthError } from '../../signaling/protocol/index.js';
import { GamepadMapSchema, KeysymName, ReadinessSchema } from './AppManifest.js';
import { AppsErrorCode } from './errors.js';

const strict = { additionalProperties: false } as const;

export const CaptureSourceSpecSchema = Type.Object(
  {
    /** The game's id (logs only). */
    game: Type.String({ minLength: 1, maxLength: 64 }),
    /** The session's X display, `:N`. */
    display: Type.String({ pattern: '^:[0-9]{1,5}$' }),
    width: Type.Integer({ minimum: 160, maximum: 7680 }),
    height: Type.Integer({ minimum: 90, maximum: 4320 }),
    fps: Type.Integer({ minimum: 1, maximum: 240 }),
    inputMode: Type.Union([Type.Literal('absolute'), Type.Literal('relative')]),
    /** The session's PulseAudio server (`unix:/path`) and the null sink's monitor; absent = no audio. */
    audio: Type.Optional(
      Type.Object(
        {
          pulseServer: Type.String({ pattern: '^unix:/[^\\s]+$', maxLength: 512 }),
          source: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
        },
        strict,
      ),
    ),
    readiness: ReadinessSchema,
    startKeys: Type.Array(KeysymName, { maxItems: 16 }),
    gamepad: Type.Optional(GamepadMapSchema),
    /** Environment marker (`ATH_APP_SESSION=…`) given to helper processes, so stale ones can be found. */
    marker: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,128}$' }),
  },
  strict,
);
export type CaptureSourceSpec = Static<typeof CaptureSourceSpecSchema>;

export function parseCaptureSourceSpec(data: unknown): CaptureSourceSpec {
  if (Value.Check(CaptureSourceSpecSchema, data)) return data;
  const first = Value.Errors(CaptureSourceSpecSchema, data).First();
  throw new AthError({
    code: AppsErrorCode.capture,
    shortMessage: 'invalid capture source spec',
    details: first ? `${first.path || '/'}: ${first.message}` : undefined,
  });
}
