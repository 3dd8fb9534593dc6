import { type AdmissionSettings, DEFAULT_ADMISSION_SETTINGS } from './admission/AdmissionSettings.js';
import { type CheckSettings, DEFAULT_CHECK_SETTINGS } from './checkers/CheckerDesk.js';
import { DEFAULT_SCORING_WEIGHTS, type ScoringWeights } from './hub/scoreCandidates.js';
import { DEFAULT_ICE_SETTINGS, type IceSettings } from './ice/issueIceServers.js';
import type { TlsFiles } from './tls/tlsServerFactory.js';
import { DEFAULT_STAKE_SETTINGS, type StakeSettings } from './trust/stakePolicy.js';

/** How players measure RTT to candidate hosts before a slot is leased. */
export type ProbeSettings = {
  /** Samples per candidate (median taken); 0 disables probing. */
  samples: number;
  /** Per-sample timeout in the browser: a timeout counts the host unreachable. */
  timeoutMs: number;
  /** Candidates sent to the browser. */
  maxCandidates: number;
  /** A host measured slower than this is not offered to that player. */
  maxPlausibleRttMs: number;
};

/**
 * Everything signaling needs to run, parsed and validated by the edge config (`edge/config`) and passed
 * down frozen. Durations are in milliseconds unless the name says otherwise.
 */
export type SignalingSettings = {
  /** Bind address; loopback by default. */
  bindHost: string;
  /** 0 picks a free port. */
  httpPort: number;
  wsPort: number;
  /** What browsers are told to connect to; defaults to the bound addresses. */
  publicHttpUrl: string | undefined;
  publicWsUrl: string | undefined;
  /** HMAC key for player session tokens (≥ 32 bytes). */
  tokenSecret: Uint8Array;
  tokenTtlSec: number;
  heartbeatIntervalMs: number;
  /** A host missing this many heartbeats in a row is marked down. */
  missedHeartbeatsAllowed: number;
  /** A leased slot must reach `streaming` within this time or the lease lapses. */
  leaseTtlMs: number;
  /** How long a session survives a lost player connection (network blip). */
  reconnectWindowMs: number;
  /** How long it survives a clean close (tab closed or reloaded): short, so closed tabs free slots fast. */
  reloadGraceMs: number;
  afkTimeoutMs: number;
  /** The built client to serve at `/` (esbuild output), if any. */
  clientDir: string | undefined;
  /** The WebSocket server: `auto` = uWebSockets.js where a native build loads, else @fastify/websocket. */
  wsTransport?: 'auto' | 'uws' | 'fastify-ws';
  probe: ProbeSettings;
  scoring: ScoringWeights;
  checks: CheckSettings;
  /** STUN/TURN servers handed to each session's peers, TURN with per-session credentials. */
  ice: IceSettings;
  /** Serve the HTTP API over https and the WebSockets over wss with this certificate and key; plain when absent. */
  tls?: TlsFiles | undefined;
  /** Who may serve and check: stake tiers and the slots each allows a provider. */
  stake: StakeSettings;
  /** Prices a host may ask (wei per second, inclusive): a free or 1-wei host would capture every match. */
  priceBoundsWeiPerSec: { min: bigint; max: bigint };
  /** A host's probe URL must point at the address it connects from. */
  probeUrlMustMatchPeer: boolean;
  /** A host down (disconnected or silent) this long is forgotten. */
  hostTtlMs: number;
  admission: AdmissionSettings;
};

export const DEFAULT_SIGNALING_SETTINGS: Omit<SignalingSettings, 'tokenSecret'> = {
  bindHost: '127.0.0.1',
  httpPort: 0,
  wsPort: 0,
  publicHttpUrl: undefined,
  publicWsUrl: undefined,
  tokenTtlSec: 12 * 3600,
  heartbeatIntervalMs: 2000,
  missedHeartbeatsAllowed: 3,
  leaseTtlMs: 20_000,
  reconnectWindowMs: 30_000,
  reloadGraceMs: 3_000,
  afkTimeoutMs: 120_000,
  clientDir: undefined,
  probe: { samples: 5, timeoutMs: 1_000, maxCandidates: 8, maxPlausibleRttMs: 250 },
  scoring: DEFAULT_SCORING_WEIGHTS,
  checks: DEFAULT_CHECK_SETTINGS,
  ice: DEFAULT_ICE_SETTINGS,
  stake: DEFAULT_STAKE_SETTINGS,
  // 0.0036 to 360 ATH per hour of play.
  priceBoundsWeiPerSec: { min: 10n ** 12n, max: 10n ** 17n },
  probeUrlMustMatchPeer: true,
  hostTtlMs: 10 * 60_000,
  admission: DEFAULT_ADMISSION_SETTINGS,
};
