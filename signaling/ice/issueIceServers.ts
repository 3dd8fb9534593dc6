/**
 * The ICE servers signaling hands the peers of one session: the network's STUN servers, and its TURN server
 * with credentials issued for that session alone (turnCredentials.ts). Players get them in `session`, render
 * hosts in `start-session`, checkers in `check-assignment` (and their host in the probe's `start-session`).
 */
import type { IceServerRecord, IceTransportPolicyName } from '../protocol/index.js';
import { issueTurnCredentials } from './turnCredentials.js';

export type IceSettings = {
  /** `stun:` / `stuns:` URLs; none by default (loopback and LAN need none, and nothing phones out). */
  stunUrls: readonly string[];
  /** A TURN server sharing `secret` with signaling (coturn `use-auth-secret`); absent: no relay. */
  turn: { urls: readonly string[]; secret: string; ttlSec: number } | undefined;
  /** What players are told: `relay` keeps their addresses from render hosts (TURN only). */
  playerTransportPolicy: IceTransportPolicyName;
};

export const DEFAULT_ICE_SETTINGS: IceSettings = { stunUrls: [], turn: undefined, playerTransportPolicy: 'all' };

export type IssueIceServersParameters = { ice: IceSettings; sessionId: string; nowSec?: number };

export function issueIceServers({ ice, sessionId, nowSec }: IssueIceServersParameters): IceServerRecord[] {
  const servers: IceServerRecord[] = [];
  if (ice.stunUrls.length > 0) servers.push({ urls: [...ice.stunUrls] });
  if (ice.turn && ice.turn.urls.length > 0) {
    const { username, credential } = issueTurnCredentials({
      secret: ice.turn.secret,
      sessionId,
      ttlSec: ice.turn.ttlSec,
      ...(nowSec === undefined ? {} : { nowSec }),
    });
    servers.push({ urls: [...ice.turn.urls], username, credential });
  }
  return servers;
}

/** The `iceServers` field of a message for this session: absent when the network names no server. */
export function iceServersField(
  ice: IceSettings,
  sessionId: string,
  nowMs: number,
): { iceServers?: IceServerRecord[] } {
  const iceServers = issueIceServers({ ice, sessionId, nowSec: Math.floor(nowMs / 1000) });
  return iceServers.length > 0 ? { iceServers } : {};
}
