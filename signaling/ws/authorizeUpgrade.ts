import { verifyPlayerToken } from '../auth/playerTokens.js';
import { networkPrefixOf } from '../geo/geo.js';
import type { PeerIdentity } from '../hub/PeerDirectory.js';
import { AthError, WS_SUBPROTOCOL } from '../protocol/index.js';

const TOKEN_PREFIX = 'token.';

export type AuthorizeUpgradeParameters = {
  kind: PeerIdentity['kind'];
  /** The Sec-WebSocket-Protocol header. */
  protocolHeader: string;
  secret: Uint8Array;
  /** The page's Origin and the Host the browser connected to (players). */
  page?: { origin: string | undefined; host: string | undefined };
  /** Where the connection comes from (normalized: IPv4-mapped IPv6 as IPv4). */
  remoteIp: string;
};

/**
 * Decides a WebSocket upgrade from its Sec-WebSocket-Protocol header, the same for every transport:
 * `ath-edge.v1` must be offered; a player connection must also carry a valid `token.<token>`.
 * Throws AthError (`ATH_ERR_BAD_MESSAGE`, `ATH_ERR_UNAUTHORIZED`, `ATH_ERR_TOKEN_EXPIRED`).
 */
export function authorizeUpgrade({
  kind,
  protocolHeader,
  secret,
  page,
  remoteIp,
}: AuthorizeUpgradeParameters): PeerIdentity {
  const protocols = protocolHeader.split(',').map((p) => p.trim());
  if (!protocols.includes(WS_SUBPROTOCOL)) {
    throw new AthError({ code: 'ATH_ERR_BAD_MESSAGE', shortMessage: `subprotocol ${WS_SUBPROTOCOL} required` });
  }
  if (kind === 'node') return { kind: 'node', remoteIp };
  const token = protocols.find((p) => p.startsWith(TOKEN_PREFIX))?.slice(TOKEN_PREFIX.length);
  if (!token) throw new AthError({ code: 'ATH_ERR_UNAUTHORIZED', shortMessage: 'player token required' });
  const { playerId } = verifyPlayerToken(secret, token);
  // The Origin header is the browser's word on which page opened the socket (play tokens are bound to one).
  const origin = page?.origin && page.origin !== 'null' ? page.origin : undefined;
  let sameOrigin = false;
  try {
    sameOrigin = origin !== undefined && page?.host !== undefined && new URL(origin).host === page.host;
  } catch {
    sameOrigin = false;
  }
  const networkPrefix = networkPrefixOf(remoteIp);
  return {
    kind: 'player',
    playerId,
    remoteIp,
    origin,
    sameOrigin,
    ...(page?.host ? { wsHost: page.host } : {}),
    ...(networkPrefix ? { networkPrefix } : {}),
  };
}
