/**
 * The connections this signaling instance holds: who each peer is (from the upgrade and its `hello`), and
 * how to reach it. Per instance by nature: a socket cannot be shared.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Metrics, SignalingMetricKey } from '../../metrics/index.js';
import { RetryLaterError } from '../admission/RetryLaterError.js';
import type { RemotePeerWire } from '../protocol/cluster.js';
import {
  AthError,
  isAthError,
  isWireErrorCode,
  type PeerMessage,
  type PeerRole,
  type ServerMessage,
  type WireErrorCode,
} from '../protocol/index.js';
import { instanceOfPeer } from '../store/peerIds.js';
import type { ClusterLink } from '../store/SignalingStore.js';
import { StakeTooLowError } from '../trust/StakeTooLowError.js';

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
      /** The network prefix the connection came from (IPv4 /24, IPv6 /48; never the address itself). */
      networkPrefix?: string;
      /** Where the connection comes from (admission control counts per address). */
      remoteIp: string;
    }
  | { kind: 'node'; remoteIp: string };

export type PeerState = {
  handle: PeerHandle;
  identity: PeerIdentity;
  role: PeerRole | undefined;
  nonce: string;
  hostId: string | undefined;
  /** Set once a checker proved its wallet. */
  checkerAddress: `0x${string}` | undefined;
  /** A host registration is being checked (signature, stake): one at a time per connection. */
  registering: boolean;
  /** Closes the connection unless it says `hello` (then, for nodes, registers) in time. */
  deadline: NodeJS.Timeout | undefined;
  attachedAtMs: number;
};

export type PeerDirectoryParameters = {
  log: Logger;
  metrics: Metrics<SignalingMetricKey>;
  now: () => number;
  /** This instance: its peer ids are `peer-<instanceId>-<random>`. */
  instanceId: string;
  /** Other instances (a shared store): peers connected there are reached through it. */
  cluster: ClusterLink | undefined;
};

export class PeerDirectory {
  readonly #peers = new Map<string, PeerState>();
  readonly #log: Logger;
  readonly #metrics: Metrics<SignalingMetricKey>;
  readonly #now: () => number;
  readonly #instanceId: string;
  readonly #cluster: ClusterLink | undefined;
  /** Where signaling's own HTTP pages are served (the iframe embed): their origin is signaling's own. */
  readonly #ownPages: { origins: Set<string>; port: string | undefined } = { origins: new Set(), port: undefined };

  constructor({ log, metrics, now, instanceId, cluster }: PeerDirectoryParameters) {
    this.#log = log;
    this.#metrics = metrics;
    this.#now = now;
    this.#instanceId = instanceId;
    this.#cluster = cluster;
  }

  /** A fresh id for a connection to this instance; other instances route to it by its prefix. */
  newPeerId(): string {
    return `peer-${this.#instanceId}-${randomBytes(8).toString('hex')}`;
  }

