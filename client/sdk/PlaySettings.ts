/**
 * One `PlaySettings` per player, read from the element's attributes and the page's URL parameters
 * (house rule 14; like Pixel Streaming's settings bound to URL params). An attribute the embedding page set
 * wins; otherwise the URL parameter of the same name; otherwise the default. `token` and `server` are never
 * read from the URL: a link must not be able to swap the credentials or the server.
 */
import { QUALITY_NAMES, type QualityName } from '../../signaling/protocol/index.js';
import type { CodecPreference } from './codecs.js';

/** The stream's rung (signaling/protocol mediaWire.ts VIDEO_RUNGS): low 540p60, medium (= auto) 720p60,
 * high 1080p60, smooth 720p120 — for the built-in games; an external game streams its display as it is. */
export type Quality = QualityName;

export type PlaySettings = {
  /** Base URL of the signaling HTTP API (`/api/config`, `/api/session`, `/api/games`). */
  readonly server: string;
  readonly game: string | undefined;
  /** A studio play token to use instead of a fresh anonymous player token. */
  readonly token: string | undefined;
  readonly codec: CodecPreference;
  /** Sent with Play: the host streams a built-in game at that rung's size, frame rate and bitrate. */
  readonly quality: Quality;
  readonly muted: boolean;
  /** Show the stats overlay. */
  readonly stats: boolean;
  /** Expose `window.__athPlayer` (tests, benchmarks). Input→photon is measured in every session regardless. */
  readonly diagnostics: boolean;
  /** Stream through the network's TURN relay only (hides this player's addresses; proves the relay path). */
  readonly relay: boolean;
  /**
   * The most this player pays, in wei per second: sent with Play (signaling offers no dearer host) and checked by
   * the wallet before it signs (a hostile server's terms above it are never signed). Attribute `max-price`, in ATH
   * per hour; never from the URL (a link must not raise what the player pays).
   */
  readonly maxPriceWeiPerSec: bigint;
};

/** The names that are both attributes of `<ath-play>` and (except token/server) URL parameters. */
export const PLAY_SETTING_NAMES = [
  'game',
  'token',
  'codec',
  'quality',
  'muted',
  'stats',
  'diagnostics',
  'server',
  'relay',
  'max-price',
] as const;
export type PlaySettingName = (typeof PLAY_SETTING_NAMES)[number];

const URL_BOUND: ReadonlySet<PlaySettingName> = new Set([
  'game',
  'codec',
  'quality',
  'muted',
  'stats',
  'diagnostics',
  'relay',
]);

export const DEFAULT_PLAY_SETTINGS: Omit<PlaySettings, 'server'> = {
  game: undefined,
  token: undefined,
  codec: 'auto',
  quality: 'auto',
  muted: false,
  stats: false,
  diagnostics: true,
  relay: false,
  // 10 ATH per hour (the embedded network's hosts ask 1).
  maxPriceWeiPerSec: (10n * 10n ** 18n) / 3600n,
};

const GAME_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const TOKEN = /^[A-Za-z0-9._~-]{1,512}$/;

export type ParsePlaySettingsParameters = {
  /** The element's attribute, or null when absent. */
  attribute: (name: PlaySettingName) => string | null;
  urlParams: URLSearchParams;
  /** Where the script was loaded from (studio embeds) or the page's origin. */
  defaultServer: string;
};

function pick<T extends string>(value: string | undefined, allowed: readonly T[], fallback: T): T {
  const lower = value?.trim().toLowerCase();
  return (allowed as readonly string[]).includes(lower ?? '') ? (lower as T) : fallback;
}

/** Boolean attributes: present means true, except the explicit `false`, `0`, `off` and `no`. */
function flag(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  return !['false', '0', 'off', 'no'].includes(value.trim().toLowerCase());
}

/** ATH per hour (a decimal like `2.5`) as wei per second, rounded down; the fallback when it does not parse. */
function pricePerHour(value: string | undefined, fallback: bigint): bigint {
  const match = /^(\d{1,9})(?:\.(\d{1,18}))?$/.exec(value?.trim() ?? '');
  if (!match) return fallback;
  const wei = BigInt(match[1] ?? '0') * 10n ** 18n + BigInt((match[2] ?? '').padEnd(18, '0'));
  return wei > 0n ? wei / 3600n : fallback;
}

function httpBase(value: string | undefined, fallback: string): string {
  if (!value) return fallback;
  try {
    const url = new URL(value, fallback);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fallback;
    return url.origin + url.pathname.replace(/\/+$/, '');
  } catch {
    return fallback;
  }
}

export function parsePlaySettings({ attribute, urlParams, defaultServer }: ParsePlaySettingsParameters): PlaySettings {
  const raw = (name: PlaySettingName): string | undefined =>
    attribute(name) ?? (URL_BOUND.has(name) ? (urlParams.get(name) ?? undefined) : undefined);
  const game = raw('game')?.trim().toLowerCase();
  const token = raw('token')?.trim();
  return {
    server: httpBase(raw('server'), defaultServer),
    game: game && GAME_ID.test(game) ? game : DEFAULT_PLAY_SETTINGS.game,
    token: token && TOKEN.test(token) ? token : DEFAULT_PLAY_SETTINGS.token,
    codec: pick(raw('codec'), ['auto', 'h264', 'vp8'], DEFAULT_PLAY_SETTINGS.codec),
    quality: pick(raw('quality'), QUALITY_NAMES, DEFAULT_PLAY_SETTINGS.quality),
    muted: flag(raw('muted'), DEFAULT_PLAY_SETTINGS.muted),
    stats: flag(raw('stats'), DEFAULT_PLAY_SETTINGS.stats),
    diagnostics: flag(raw('diagnostics'), DEFAULT_PLAY_SETTINGS.diagnostics),
    relay: flag(raw('relay'), DEFAULT_PLAY_SETTINGS.relay),
    maxPriceWeiPerSec: pricePerHour(raw('max-price'), DEFAULT_PLAY_SETTINGS.maxPriceWeiPerSec),
  };
}
