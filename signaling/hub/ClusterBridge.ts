/**
 * The hub's side of several signaling instances on one store: what other instances send this one (a server
 * message for a peer connected here, a peer's frame for a session run here, a session to end, a host that
 * came back) and what the store reports (capacity freed elsewhere, a session that moved away, an instance
 * that went down — whose sessions this instance tries to take over).
 */
import { AthError, parseServerMessage } from '../protocol/index.js';
import type { ClusterLink } from '../store/SignalingStore.js';
import type { HubContext } from './HubContext.js';
import type { PeerDispatcher } from './PeerDispatcher.js';
import type { SessionLifecycle } from './SessionLifecycle.js';
import type { SessionRecord } from './SessionRecord.js';

export type ClusterBridgeParameters = {
  ctx: HubContext;
  cluster: ClusterLink;
  dispatcher: PeerDispatcher;
  sessions: SessionLifecycle;
};

export class ClusterBridge {
  readonly #p: ClusterBridgeParameters;
  readonly #unsubscribe: Array<() => void> = [];
  #serveScheduled = false;
  #closed = false;

  constructor(params: ClusterBridgeParameters) {
    this.#p = params;
    const { cluster } = params;
    this.#unsubscribe.push(
      cluster.onMessage((message) => {
        try {
          this.#onMessage(message);
        } catch (error) {
          params.ctx.log.warn({ err: error, kind: message.k }, 'cluster message failed');
        }
      }),
      cluster.onEvent((event) => {
        switch (event.kind) {
          case 'capacity':
          case 'resynced':
            this.#serveQueueSoon();
            return;
          case 'sessionMoved': {
            params.ctx.timers.clear(event.sessionId, 'lease');
            params.ctx.timers.clear(event.sessionId, 'auth');
            const session = params.ctx.store.sessions.get(event.sessionId);
            if (session) params.ctx.events.emit('sessionMoved', session);
            if (session) this.#sendPlayerToOwner(session, event.playerPeerId);
            return;
          }
          case 'instanceDown':
            this.#adoptSessionsOf(event.instanceId);
            return;
          case 'hostTaken':
            this.#dropRegistration(event.hostId, event.peerId);
            return;
        }
      }),
    );
  }

  close(): void {
    this.#closed = true;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }

  #onMessage(message: Parameters<Parameters<ClusterLink['onMessage']>[0]>[0]): void {
    const { ctx, dispatcher, sessions } = this.#p;
    switch (message.k) {
      case 'deliver': {
        const peer = ctx.peers.get(message.peerId);
        if (peer) peer.handle.send(parseServerMessage(message.message));
        return;
      }
      case 'frame':
        dispatcher.receiveForwarded(message.peer, message.raw);
        return;
      case 'end': {
        const session = ctx.store.sessions.get(message.sessionId);
        if (session) sessions.end(session, message.reason, message.message);
        return;
      }
      case 'hostBack':
        sessions.hostBack(message.hostId);
        return;
      case 'sample': {
        const { sessionId, hostId, game } = message;
        const sampling = ctx.checkers.sampleSession({ sessionId, hostId, game });
        ctx.log.info({ sessionId, hostId, sampling }, 'disputed delivery (another instance’s session): sampling');
        return;
      }
      case 'observation':
        ctx.events.emit('report', {
          sessionId: message.sessionId,
          source: 'checker',
          fpsMilli: message.fpsMilli,
          checkerAddress: message.checkerAddress as `0x${string}`,
          atMs: ctx.now(),
        });
        return;
    }
  }

  /**
   * The session moved while its player is still connected here — another instance adopted it while this one was
   * cut off from Redis, so the owner does not know that connection. The session is not ended here (its host
   * streams on, its owner meters it): the player's socket is closed with 4010, and its client, as after any
   * unclean close, reconnects to the next signaling server of the network and resumes the session there without
   * renegotiating the stream. A connection the owner does know (the record names it) is left alone.
   */
  #sendPlayerToOwner(session: SessionRecord, formerPeerId: string | undefined): void {
    if (formerPeerId === undefined || formerPeerId === session.playerPeerId) return;
    const { peers, log } = this.#p.ctx;
    const peer = peers.get(formerPeerId);
    if (!peer || !peers.isLocal(formerPeerId) || peer.role !== 'player') return;
    log.info({ sessionId: session.id, owner: session.owner }, 'session moved: its player sent to reconnect');
    peer.handle.close(4010, 'session moved to another signaling server');
  }

  /**
   * The store refused a registration made here: the host registered on another instance first. The connection here
   * does not hold it: it is told (ATH_ERR_NOT_ALLOWED, as when a second connection registers a host already
   * connected) and closed; a host that reconnects is refused while the other connection holds the host.
   */
  #dropRegistration(hostId: string, peerId: string): void {
    const { peers, log } = this.#p.ctx;
    const peer = peers.get(peerId);
    if (!peer || !peers.isLocal(peerId) || peer.hostId !== hostId) return;
    log.warn({ hostId, peerId }, 'host registered on another signaling server first: this connection dropped');
    peer.hostId = undefined;
    peers.replyError(
      peer,
      new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: `host ${hostId} is already connected` }),
      undefined,
    );
    peer.handle.close(4009, 'host registered on another signaling server');
  }

  /** Slots freed or a line moved on another instance: a player waiting here may be next. */
  #serveQueueSoon(): void {
    if (this.#serveScheduled || this.#closed) return;
    this.#serveScheduled = true;
    setImmediate(() => {
      this.#serveScheduled = false;
      if (!this.#closed) this.#p.ctx.matchmaking.serveQueue();
    });
  }

  /** Every live session of a lost instance is claimed by one survivor (the store decides who). */
  #adoptSessionsOf(instanceId: string): void {
    const { ctx, cluster, sessions } = this.#p;
    for (const session of [...ctx.store.sessions.all()]) {
      if (session.owner !== instanceId || session.state === 'ended') continue;
      cluster
        .claimSession(session.id, instanceId)
        .then((claimed) => {
          if (claimed && session.state !== 'ended') sessions.adopt(session);
        })
        .catch((error: unknown) => ctx.log.warn({ err: error, sessionId: session.id }, 'takeover failed'));
    }
    this.#serveQueueSoon();
  }
}
