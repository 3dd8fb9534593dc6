/**
 * Session lifecycle: requested → queued → leased → connecting → streaming → ended. Owns the state changes,
 * the end of a session (whoever asks), the lease and reconnect timers, resuming after a reload, the relays of
 * SDP, ICE and input between a player and its host, the delivery reports, and the ownership checks every
 * session message passes (a player acts only on its own session, a host only on sessions on it).
 */

import { iceServersField } from '../ice/issueIceServers.js';
import {
  AthError,
  deliveryReceiptOf,
  type EndReasonName,
  type PeerMessageOf,
  type ServerMessage,
  type SessionStateName,
  weiToString,
} from '../protocol/index.js';
import type { HubContext, SessionsPort } from './HubContext.js';
import { type PeerState, playerIdOf } from './PeerDirectory.js';
import type { SessionRecord } from './SessionRecord.js';

const ENDED_SESSION_RETENTION_MS = 10 * 60_000;

const END_MESSAGES: Record<EndReasonName, string> = {
  'player-quit': 'You ended the session.',
  'player-left': 'The player left.',
  afk: 'Session ended after a long time without input.',
  'host-lost': 'The render host was lost. Please press Play again.',
  'host-stopped': 'The render host stopped the session.',
  'game-crashed': 'The game crashed on the render host.',
  'connect-timeout': 'The stream could not be connected in time.',
  'insufficient-funds': 'Your authorization or escrow is used up.',
  drained: 'The render host was taken out of service.',
  error: 'The session ended because of an error.',
};

export class SessionLifecycle implements SessionsPort {
  readonly #ctx: HubContext;

  constructor(ctx: HubContext) {
    this.#ctx = ctx;
  }

  // ---- ownership ---------------------------------------------------------------------------------------

  live(sessionId: string): SessionRecord {
    const session = this.#ctx.store.sessions.get(sessionId);
    if (!session || session.state === 'ended') {
      throw new AthError({ code: 'ATH_ERR_SESSION_NOT_FOUND', shortMessage: 'no such live session' });
    }
    return session;
  }

  playerSession(peer: PeerState, sessionId: string): SessionRecord {
    const session = this.live(sessionId);
    if (session.playerId !== playerIdOf(peer) || session.playerPeerId !== peer.handle.id) {
      throw new AthError({ code: 'ATH_ERR_NOT_YOUR_SESSION', shortMessage: 'that session is not yours' });
    }
    return session;
  }

  hostSession(peer: PeerState, sessionId: string): SessionRecord {
    const host = this.#ctx.registration.peerHost(peer);
    const session = this.live(sessionId);
    if (session.hostId !== host.hostId) {
      throw new AthError({ code: 'ATH_ERR_NOT_YOUR_SESSION', shortMessage: 'that session is not on your host' });
    }
    return session;
  }

  // ---- state -------------------------------------------------------------------------------------------

  setState(session: SessionRecord, state: SessionStateName): void {
    if (session.state === state) return;
    session.state = state;
    this.#ctx.store.sessions.put(session);
    if (state === 'queued') this.#ctx.store.queue.enqueue(session.game, session.id);
  }

