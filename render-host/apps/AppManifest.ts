/**
 * An external game as a workload: what a provider writes to add a game to their render host (one JSON file
 * per game in the directory the config points to; see README.md), and what the built-in entries are.
 * One TypeBox schema gives the type and the validator; unknown fields are rejected.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { AthError, GameId, type GameInfoRecord } from '../../signaling/protocol/index.js';
import { AppsErrorCode } from './errors.js';

const strict = { additionalProperties: false } as const;

/**
 * An X keysym name as xdotool takes it (`Right`, `space`, `Control_L`). Letters, digits and `_` only: these
 * names are written into the session's xdotool command stream, so nothing else may get through.
 */
export const KeysymName = Type.String({ pattern: '^[A-Za-z0-9_]{1,32}$' });

/** How the session knows the game shows something worth streaming (frames are held until then). */
export const ReadinessSchema = Type.Union([
  Type.Object(
    {
      kind: Type.Literal('non-black-frame'),
      /** Share of sampled pixels that must be lit (any channel > 24) for the frame to count, in percent. */
      minLitPercent: Type.Number({ exclusiveMinimum: 0, maximum: 100, default: 0.05 }),
      timeoutMs: Type.Integer({ minimum: 500, maximum: 120_000, default: 20_000 }),
    },
    strict,
  ),
  Type.Object(
    {
      /** For games that draw black screens on purpose: ready after a fixed time. */
      kind: Type.Literal('delay'),
      delayMs: Type.Integer({ minimum: 0, maximum: 120_000 }),
    },
    strict,
  ),
]);
export type Readiness = Static<typeof ReadinessSchema>;

/**
 * Gamepads become key presses (there is no per-session virtual gamepad: uinput devices are machine-wide, so
 * every game on the host would see every player's pad). Buttons by W3C standard-mapping index.
 */
export const GamepadMapSchema = Type.Object(
  {
    /** `"0": "space"`: button 0 (A) held = key held. Keys: standard-mapping indices 0..16. */
    buttons: Type.Record(Type.String({ pattern: '^(?:[0-9]|1[0-6])$' }), KeysymName),
    /** Stick axes: past the threshold one way the `negative` key is held, the other way the `positive` one. */
    axes: Type.Array(
      Type.Object(
        {
          axis: Type.Integer({ minimum: 0, maximum: 3 }),
          negative: Type.Optional(KeysymName),
          positive: Type.Optional(KeysymName),
        },
        strict,
      ),
      { maxItems: 8, default: [] },
    ),
    /** Fraction of full deflection (0..1) at which a stick counts as a key press. */
    axisThreshold: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.5 }),
  },
  strict,
);
export type GamepadMap = Static<typeof GamepadMapSchema>;

export const AppManifestSchema = Type.Object(
  {
    id: GameId,
    title: Type.String({ minLength: 1, maxLength: 80 }),
    description: Type.String({ maxLength: 280 }),
    launch: Type.Object(
      {
        /** An absolute path, or a name looked up in PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games. */
        command: Type.String({ minLength: 1, maxLength: 512 }),
        /** `{width}`, `{height}`, `{fps}` and `{home}` are replaced by the session's values. */
        args: Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 64, default: [] }),
        /** Extra environment on top of the session's (DISPLAY, HOME, PATH, XDG_RUNTIME_DIR, PULSE_SERVER…). */
        env: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String({ maxLength: 1024 }), {
          default: {},
        }),
        /** Scheduling priority of the game (nice); uncapped games run at this priority so the encoder wins. */
        nice: Type.Integer({ minimum: 0, maximum: 19, default: 10 }),
      },
      strict,
    ),
    width: Type.Integer({ minimum: 160, maximum: 7680 }),
    height: Type.Integer({ minimum: 90, maximum: 4320 }),
    fps: Type.Integer({ minimum: 1, maximum: 240 }),
    inputMode: Type.Union([Type.Literal('absolute'), Type.Literal('relative')]),
    audio: Type.Boolean(),
    /** Debian packages the game needs (`ath-edge provider setup` installs them). */
    packages: Type.Array(Type.String({ pattern: '^[a-z0-9][a-z0-9+.-]{1,127}$' }), { maxItems: 32, default: [] }),
    readiness: ReadinessSchema,
    /** Keys tapped once the game is ready and before the player's first frame (e.g. to dismiss a title card). */
    startKeys: Type.Array(KeysymName, { maxItems: 16, default: [] }),
    gamepad: Type.Optional(GamepadMapSchema),
    /** 3D games that need a GPU-backed display to be playable (Xvfb renders GL in software). */
    requiresGpu: Type.Boolean({ default: false }),
  },
  strict,
);
export type AppManifest = Static<typeof AppManifestSchema>;

/**
 * Validates a manifest (from JSON or code), filling defaults; throws AthError ATH_ERR_APP_MANIFEST naming
 * `source` and the first failing field.
 */
export function parseAppManifest(data: unknown, source: string): AppManifest {
  const withDefaults = Value.Default(AppManifestSchema, structuredClone(data));
  if (Value.Check(AppManifestSchema, withDefaults)) return withDefaults;
  const first = Value.Errors(AppManifestSchema, withDefaults).First();
  throw new AthError({
    code: AppsErrorCode.badManifest,
    shortMessage: `invalid game manifest in ${source}`,
    details: first ? `${first.path || '/'}: ${first.message}` : undefined,
  });
}

/** What the host tells signaling about the game (`GET /api/games`). */
export function appGameInfo(manifest: AppManifest): GameInfoRecord {
  const { id, title, description, width, height, fps, inputMode, audio } = manifest;
  return { id, title, description, width, height, fps, inputMode, audio };
}
