/**
 * Every frame from a peer enters here: it is parsed against the protocol's schemas, checked against the
 * sender's role (`hello` first, then only the messages `MESSAGES_BY_ROLE` allows; a host registers before
 * anything else), and routed to the module that owns it. A refused frame gets a typed `error` reply and never
 * affects another peer. A new peer message: add it in `signaling/protocol/`, then one `case` below that calls
 * the owning module.
 *
 * With several signaling instances (a shared store), a frame about a session another live instance runs is
 * handed to that instance, which dispatches it here as if its peer were connected to it (`receiveForwarded`).
 */
import type { RemotePeerWire } from '../protocol/cluster.js';
import {
  AthError,
  MESSAGES_BY_ROLE,
  type PeerMessage,
  type PeerMessageOf,
  PROTOCOL_VERSION,
  parsePeerMessage,
} from '../protocol/index.js';
import type { CheckerRounds } from './CheckerRounds.js';
import type { HubContext } from './HubContext.js';
import type { Matchmaking } from './Matchmaking.js';
import type { PaymentFlow } from './PaymentFlow.js';
import { PeerDirectory, type PeerState } from './PeerDirectory.js';
import type { Registration } from './Registration.js';
import type { SessionLifecycle } from './SessionLifecycle.js';

export type PeerDispatcherParameters = {
  ctx: HubContext;
  sessions: SessionLifecycle;
  matchmaking: Matchmaking;
  payment: PaymentFlow;
  registration: Registration;
  checkerRounds: CheckerRounds;
};

export class PeerDispatcher {
  readonly #p: PeerDispatcherParameters;

  constructor(params: PeerDispatcherParameters) {
    this.#p = params;
  }

  /** One frame from a peer. Never throws: failures become typed `error` replies. */
  receive(peerId: string, raw: string | ArrayBuffer | Uint8Array): void {
    const peer = this.#p.ctx.peers.get(peerId);
    if (!peer) return;
    let message: PeerMessage | undefined;
    try {
      message = parsePeerMessage(raw);
      this.#dispatch(peer, message);
    } catch (error) {
      this.#p.ctx.peers.replyError(peer, error, message);
    }
  }

  /** A frame another instance received for a session this one runs. */
  receiveForwarded(from: RemotePeerWire, raw: string): void {
    const peer = this.#p.ctx.peers.remote(from);
    let message: PeerMessage | undefined;
    try {
      message = parsePeerMessage(raw);
      if (message.type === 'hello') throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'not here' });
      this.#dispatch(peer, message, true);
    } catch (error) {
      this.#p.ctx.peers.replyError(peer, error, message);
    }
  }

  /** Hands the frame to the instance running its session, when that is another live one. */
  #forwarded(peer: PeerState, message: PeerMessage): boolean {
    const { store } = this.#p.ctx;
    const cluster = store.cluster;
    if (!cluster || !('sessionId' in message) || this.#p.checkerRounds.isProbe(message.sessionId)) return false;
    const owner = store.sessions.get(message.sessionId)?.owner;
    if (owner === undefined || owner === store.instanceId || !cluster.isAlive(owner)) return false;
    const from = PeerDirectory.describe(peer);
    return from !== undefined && cluster.send(owner, { k: 'frame', peer: from, raw: JSON.stringify(message) });
  }

  #dispatch(peer: PeerState, message: PeerMessage, forwarded = false): void {
    const { sessions, matchmaking, payment, registration, checkerRounds } = this.#p;
    if (message.type === 'hello') {
      this.#onHello(peer, message);
      return;
    }
    if (!peer.role) {
      throw new AthError({ code: 'ATH_ERR_HELLO_REQUIRED', shortMessage: 'send `hello` first' });
    }
    const allowed: readonly string[] = MESSAGES_BY_ROLE[peer.role];
    if (!allowed.includes(message.type)) {
      throw new AthError({
        code: 'ATH_ERR_NOT_ALLOWED',
        shortMessage: `a ${peer.role} may not send \`${message.type}\``,
      });
    }
    if (peer.role === 'host' && message.type !== 'register' && !peer.hostId) {
      throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'register first' });
    }
    if (peer.role === 'checker') {
      checkerRounds.dispatch(peer, message);
      return;
    }
    if (!forwarded && this.#forwarded(peer, message)) return;
    switch (message.type) {
      // ---- from players
      case 'play':
        matchmaking.play(peer, message);
        return;
      case 'probe-results':
        matchmaking.onProbeResults(peer, message);
        return;
      case 'answer':
      case 'input':
        sessions.relayToHost(peer, message.sessionId, message);
        return;
      case 'quit':
        sessions.onQuit(peer, message);
        return;
      case 'player-report':
        sessions.onPlayerReport(peer, message);
        return;
      case 'session-auth':
        payment.onSessionAuth(peer, message);
        return;
      // ---- from players and hosts
      case 'ice':
        if (peer.role !== 'host') sessions.relayToHost(peer, message.sessionId, message);
        else if (!checkerRounds.relayFromHost(peer, message)) sessions.relayToPlayer(peer, message.sessionId, message);
        return;
      // ---- from hosts
      case 'register':
        registration.onRegister(peer, message);
        return;
      case 'heartbeat':
        registration.onHeartbeat(peer, message);
        return;
      case 'offer':
        if (checkerRounds.relayFromHost(peer, message)) return;
        sessions.onOffer(peer, message);
        return;
      case 'session-started':
        if (checkerRounds.isProbe(message.sessionId)) return;
        sessions.onSessionStarted(peer, message);
        return;
      case 'host-session-ended':
        if (checkerRounds.probeEndedByHost(peer, message)) return;
        sessions.onHostSessionEnded(peer, message);
        return;
      case 'host-report':
        if (checkerRounds.hostReport(peer, message)) return;
        sessions.onHostReport(peer, message);
        return;
    }
  }

  #onHello(peer: PeerState, message: PeerMessageOf<'hello'>): void {
    if (peer.role) throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: '`hello` was already sent' });
    if (message.protocolVersion !== PROTOCOL_VERSION) {
      peer.handle.send({
        type: 'error',
        code: 'ATH_ERR_PROTOCOL_VERSION',
        message: `this server speaks protocol ${PROTOCOL_VERSION}, not ${message.protocolVersion}: reload the page or update the node`,
        ref: 'hello',
      });
      peer.handle.close(4000, 'protocol version');
      return;
    }
    const isPlayerConnection = peer.identity.kind === 'player';
    if (isPlayerConnection !== (message.role === 'player')) {
      throw new AthError({
        code: 'ATH_ERR_NOT_ALLOWED',
        shortMessage: isPlayerConnection ? 'this endpoint is for players' : 'players connect to /ws/player',
      });
    }
    peer.role = message.role;
    const { peers, settings } = this.#p.ctx;
    if (message.role === 'player') peers.clearDeadline(peer);
    else peers.setDeadline(peer, settings.admission.registerTimeoutMs, 'registration');
    peer.handle.send({
      type: 'welcome',
      protocolVersion: PROTOCOL_VERSION,
      peerId: peer.handle.id,
      nonce: peer.nonce,
      serverTimeMs: this.#p.ctx.now(),
    });
  }
}