  end(session: SessionRecord, reason: EndReasonName, message?: string): void {
    if (session.state === 'ended') return;
    const { store, timers, peers } = this.#ctx;
    // Another live instance runs this session: it ends it (once, with its timers and its meter).
    if (session.owner !== store.instanceId && store.cluster?.isAlive(session.owner)) {
      store.cluster.send(session.owner, {
        k: 'end',
        sessionId: session.id,
        reason,
        ...(message !== undefined ? { message: message.slice(0, 1024) } : {}),
      });
      return;
    }
    timers.clear(session.id, 'lease');
    timers.clear(session.id, 'auth');
    const wasQueued = session.state === 'queued';
    session.state = 'ended';
    session.endReason = reason;
    session.endMessage = message ?? END_MESSAGES[reason];
    session.endedAtMs = this.#ctx.now();
    store.sessions.put(session);
    if (wasQueued) store.queue.remove(session.game, session.id);
    store.sessions.clearActive(session.playerId, session.id);
    this.#ctx.log.info({ sessionId: session.id, reason, hostId: session.hostId }, 'session ended');
    this.#ctx.metrics.metric.sessionsEnded.inc({ reason });
    if (session.sponsorship && session.payerAddress && reason === 'insufficient-funds') {
      // A paid studio session runs out when the token's cap (the studio's maxAmount) is spent, or — the meter's
      // end message names it — when the studio's escrow is: the studio's page gets a typed error either way.
      const escrowEmpty = /escrow/i.test(session.endMessage);
      peers.sendToPlayer(session, {
        type: 'error',
        code: escrowEmpty ? 'ATH_ERR_INSUFFICIENT_FUNDS' : 'ATH_ERR_CAP_EXHAUSTED',
        message: escrowEmpty
          ? 'The studio’s ATH escrow is used up.'
          : 'The play token’s spending cap is used up; the studio must mint a new token.',
        sessionId: session.id,
      });
    }
    peers.sendToPlayer(session, {
      type: 'session-ended',
      sessionId: session.id,
      reason,
      message: session.endMessage,
    });
    if (session.hostId !== undefined && session.slot !== undefined) {
      const host = store.hosts.get(session.hostId);
      if (host?.peerId && reason !== 'host-lost' && reason !== 'host-stopped' && reason !== 'game-crashed') {
        peers.send(host.peerId, { type: 'stop-session', sessionId: session.id, reason });
      }
      store.hosts.release(session.hostId, session.slot, session.id);
    }
    this.#ctx.events.emit('sessionEnded', session);
    if (wasQueued) this.#ctx.matchmaking.leftQueue(session.game);
    else this.#ctx.matchmaking.serveQueue();
  }

  /** Ended sessions are kept a while for `GET /api/sessions/:id`, then forgotten. */
  expireEnded(): void {
    const cutoff = this.#ctx.now() - ENDED_SESSION_RETENTION_MS;
    const { sessions } = this.#ctx.store;
    for (const session of [...sessions.all()]) {
      if (session.state === 'ended' && (session.endedAtMs ?? 0) < cutoff) sessions.delete(session.id);
    }
  }

  sendAssigned(session: SessionRecord, resumed: boolean): void {
    if (session.hostId === undefined || session.slot === undefined) return;
    const host = this.#ctx.store.hosts.get(session.hostId);
    const payment = host ? this.#ctx.payment.termsFor(session, host) : undefined;
    this.#ctx.peers.sendToPlayer(session, {
      type: 'session',
      sessionId: session.id,
      hostId: session.hostId,
      game: session.game,
      slot: session.slot,
      state: session.state,
      priceWeiPerSec: weiToString(session.priceWeiPerSec),
      resumed,
      ...(payment ? { payment } : {}),
      // TURN credentials issued for this session (signaling/ice), and the network's policy for players.
      ...iceServersField(this.#ctx.settings.ice, session.id, this.#ctx.now()),
      ...(this.#ctx.settings.ice.playerTransportPolicy === 'relay' ? { iceTransportPolicy: 'relay' as const } : {}),
    });
  }

  // ---- players -----------------------------------------------------------------------------------------