  /** The instance a peer is connected to, when another instance (undefined: here, or unknown). */
  remoteInstanceOf(peerId: string): string | undefined {
    if (this.#peers.has(peerId)) return undefined;
    const instance = instanceOfPeer(peerId);
    return instance !== undefined && instance !== this.#instanceId ? instance : undefined;
  }

  attach(handle: PeerHandle, identity: PeerIdentity): PeerState {
    const peer: PeerState = {
      handle,
      identity,
      role: undefined,
      nonce: randomBytes(16).toString('hex'),
      hostId: undefined,
      checkerAddress: undefined,
      registering: false,
      deadline: undefined,
      attachedAtMs: this.#now(),
    };
    this.#peers.set(handle.id, peer);
    return peer;
  }

  /** Closes `peer` (4008) unless it says `hello` (or, for nodes, registers) within `ms`: silent sockets go. */
  setDeadline(peer: PeerState, ms: number, awaited: 'hello' | 'registration'): void {
    this.clearDeadline(peer);
    peer.deadline = setTimeout(() => {
      peer.deadline = undefined;
      if (!this.#peers.has(peer.handle.id)) return;
      this.#log.info({ peerId: peer.handle.id, awaited }, 'connection closed: it did not say what it is in time');
      peer.handle.send({ type: 'error', code: 'ATH_ERR_HELLO_TIMEOUT', message: `no ${awaited} within ${ms} ms` });
      peer.handle.close(4008, `${awaited} timeout`);
    }, ms);
    peer.deadline.unref();
  }

  clearDeadline(peer: PeerState): void {
    if (peer.deadline) clearTimeout(peer.deadline);
    peer.deadline = undefined;
  }

  get(peerId: string): PeerState | undefined {
    return this.#peers.get(peerId);
  }

  /** Whether the peer is connected: here, or to another instance that is up. */
  has(peerId: string): boolean {
    if (this.#peers.has(peerId)) return true;
    const instance = this.remoteInstanceOf(peerId);
    return instance !== undefined && this.#cluster?.isAlive(instance) === true;
  }

  /** Connected to this instance. */
  isLocal(peerId: string): boolean {
    return this.#peers.has(peerId);
  }

  delete(peerId: string): void {
    const peer = this.#peers.get(peerId);
    if (peer) this.clearDeadline(peer);
    this.#peers.delete(peerId);
  }

  /** Clears every deadline (the hub closes). */
  close(): void {
    for (const peer of this.#peers.values()) this.clearDeadline(peer);
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

  /** To a peer here, or through the instance it is connected to; dropped when neither can be reached. */
  send(peerId: string, message: ServerMessage): void {
    const local = this.#peers.get(peerId);
    if (local) {
      local.handle.send(message);
      return;
    }
    const instance = this.remoteInstanceOf(peerId);
    if (instance !== undefined) {
      this.#cluster?.send(instance, { k: 'deliver', peerId, message: JSON.stringify(message) });
    }
  }

  /**
   * A peer of another instance, as that instance described it when handing this one its frame: replies go
   * back through that instance.
   */
  remote(wire: RemotePeerWire): PeerState {
    const identity: PeerIdentity =
      wire.identity.kind === 'player'
        ? {
            kind: 'player',
            playerId: wire.identity.playerId,
            ...(wire.identity.origin !== undefined ? { origin: wire.identity.origin } : {}),
            ...(wire.identity.sameOrigin !== undefined ? { sameOrigin: wire.identity.sameOrigin } : {}),
            ...(wire.identity.wsHost !== undefined ? { wsHost: wire.identity.wsHost } : {}),
            ...(wire.identity.networkPrefix !== undefined ? { networkPrefix: wire.identity.networkPrefix } : {}),
            // Its address stays with the instance it is connected to (whose per-address limits count it).
            remoteIp: '',
          }
        : { kind: 'node', remoteIp: '' };
    return {
      handle: { id: wire.peerId, send: (message) => this.send(wire.peerId, message), close: () => undefined },
      identity,
      role: wire.role,
      nonce: '',
      hostId: wire.hostId,
      checkerAddress: wire.checkerAddress as `0x${string}` | undefined,
      registering: false,
      deadline: undefined,
      attachedAtMs: this.#now(),
    };
  }

  /** How a peer of this instance is described to another one (see `remote`). */
  static describe(peer: PeerState): RemotePeerWire | undefined {
    if (!peer.role) return undefined;
    return {
      peerId: peer.handle.id,
      role: peer.role,
      identity: PeerDirectory.#wireIdentity(peer.identity),
      ...(peer.hostId ? { hostId: peer.hostId } : {}),
      ...(peer.checkerAddress ? { checkerAddress: peer.checkerAddress } : {}),
    };
  }

  /** A peer's identity as another instance sees it: without the address it connects from. */
  static #wireIdentity(identity: PeerIdentity): RemotePeerWire['identity'] {
    if (identity.kind === 'node') return { kind: 'node' };
    const { remoteIp: _address, ...shared } = identity;
    return shared;
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
      ...(error instanceof StakeTooLowError ? { stake: error.stake } : {}),
      ...(error instanceof RetryLaterError ? { retryAfterMs: error.retryAfterMs } : {}),
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
