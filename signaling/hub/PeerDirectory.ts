/**
 * The connections this signaling instance holds: who each peer is (from the upgrade and its `hello`), and
 * how to reach it. Per instance by nature: a socket cannot be shared.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Metrics, SignalingMetricKey } from '../../metrics/index.js';
import {
  AthError,
  isAthError,
  isWireErrorCode,
  type PeerMessage,
  type PeerRole,
  type ServerMessage,
  type WireErrorCode,
} from '../protocol/index.js';

/** What a transport gives the hub for each connection. */
export type PeerHandle = {
  readonly id: string;
  send(message: ServerMessage): void;
  close(code: number, reason: string): void;
};

/** Who the transport says the connection is, from the upgrade: a player with a verified token, or a node. */
export type PeerIdentity =
  | {
      kind: 'player';
      playerId: string;
      /** The page's `Origin` on the WebSocket upgrade (set by the browser, not by page scripts). */
      origin?: string | undefined;
      /** The page came from signaling itself (the `/embed/:game` iframe, our play page). */
      sameOrigin?: boolean;
      /** The `Host` of the WebSocket upgrade (the WebSocket server may listen on another port than HTTP). */
      wsHost?: string;
    }
  | { kind: 'node' };

export type PeerState = {
  handle: PeerHandle;
  identity: PeerIdentity;
  role: PeerRole | undefined;
  nonce: string;
  hostId: string | undefined;
  /** Set once a checker proved its wallet. */
  checkerAddress: `0x${string}` | undefined;
  attachedAtMs: number;
};

export type PeerDirectoryParameters = {
  log: Logger;
  metrics: Metrics<SignalingMetricKey>;
  now: () => number;
};

export class PeerDirectory {
  readonly #peers = new Map<string, PeerState>();
  readonly #log: Logger;
  readonly #metrics: Metrics<SignalingMetricKey>;
  readonly #now: () => number;
  /** Where signaling's own HTTP pages are served (the iframe embed): their origin is signaling's own. */
  readonly #ownPages: { origins: Set<string>; port: string | undefined } = { origins: new Set(), port: undefined };

  constructor({ log, metrics, now }: PeerDirectoryParameters) {
    this.#log = log;
    this.#metrics = metrics;
    this.#now = now;
  }

  attach(handle: PeerHandle, identity: PeerIdentity): PeerState {
    const peer: PeerState = {
      handle,
      identity,
      role: undefined,
      nonce: randomBytes(16).toString('hex'),
      hostId: undefined,
      checkerAddress: undefined,
      attachedAtMs: this.#now(),
    };
    this.#peers.set(handle.id, peer);
    return peer;
  }

  get(peerId: string): PeerState | undefined {
    return this.#peers.get(peerId);
  }

  has(peerId: string): boolean {
    return this.#peers.has(peerId);
  }

  delete(peerId: string): void {
    this.#peers.delete(peerId);
  }

  all(): IterableIterator<PeerState> {
    return this.#peers.values();
  }

  /** The open player connection of a player, if any. */
  playerConnection(playerId: string): PeerState | undefined {
    for (const peer of this.#peers.values()) {
      if (peer.role === 'player' && peer.identity.kind === 'player' && peer.identity.playerId === playerId) return peer;
    }
    return undefined;
  }

  send(peerId: string, message: ServerMessage): void {
    this.#peers.get(peerId)?.handle.send(message);
  }

  /** To the player of a session, if connected. */
  sendToPlayer(session: { playerPeerId: string | undefined }, message: ServerMessage): void {
    if (session.playerPeerId) this.send(session.playerPeerId, message);
  }

  /** A typed `error` reply for a refused frame (or an unexpected failure, logged as such). */
  replyError(peer: PeerState, error: unknown, cause: PeerMessage | undefined): void {
    let code: WireErrorCode = 'ATH_ERR_INTERNAL';
    let text = 'internal error';
    if (isAthError(error) && isWireErrorCode(error.code)) {
      code = error.code;
      text = error.message.slice(0, 1024);
      this.#log.debug({ code, type: cause?.type, peerId: peer.handle.id }, 'message refused');
    } else {
      this.#log.error({ err: error, type: cause?.type }, 'unexpected error handling a message');
    }
    this.#metrics.metric.wsMessagesRejected.inc({ code });
    const sessionId = cause && 'sessionId' in cause ? cause.sessionId : undefined;
    peer.handle.send({
      type: 'error',
      code,
      message: text,
      ...(cause ? { ref: cause.type } : {}),
      ...(sessionId ? { sessionId } : {}),
    });
  }

  /** Signaling's HTTP server is up (startSignaling): pages it serves count as signaling's own origin. */
  servesPagesAt(httpUrl: string, port: number): void {
    this.#ownPages.origins.add(new URL(httpUrl).origin);
    this.#ownPages.port = String(port);
  }

  /**
   * Whether a player's page is one signaling served: the same origin as the WebSocket, the public HTTP origin,
   * or the HTTP port on the host name the browser used for the WebSocket.
   */
  fromOwnPage(identity: PeerIdentity): boolean {
    if (identity.kind !== 'player' || !identity.origin) return false;
    if (identity.sameOrigin) return true;
    try {
      const page = new URL(identity.origin);
      if (this.#ownPages.origins.has(page.origin)) return true;
      const wsHostname = identity.wsHost ? new URL(`http://${identity.wsHost}`).hostname : undefined;
      return page.hostname === wsHostname && page.port === this.#ownPages.port;
    } catch {
      return false;
    }
  }
}

/** The player behind a connection; throws ATH_ERR_NOT_ALLOWED for a node. */
export function playerIdOf(peer: PeerState): string {
  if (peer.identity.kind !== 'player') {
    throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'only players can do that' });
  }
  return peer.identity.playerId;
}