  resume(peer: PeerState, session: SessionRecord, keepStream = false): void {
    const { timers, store, settings } = this.#ctx;
    timers.clear(session.id, 'lease');
    session.playerPeerId = peer.handle.id;
    store.sessions.put(session);
    store.sessions.setActive(session.playerId, session.id);
    this.#ctx.log.info({ sessionId: session.id, state: session.state, keepStream }, 'player resumed session');
    if (session.state === 'queued' || session.state === 'requested') {
      this.#ctx.matchmaking.sendQueuePosition(session);
      return;
    }
    const host = session.hostId ? store.hosts.get(session.hostId) : undefined;
    if (!host?.peerId || session.slot === undefined) {
      this.end(session, 'host-lost');
      return;
    }
    if (keepStream && session.state === 'streaming') {
      // Only signaling was lost (another signaling server took over): the peer-to-peer stream goes on.
      this.sendAssigned(session, true);
      return;
    }
    // Renegotiate on the same host and slot: the game keeps its state; only the transport is new.
    this.sendAssigned(session, true);
    this.setState(session, 'connecting');
    timers.set(session.id, 'lease', settings.leaseTtlMs, () => this.end(session, 'connect-timeout'));
    this.#ctx.peers.send(host.peerId, {
      type: 'start-session',
      sessionId: session.id,
      slot: session.slot,
      game: session.game,
      codecs: session.codecs,
      ...(session.quality ? { quality: session.quality } : {}),
      resume: true,
      ...iceServersField(settings.ice, session.id, this.#ctx.now()),
    });
  }

  adopt(session: SessionRecord): void {
    const { peers, settings, timers } = this.#ctx;
    this.#ctx.log.warn({ sessionId: session.id, state: session.state }, 'took over a session from a lost instance');
    if (session.playerPeerId && !peers.isLocal(session.playerPeerId)) {
      session.playerPeerId = undefined;
      this.#ctx.store.sessions.put(session);
    }
    if (!session.playerPeerId) {
      // Its player was connected there: it has the reconnect window to come back here (or to any instance).
      timers.set(session.id, 'lease', settings.reconnectWindowMs, () => this.end(session, 'player-left'));
    } else if (session.state === 'leased' || session.state === 'connecting') {
      timers.set(session.id, 'lease', settings.leaseTtlMs, () => this.end(session, 'connect-timeout'));
    }
    if (session.state !== 'requested' && session.state !== 'queued') this.#ctx.payment.adopted(session);
    this.#ctx.events.emit('sessionAdopted', session);
  }

  resumeMoved(peer: PeerState, session: SessionRecord, keepStream: boolean): void {
    this.#ctx.log.info({ sessionId: session.id }, 'session moved here with its player');
    this.resume(peer, session, keepStream);
    if (session.state === 'ended') return;
    if (session.state !== 'requested' && session.state !== 'queued') this.#ctx.payment.adopted(session);
    this.#ctx.events.emit('sessionAdopted', session);
  }

  hostBack(hostId: string): void {
    const { store, peers, settings } = this.#ctx;
    const host = store.hosts.get(hostId);
    if (!host?.peerId) return;
    for (const slot of host.slots) {
      const session = slot.sessionId ? store.sessions.get(slot.sessionId) : undefined;
      if (session?.owner !== store.instanceId || session.state !== 'connecting' || !session.playerPeerId) continue;
      // A resume sent while the host was away (its signaling instance had gone down): send it again.
      peers.send(host.peerId, {
        type: 'start-session',
        sessionId: session.id,
        slot: slot.slot,
        game: session.game,
        codecs: session.codecs,
        ...(session.quality ? { quality: session.quality } : {}),
        resume: true,
        ...iceServersField(settings.ice, session.id, this.#ctx.now()),
      });
    }
  }

  /**
   * A player's connection ended. `clean` is a close frame from the peer (tab closed or reloaded): the session
   * waits only a short grace for a reload. Otherwise (network blip) it waits the whole reconnect window.
   */
  playerLeft(peer: PeerState, { clean }: { clean: boolean }): void {
    if (peer.identity.kind !== 'player') return;
    const { store, settings } = this.#ctx;
    const sessionId = store.sessions.activeOf(peer.identity.playerId);
    const session = sessionId ? store.sessions.get(sessionId) : undefined;
    if (!session || session.playerPeerId !== peer.handle.id) return;
    session.playerPeerId = undefined;
    store.sessions.put(session);
    if (session.state === 'queued' || session.state === 'requested') {
      this.end(session, 'player-left');
      return;
    }
    const graceMs = clean ? settings.reloadGraceMs : settings.reconnectWindowMs;
    this.#ctx.log.info({ sessionId: session.id, graceMs, clean }, 'player disconnected; holding session');
    this.#ctx.timers.set(session.id, 'lease', graceMs, () => this.end(session, 'player-left'));
  }

  onPlayerReport(peer: PeerState, message: PeerMessageOf<'player-report'>): void {
    const session = this.playerSession(peer, message.sessionId);
    if (message.firstFrameMs !== undefined && !session.setupObserved) {
      session.setupObserved = true;
      this.#ctx.store.sessions.put(session);
      this.#ctx.metrics.metric.sessionSetupSeconds.observe(message.firstFrameMs / 1000);
    }
    this.#ctx.events.emit('report', {
      sessionId: session.id,
      source: 'player',
      fpsMilli: message.fpsMilli,
      atMs: this.#ctx.now(),
      framesDecoded: message.framesDecoded,
    });
  }

  onQuit(peer: PeerState, message: PeerMessageOf<'quit'>): void {
    this.end(this.playerSession(peer, message.sessionId), 'player-quit');
  }

  /** Player → its host (answer, ICE, input). */
  relayToHost(peer: PeerState, sessionId: string, message: ServerMessage): void {
    const session = this.playerSession(peer, sessionId);
    const host = session.hostId ? this.#ctx.store.hosts.get(session.hostId) : undefined;
    if (!host?.peerId) {
      throw new AthError({ code: 'ATH_ERR_SESSION_NOT_FOUND', shortMessage: 'the session has no host yet' });
    }
    this.#ctx.peers.send(host.peerId, message);
  }

  // ---- hosts -------------------------------------------------------------------------------------------

  /** Host → its session's player (ICE). */
  relayToPlayer(peer: PeerState, sessionId: string, message: ServerMessage): void {
    this.#ctx.peers.sendToPlayer(this.hostSession(peer, sessionId), message);
  }

  onOffer(peer: PeerState, message: PeerMessageOf<'offer'>): void {
    const session = this.hostSession(peer, message.sessionId);
    if (session.state === 'leased') this.setState(session, 'connecting');
    this.#ctx.peers.sendToPlayer(session, message);
  }

  onSessionStarted(peer: PeerState, message: PeerMessageOf<'session-started'>): void {
    const session = this.hostSession(peer, message.sessionId);
    if (session.state === 'ended' || session.state === 'streaming') return;
    if (session.hostId !== undefined && session.slot !== undefined) {
      this.#ctx.store.hosts.confirm(session.hostId, session.slot, session.id);
    }
    this.#ctx.timers.clear(session.id, 'lease');
    const first = session.streamingAtMs === undefined;
    session.streamingAtMs ??= this.#ctx.now();
    this.setState(session, 'streaming');
    if (first) {
      this.#ctx.metrics.metric.sessionsStarted.inc();
      this.#ctx.metrics.metric.sessionConnectSeconds.observe((session.streamingAtMs - session.createdAtMs) / 1000);
    }
    this.#ctx.events.emit('sessionStreaming', session);
  }

  onHostSessionEnded(peer: PeerState, message: PeerMessageOf<'host-session-ended'>): void {
    this.end(this.hostSession(peer, message.sessionId), message.reason, message.message);
  }

  onHostReport(peer: PeerState, message: PeerMessageOf<'host-report'>): void {
    const session = this.hostSession(peer, message.sessionId);
    this.#ctx.events.emit('report', {
      sessionId: session.id,
      source: 'host',
      fpsMilli: message.fpsMilli,
      atMs: this.#ctx.now(),
      inputIdleMs: message.inputIdleMs,
      // Kept as the host signed it; checked against its provider when it becomes evidence (Meter, CheckerDesk).
      ...(message.receipt
        ? { receipt: deliveryReceiptOf({ ...message, sessionId: session.id }, message.receipt) }
        : {}),
    });
    if (session.state === 'streaming' && message.inputIdleMs > this.#ctx.settings.afkTimeoutMs) {
      this.end(session, 'afk');
    }
  }
}
