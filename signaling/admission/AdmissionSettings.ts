import type { RateSettings } from './TokenBucket.js';
import type { UnpaidEndingsSettings } from './UnpaidEndings.js';

/**
 * Admission control of the signaling server: how many connections, how fast, how long a socket may stay
 * silent. Every figure is per source address unless its name says otherwise; all are configuration
 * (`signaling.admission.*`), so a load test from one address (bench:indexer) can raise them.
 */
export type AdmissionSettings = {
  /** WebSockets open at once, all addresses together. */
  maxConnections: number;
  /** WebSockets open at once from one address. */
  maxConnectionsPerIp: number;
  /** New WebSockets per second from one address (upgrades). */
  upgradesPerIp: RateSettings;
  /** Messages per second on one socket. */
  messagesPerSocket: RateSettings;
  /** Messages per second from one address, all its sockets together. */
  messagesPerIp: RateSettings;
  /** A new socket must say `hello` within this time, or it is closed (4008). */
  helloTimeoutMs: number;
  /** A render host or checker must be registered within this time of its `hello`, or it is closed (4008). */
  registerTimeoutMs: number;
  /** Live sessions (requested to streaming) whose players connect from one address. */
  maxSessionsPerIp: number;
  /** Addresses the per-address table remembers; idle ones are forgotten first. */
  maxTrackedIps: number;
  /**
   * Reverse proxies in front of signaling (addresses or CIDRs; none by default). A connection or request from one
   * of them is counted under the client address its X-Forwarded-For names (the last entry that is not a trusted
   * proxy); from anyone else the header is ignored. Every per-address limit counts IPv6 clients by their /64.
   */
  trustedProxies: string[];
  /**
   * Billing networks: sessions that ended before their payment was accepted (each streamed free until the
   * authorization deadline). After `max` within `windowMs` from one address or one player token, Play is refused
   * (`ATH_ERR_UNPAID_SESSIONS`, `retryAfterMs`). `maxTracked` addresses and tokens are remembered at most.
   */
  unpaidEndings: UnpaidEndingsSettings;
  /** HTTP API (@fastify/rate-limit), per address and minute. */
  http: {
    requestsPerMinute: number;
    /** `POST /api/session` (anonymous player tokens). */
    playerTokensPerMinute: number;
    /** Addresses the HTTP limiter remembers (an LRU). */
    maxTrackedIps: number;
  };
};

export const DEFAULT_ADMISSION_SETTINGS: AdmissionSettings = {
  maxConnections: 50_000,
  maxConnectionsPerIp: 64,
  upgradesPerIp: { ratePerSec: 10, burst: 50 },
  messagesPerSocket: { ratePerSec: 50, burst: 200 },
  messagesPerIp: { ratePerSec: 500, burst: 2_000 },
  helloTimeoutMs: 10_000,
  registerTimeoutMs: 30_000,
  maxSessionsPerIp: 8,
  maxTrackedIps: 100_000,
  trustedProxies: [],
  unpaidEndings: { max: 3, windowMs: 10 * 60_000, maxTracked: 100_000 },
  http: { requestsPerMinute: 600, playerTokensPerMinute: 60, maxTrackedIps: 100_000 },
};
