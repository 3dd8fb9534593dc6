/**
 * The signaling core, independent of the WebSocket library: peers attach, their frames come in through
 * `receive`, replies go out through each peer's `send`. It owns the host registry, the sessions and their
 * lifecycle (requested → queued → leased → connecting → streaming → ended), the per-game queues and the
 * relaying of SDP and ICE between a player and the host that serves it.
 *
 * Every frame is validated (`parsePeerMessage`) and checked against the sender's role and ownership; a bad
 * frame gets a typed `error` reply and never affects another peer.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { verifyMessage } from 'viem';
import type { Metrics, SignalingMetricKey } from '../../metrics/index.js';
import { CheckerDesk, type RoundVerdict } from '../checkers/CheckerDesk.js';
import {
  AthError,
  type CodecName,
  type EndReasonName,
  hostRegistrationMessage,
  isAthError,
  isWireErrorCode,
  MESSAGES_BY_ROLE,
  type PeerMessage,
  type PeerMessageOf,
  type PeerRole,
  PROTOCOL_VERSION,
  parsePeerMessage,
  type ServerMessage,
  type SessionStateName,
  type WireErrorCode,
  weiFromString,
  weiToString,
} from '../protocol/index.js';
import type { SignalingSettings } from '../SignalingSettings.js';
import { GameQueue } from './GameQueue.js';
import { firstFreeSlot, type HostRecord, HostRegistry } from './HostRegistry.js';
import type { PaymentGate, Sponsorship } from './PaymentGate.js';
import { type CandidateScore, rankCandidates } from './scoreCandidates.js';

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

type PeerState = {
  handle: PeerHandle;
  identity: PeerIdentity;
  role: PeerRole | undefined;
  nonce: string;
  hostId: string | undefined;
  /** Set once a checker proved its wallet. */
  checkerAddress: `0x${string}` | undefined;
  attachedAtMs: number;
};

export type SessionRecord = {
  id: string;
  playerId: string;
  playerPeerId: string | undefined;
  game: string;
  codecs: CodecName[];
  maxPriceWeiPerSec: bigint | undefined;
  state: SessionStateName;
  hostId: string | undefined;
  slot: number | undefined;
  priceWeiPerSec: bigint;
  createdAtMs: number;
  queuedAtMs: number | undefined;
  leasedAtMs: number | undefined;
  /** A studio play token's session: the studio pays, on terms it signed before the lease. */
  sponsorship?: Sponsorship;
  streamingAtMs: number | undefined;
  /** The player's Play → first frame was observed (once per session, whatever its reports repeat). */
  setupObserved: boolean;
  endedAtMs: number | undefined;
  endReason: EndReasonName | undefined;
  endMessage: string | undefined;
  /** `play` said to wait in line when every slot is taken (else: no-free-slot error). */
  queueIfBusy: boolean;
  /** Hosts the player was asked to measure (probe-request); results for others are ignored. */
  probeHostIds: string[];
  /** Why this host: every candidate with its score terms, kept for `GET /api/sessions/:id`. */
  decision: MatchDecision | undefined;
  /** Who pays, once the SessionAuth was accepted (undefined: not yet, or the network does not bill). */
  payerAddress: `0x${string}` | undefined;
  /** Authorization deadline after the lease, when the network bills. */
  authTimer: NodeJS.Timeout | undefined;
  /** Lease TTL until streaming, or the reconnect window while the player is away. */
  timer: NodeJS.Timeout | undefined;
};

export type MatchDecision = {
  candidates: CandidateScore[];
  chosenHostId: string;
  decidedAtMs: number;
  pickMicros: number;
};

type Measurement = { rttMs: number | null; atMs: number };

export type SignalingHubParameters = {
  settings: SignalingSettings;
  /** The economy's gate; without one, sessions are not billed. */
  payments?: PaymentGate;
  log: Logger;
  metrics: Metrics<SignalingMetricKey>;
  now?: () => number;
};

/** What a host or a player said a live session delivered (every few seconds). */
export type DeliveryReport = {
  sessionId: string;
  source: 'host' | 'player';
  fpsMilli: number;
  atMs: number;
};

type SignalingHubEvents = {
  sessionEnded: (session: SessionRecord) => void;
  sessionStreaming: (session: SessionRecord) => void;
  sessionPaid: (session: SessionRecord) => void;
  report: (report: DeliveryReport) => void;
  verdict: (verdict: RoundVerdict) => void;
  /** A host registered (or re-registered after a reconnect) with a proven provider wallet. */
  hostRegistered: (host: HostRecord) => void;
};

const ENDED_SESSION_RETENTION_MS = 10 * 60_000;
/** A player's RTT to a host is trusted for this long, then measured again. */
const MEASUREMENT_TTL_MS = 10 * 60_000;
const MAX_MEASUREMENTS_PER_PLAYER = 64;

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

export class SignalingHub {
  readonly hosts = new HostRegistry();
  readonly #peers = new Map<string, PeerState>();
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #activeSessionByPlayer = new Map<string, string>();
  /** Each player's recent RTT measurements per host, from their browser's probes. */
  readonly #measurements = new Map<string, Map<string, Measurement>>();
  readonly #queue = new GameQueue();
  readonly #settings: SignalingSettings;
  readonly #log: Logger;
  readonly #metrics: Metrics<SignalingMetricKey>;
  readonly #now: () => number;
  readonly #listeners: { [K in keyof SignalingHubEvents]: Set<SignalingHubEvents[K]> } = {
    sessionEnded: new Set(),
    sessionStreaming: new Set(),
    sessionPaid: new Set(),
    report: new Set(),
    verdict: new Set(),
    hostRegistered: new Set(),
  };
  readonly #payments: PaymentGate | undefined;
  /** Where signaling's own HTTP pages are served (the iframe embed): their origin is signaling's own. */
  readonly #ownPages: { origins: Set<string>; port: string | undefined } = { origins: new Set(), port: undefined };
  readonly checkers: CheckerDesk;
  readonly #heartbeatMonitor: NodeJS.Timeout;
  #closed = false;

  constructor({ settings, log, metrics, payments, now = Date.now }: SignalingHubParameters) {
    this.#settings = settings;
    this.#payments = payments;
    this.#log = log.child({ mod: 'signaling/hub' });
    this.#metrics = metrics;
    this.#now = now;
    this.checkers = new CheckerDesk({
      settings: settings.checks,
      hosts: this.hosts,
      send: (peerId, message) => this.#sendToPeer(peerId, message),
      isConnected: (peerId) => this.#peers.has(peerId),
      log,
      metrics,
      onVerdict: (verdict) => this.#emit('verdict', verdict),
    });
    this.#heartbeatMonitor = setInterval(() => this.#checkHeartbeats(), settings.heartbeatIntervalMs);
    this.#heartbeatMonitor.unref();
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
  #fromOwnPage(identity: PeerIdentity): boolean {
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

  on<K extends keyof SignalingHubEvents>(event: K, listener: SignalingHubEvents[K]): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  // ---- transport side ----------------------------------------------------------------------------------

  attach(handle: PeerHandle, identity: PeerIdentity): void {
    this.#peers.set(handle.id, {
      handle,
      identity,
      role: undefined,
      nonce: randomBytes(16).toString('hex'),
      hostId: undefined,
      checkerAddress: undefined,
      attachedAtMs: this.#now(),
    });
  }

  /** One frame from a peer. Never throws: failures become typed `error` replies. */
  receive(peerId: string, raw: string | ArrayBuffer | Uint8Array): void {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    let message: PeerMessage | undefined;
    try {
      message = parsePeerMessage(raw);
      this.#dispatch(peer, message);
    } catch (error) {
      this.#replyError(peer, error, message);
    }
  }

  /**
   * A connection ended. `clean` is a close frame from the peer (tab closed or reloaded): the session waits
   * only a short grace for a reload. Otherwise (network blip) it waits the whole reconnect window.
   */
  detach(peerId: string, { clean }: { clean: boolean }): void {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    this.#peers.delete(peerId);
    if (peer.role === 'checker') this.checkers.checkerLeft(peerId);
    if (peer.role === 'host' && peer.hostId) {
      const host = this.hosts.get(peer.hostId);
      if (host?.peerId === peerId) this.#hostDown(host, 'connection closed');
      return;
    }
    if (peer.identity.kind !== 'player') return;
    const sessionId = this.#activeSessionByPlayer.get(peer.identity.playerId);
    const session = sessionId ? this.#sessions.get(sessionId) : undefined;
    if (!session || session.playerPeerId !== peerId) return;
    session.playerPeerId = undefined;
    if (session.state === 'queued' || session.state === 'requested') {
      this.#endSession(session, 'player-left');
      return;
    }
    const graceMs = clean ? this.#settings.reloadGraceMs : this.#settings.reconnectWindowMs;
    this.#log.info({ sessionId: session.id, graceMs, clean }, 'player disconnected; holding session');
    this.#setTimer(session, graceMs, () => this.#endSession(session, 'player-left'));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeatMonitor);
    this.checkers.close();
    for (const session of this.#sessions.values()) if (session.timer) clearTimeout(session.timer);
  }

  // ---- queries (HTTP API) ------------------------------------------------------------------------------

  getSession(sessionId: string): SessionRecord | undefined {
    return this.#sessions.get(sessionId);
  }

  sessions(): IterableIterator<SessionRecord> {
    return this.#sessions.values();
  }

  /**
   * `play` on behalf of a player's open WebSocket (the HTTP `POST /api/sessions`): the offer and the rest
   * of the flow still travel on that socket. Throws the same typed errors `play` would.
   */
  requestPlay(playerId: string, message: Omit<PeerMessageOf<'play'>, 'type'>): SessionRecord {
    const peer = [...this.#peers.values()].find(
      (candidate) =>
        candidate.role === 'player' && candidate.identity.kind === 'player' && candidate.identity.playerId === playerId,
    );
    if (!peer) {
      throw new AthError({
        code: 'ATH_ERR_NOT_ALLOWED',
        shortMessage: 'open the signaling WebSocket first: the stream is negotiated on it',
      });
    }
    this.#onPlay(peer, { type: 'play', ...message });
    const sessionId = this.#activeSessionByPlayer.get(playerId);
    const session = sessionId ? this.#sessions.get(sessionId) : undefined;
    if (!session) throw new AthError({ code: 'ATH_ERR_INTERNAL', shortMessage: 'session was not created' });
    return session;
  }

  /** Ends a player's session on request (`DELETE /api/sessions/:id`). */
  quit(playerId: string, sessionId: string): void {
    const session = this.#session(sessionId);
    if (session.playerId !== playerId) {
      throw new AthError({ code: 'ATH_ERR_NOT_YOUR_SESSION', shortMessage: 'that session is not yours' });
    }
    this.#endSession(session, 'player-quit');
  }

  queueLength(): number {
    return this.#queue.length;
  }

  // ---- dispatch ----------------------------------------------------------------------------------------

  #dispatch(peer: PeerState, message: PeerMessage): void {
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
      this.#dispatchChecker(peer, message);
      return;
    }
    switch (message.type) {
      case 'play':
        this.#onPlay(peer, message);
        return;
      case 'answer':
        this.#relayToHost(peer, message.sessionId, message);
        return;
      case 'ice':
        if (peer.role !== 'host') this.#relayToHost(peer, message.sessionId, message);
        else if (!this.checkers.relayFromHost(this.#peerHost(peer).hostId, message)) {
          this.#relayToPlayer(peer, message.sessionId, message);
        }
        return;
      case 'input':
        this.#relayToHost(peer, message.sessionId, message);
        return;
      case 'quit':
        this.#endSession(this.#playerSession(peer, message.sessionId), 'player-quit');
        return;
      case 'probe-results':
        this.#onProbeResults(peer, message);
        return;
      case 'player-report': {
        const session = this.#playerSession(peer, message.sessionId);
        if (message.firstFrameMs !== undefined && !session.setupObserved) {
          session.setupObserved = true;
          this.#metrics.metric.sessionSetupSeconds.observe(message.firstFrameMs / 1000);
        }
        this.#emit('report', {
          sessionId: session.id,
          source: 'player',
          fpsMilli: message.fpsMilli,
          atMs: this.#now(),
        });
        return;
      }
      case 'session-auth':
        this.#onSessionAuth(peer, message);
        return;
      case 'register':
        this.#onRegister(peer, message);
        return;
      case 'heartbeat':
        this.#onHeartbeat(peer, message);
        return;
      case 'offer':
        this.#onOffer(peer, message);
        return;
      case 'session-started':
        this.#onSessionStarted(peer, message);
        return;
      case 'host-session-ended':
        if (this.checkers.isProbe(message.sessionId)) return;
        this.#endSession(this.#hostSession(peer, message.sessionId), message.reason, message.message);
        return;
      case 'host-report':
        this.#onHostReport(peer, message);
        return;
    }
  }

  #dispatchChecker(peer: PeerState, message: PeerMessage): void {
    if (message.type === 'register-checker') {
      if (peer.checkerAddress) throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'already registered' });
      this.checkers
        .register(peer.handle.id, peer.nonce, message)
        .then((checkerAddress) => {
          peer.checkerAddress = checkerAddress;
          peer.handle.send({ type: 'checker-registered', checkerAddress });
        })
        .catch((error: unknown) => this.#replyError(peer, error, message));
      return;
    }
    if (!peer.checkerAddress) throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'register first' });
    switch (message.type) {
      case 'answer':
      case 'ice':
        this.checkers.relayFromChecker(peer.handle.id, message);
        return;
      case 'probe-done':
        this.checkers.probeDone(peer.handle.id, message.sessionId);
        return;
      case 'check-report':
        this.checkers
          .report(peer.handle.id, message)
          .then((accepted) => peer.handle.send({ type: 'report-accepted', ...accepted }))
          .catch((error: unknown) => this.#replyError(peer, error, message));
        return;
      default:
        throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: `a checker may not send \`${message.type}\`` });
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
    peer.handle.send({
      type: 'welcome',
      protocolVersion: PROTOCOL_VERSION,
      peerId: peer.handle.id,
      nonce: peer.nonce,
      serverTimeMs: this.#now(),
    });
  }

  // ---- hosts -------------------------------------------------------------------------------------------

  #onRegister(peer: PeerState, message: PeerMessageOf<'register'>): void {
    if (peer.hostId) throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'already registered' });
    // Checked asynchronously (signature recovery); the peer can send nothing else until it completes.
    peer.hostId = '';
    void this.#verifyAndRegister(peer, message);
  }

  async #verifyAndRegister(peer: PeerState, message: PeerMessageOf<'register'>): Promise<void> {
    try {
      const valid = await verifyMessage({
        address: message.providerAddress as `0x${string}`,
        message: hostRegistrationMessage(message.hostId, peer.nonce),
        signature: message.signature as `0x${string}`,
      }).catch(() => false);
      if (!valid) {
        throw new AthError({
          code: 'ATH_ERR_BAD_SIGNATURE',
          shortMessage: 'registration signature does not match the provider address',
        });
      }
      if (!this.#peers.has(peer.handle.id)) return;
      const existing = this.hosts.get(message.hostId);
      if (existing?.peerId && existing.peerId !== peer.handle.id && this.#peers.has(existing.peerId)) {
        throw new AthError({
          code: 'ATH_ERR_NOT_ALLOWED',
          shortMessage: `host ${message.hostId} is already connected`,
        });
      }
      if (existing && existing.providerAddress.toLowerCase() !== message.providerAddress.toLowerCase()) {
        throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'host id belongs to another provider' });
      }
      const host = this.hosts.register({ message, peerId: peer.handle.id, nowMs: this.#now() });
      peer.hostId = host.hostId;
      this.#log.info(
        { hostId: host.hostId, slots: host.slots.length, games: [...host.games.keys()], region: host.region.country },
        'host registered',
      );
      peer.handle.send({ type: 'registered', hostId: host.hostId });
      this.checkers.hostRegistered(host.hostId);
      this.#emit('hostRegistered', host);
      this.#serveQueue();
    } catch (error) {
      peer.hostId = undefined;
      this.#replyError(peer, error, message);
    }
  }

  #onHeartbeat(peer: PeerState, message: PeerMessageOf<'heartbeat'>): void {
    const host = this.#peerHost(peer);
    this.hosts.heartbeat(host.hostId, message.load, this.#now());
    if (host.state === 'down') host.state = 'up';
  }

  #checkHeartbeats(): void {
    const deadlineMs = this.#settings.heartbeatIntervalMs * this.#settings.missedHeartbeatsAllowed;
    for (const host of this.hosts.overdue(this.#now(), deadlineMs)) {
      this.#hostDown(host, `no heartbeat for ${deadlineMs} ms`);
    }
    this.#expireEndedSessions();
  }

  #hostDown(host: HostRecord, why: string): void {
    if (host.state === 'down') return;
    this.#log.warn({ hostId: host.hostId, why }, 'host down');
    host.state = 'down';
    host.peerId = undefined;
    this.checkers.hostGone(host.hostId);
    for (const slot of host.slots) {
      const session = slot.sessionId ? this.#sessions.get(slot.sessionId) : undefined;
      if (session) this.#endSession(session, 'host-lost');
    }
    this.hosts.releaseAll(host.hostId);
  }

  #onOffer(peer: PeerState, message: PeerMessageOf<'offer'>): void {
    if (this.checkers.relayFromHost(this.#peerHost(peer).hostId, message)) return;
    const session = this.#hostSession(peer, message.sessionId);
    if (session.state === 'leased') this.#setState(session, 'connecting');
    this.#sendToPlayer(session, message);
  }

  #onSessionStarted(peer: PeerState, message: PeerMessageOf<'session-started'>): void {
    if (this.checkers.isProbe(message.sessionId)) return;
    const session = this.#hostSession(peer, message.sessionId);
    if (session.state === 'ended' || session.state === 'streaming') return;
    if (session.hostId !== undefined && session.slot !== undefined) {
      this.hosts.confirm(session.hostId, session.slot, session.id);
    }
    this.#clearTimer(session);
    const first = session.streamingAtMs === undefined;
    session.streamingAtMs ??= this.#now();
    this.#setState(session, 'streaming');
    if (first) {
      this.#metrics.metric.sessionsStarted.inc();
      this.#metrics.metric.sessionConnectSeconds.observe((session.streamingAtMs - session.createdAtMs) / 1000);
    }
    this.#emit('sessionStreaming', session);
  }

  #onHostReport(peer: PeerState, message: PeerMessageOf<'host-report'>): void {
    const session = this.#hostSession(peer, message.sessionId);
    this.#emit('report', { sessionId: session.id, source: 'host', fpsMilli: message.fpsMilli, atMs: this.#now() });
    if (session.state === 'streaming' && message.inputIdleMs > this.#settings.afkTimeoutMs) {
      this.#endSession(session, 'afk');
    }
  }

  // ---- players -----------------------------------------------------------------------------------------

  #onPlay(peer: PeerState, message: PeerMessageOf<'play'>, sponsorship?: Sponsorship): void {
    const playerId = this.#playerId(peer);
    if (message.playToken !== undefined && !message.resumeSessionId && !sponsorship) {
      this.#admitPlayToken(peer, message);
      return;
    }
    const activeId = this.#activeSessionByPlayer.get(playerId);
    const active = activeId ? this.#sessions.get(activeId) : undefined;
    if (message.resumeSessionId) {
      const session = this.#sessions.get(message.resumeSessionId);
      if (!session || session.state === 'ended') {
        throw new AthError({
          code: 'ATH_ERR_SESSION_NOT_FOUND',
          shortMessage: 'that session has ended and cannot be resumed',
        });
      }
      if (session.playerId !== playerId) {
        throw new AthError({
          code: 'ATH_ERR_NOT_YOUR_SESSION',
          shortMessage: 'that session belongs to another player',
        });
      }
      this.#resume(peer, session);
      return;
    }
    if (active && active.state !== 'ended') {
      if (active.playerPeerId && active.playerPeerId !== peer.handle.id && this.#peers.has(active.playerPeerId)) {
        throw new AthError({ code: 'ATH_ERR_ALREADY_PLAYING', shortMessage: 'you already have a session open' });
      }
      // The old connection is gone: the new Play replaces the abandoned session.
      this.#endSession(active, 'player-left');
    }
    if (!this.hosts.hostsServing(message.game).size) {
      throw new AthError({ code: 'ATH_ERR_UNKNOWN_GAME', shortMessage: `no render host serves \`${message.game}\`` });
    }
    const session: SessionRecord = {
      id: sponsorship?.sessionId ?? `0x${randomBytes(32).toString('hex')}`,
      playerId,
      playerPeerId: peer.handle.id,
      game: message.game,
      codecs: [...message.codecs],
      maxPriceWeiPerSec: message.maxPriceWeiPerSec === undefined ? undefined : weiFromString(message.maxPriceWeiPerSec),
      state: 'requested',
      hostId: undefined,
      slot: undefined,
      priceWeiPerSec: 0n,
      createdAtMs: this.#now(),
      queuedAtMs: undefined,
      leasedAtMs: undefined,
      streamingAtMs: undefined,
      setupObserved: false,
      endedAtMs: undefined,
      endReason: undefined,
      endMessage: undefined,
      queueIfBusy: message.queue !== false,
      probeHostIds: [],
      decision: undefined,
      payerAddress: undefined,
      authTimer: undefined,
      timer: undefined,
    };
    if (sponsorship) session.sponsorship = sponsorship;
    this.#sessions.set(session.id, session);
    this.#activeSessionByPlayer.set(playerId, session.id);
    if (this.#settings.probe.samples === 0) {
      this.#leaseOrQueue(session);
      return;
    }
    const candidates = this.#rank(session, this.#settings.probe.maxCandidates);
    const unmeasured = candidates.filter((candidate) => candidate.rttMs === null);
    if (candidates.length <= 1 || unmeasured.length === 0) {
      this.#leaseOrQueue(session);
      return;
    }
    // Measure on the player's own path before leasing: the browser probes each candidate's endpoint.
    session.probeHostIds = candidates.map((candidate) => candidate.hostId);
    this.#sendToPlayer(session, {
      type: 'probe-request',
      sessionId: session.id,
      candidates: candidates.flatMap((candidate) => {
        const host = this.hosts.get(candidate.hostId);
        return host ? [{ hostId: host.hostId, probeUrl: host.endpoints.probeUrl }] : [];
      }),
      samples: this.#settings.probe.samples,
      timeoutMs: this.#settings.probe.timeoutMs,
    });
    // Results that never come (a closed tab, a stuck browser) must not hold the player forever.
    this.#setTimer(session, this.#settings.probe.timeoutMs * 2 + 1_000, () => this.#leaseOrQueue(session));
  }

  /**
   * Play with a studio play token: the economy checks the token (expiry, game, page origin, cap, the studio's
   * escrow) and names the session id and the provider/price the studio signed for; then Play goes on as usual,
   * matched only to that provider's hosts at that price.
   */
  #admitPlayToken(peer: PeerState, message: PeerMessageOf<'play'>): void {
    const gate = this.#payments;
    const playToken = message.playToken;
    if (!gate?.admitPlayToken || playToken === undefined) {
      throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'this network does not bill: no play tokens' });
    }
    const identity = peer.identity;
    gate
      .admitPlayToken({
        playToken,
        game: message.game,
        pageOrigin: identity.kind === 'player' ? identity.origin : undefined,
        sameOrigin: this.#fromOwnPage(identity),
      })
      .then((sponsorship) => {
        if (!this.#peers.has(peer.handle.id)) return;
        const existing = this.#sessions.get(sponsorship.sessionId);
        if (existing && existing.state !== 'ended') {
          throw new AthError({ code: 'ATH_ERR_ALREADY_PLAYING', shortMessage: 'this play token is already in use' });
        }
        if (existing?.payerAddress) {
          throw new AthError({
            code: 'ATH_ERR_TOKEN_EXPIRED',
            shortMessage: 'this play token’s session is over; the studio must mint a new one',
          });
        }
        this.#onPlay(peer, message, sponsorship);
      })
      .catch((error: unknown) => this.#replyError(peer, error, message));
  }

  /** The payer's authorization (a player's signature, or a studio's) holds: the session is paid from now on. */
  #paymentAccepted(session: SessionRecord, payerAddress: `0x${string}`): void {
    if (session.state === 'ended') return;
    session.payerAddress = payerAddress;
    if (session.authTimer) clearTimeout(session.authTimer);
    session.authTimer = undefined;
    this.#sendToPlayer(session, { type: 'payment-accepted', sessionId: session.id, payerAddress });
    this.#emit('sessionPaid', session);
  }

  /** A sponsored session was leased: the studio's stored authorization is checked and recorded for billing. */
  #authorizeSponsored(session: SessionRecord, host: HostRecord): void {
    const gate = this.#payments;
    const sponsorship = session.sponsorship;
    if (!gate?.authorizeSponsored || !sponsorship) return;
    gate
      .authorizeSponsored(session, host, sponsorship)
      .then(({ payerAddress }) => this.#paymentAccepted(session, payerAddress))
      .catch((error: unknown) => {
        const code = isAthError(error) && isWireErrorCode(error.code) ? error.code : 'ATH_ERR_INTERNAL';
        const text = isAthError(error) ? error.message : 'The studio’s authorization was refused.';
        this.#log.warn({ sessionId: session.id, code }, 'sponsored authorization refused');
        this.#sendToPlayer(session, {
          type: 'error',
          code,
          message: text.slice(0, 1024),
          ref: 'play',
          sessionId: session.id,
        });
        this.#endSession(session, 'insufficient-funds', text.slice(0, 500));
      });
  }

  #onProbeResults(peer: PeerState, message: PeerMessageOf<'probe-results'>): void {
    const session = this.#playerSession(peer, message.sessionId);
    if (session.state !== 'requested') return;
    const nowMs = this.#now();
    for (const { hostId, rttMs } of message.results) {
      if (!session.probeHostIds.includes(hostId)) continue;
      this.#remember(session.playerId, hostId, { rttMs, atMs: nowMs });
      const host = this.hosts.get(hostId);
      if (host && rttMs !== null) {
        this.#metrics.metric.playerRttSeconds.observe({ region: host.region.country }, rttMs / 1000);
      }
    }
    this.#leaseOrQueue(session);
  }

  #remember(playerId: string, hostId: string, measurement: Measurement): void {
    let byHost = this.#measurements.get(playerId);
    if (!byHost) {
      byHost = new Map();
      this.#measurements.set(playerId, byHost);
    }
    byHost.delete(hostId);
    byHost.set(hostId, measurement);
    // Maps iterate in insertion order: the first key is the stalest measurement.
    if (byHost.size > MAX_MEASUREMENTS_PER_PLAYER) byHost.delete(byHost.keys().next().value as string);
  }

  /** Fresh measurements of this player: RTT by host, and hosts found unreachable or implausibly far. */
  #playerView(playerId: string): { rttMsByHost: Map<string, number>; excluded: Set<string> } {
    const rttMsByHost = new Map<string, number>();
    const excluded = new Set<string>();
    const cutoff = this.#now() - MEASUREMENT_TTL_MS;
    for (const [hostId, { rttMs, atMs }] of this.#measurements.get(playerId) ?? []) {
      if (atMs < cutoff) continue;
      if (rttMs === null || rttMs > this.#settings.probe.maxPlausibleRttMs) excluded.add(hostId);
      else rttMsByHost.set(hostId, rttMs);
    }
    return { rttMsByHost, excluded };
  }

  /**
   * The best hosts for this session, best first: up, serving the game, a free slot, price within the
   * player's maximum, not measured unreachable or implausibly far by this player.
   */
  #rank(session: SessionRecord, limit: number): CandidateScore[] {
    const { rttMsByHost, excluded } = this.#playerView(session.playerId);
    const maxPrice = session.maxPriceWeiPerSec;
    return rankCandidates({
      hosts: this.hosts.hostsServing(session.game),
      ...this.hosts.maxima(session.game),
      eligible: (host) =>
        host.freeSlots > 0 &&
        host.state === 'up' &&
        !host.drained &&
        host.peerId !== undefined &&
        (maxPrice === undefined || host.priceWeiPerSec <= maxPrice) &&
        (session.sponsorship === undefined ||
          (host.providerAddress.toLowerCase() === session.sponsorship.providerAddress.toLowerCase() &&
            host.priceWeiPerSec === session.sponsorship.priceWeiPerSec)) &&
        !excluded.has(host.hostId),
      rttMsByHost,
      weights: this.#settings.scoring,
      limit,
    });
  }

  /** Leases the best slot now, or puts the player in line (or refuses, if they asked not to wait). */
  #leaseOrQueue(session: SessionRecord): void {
    if (session.state !== 'requested') return;
    this.#clearTimer(session);
    if (this.#tryLease(session)) return;
    if (!session.queueIfBusy) {
      this.#sendToPlayer(session, {
        type: 'error',
        code: 'ATH_ERR_NO_FREE_SLOT',
        message: `no free slot for \`${session.game}\` right now: try again in a moment`,
        ref: 'play',
        sessionId: session.id,
      });
      this.#sessions.delete(session.id);
      if (this.#activeSessionByPlayer.get(session.playerId) === session.id) {
        this.#activeSessionByPlayer.delete(session.playerId);
      }
      return;
    }
    session.queuedAtMs = this.#now();
    this.#setState(session, 'queued');
    this.#sendQueuePositions(session.game);
  }

  #resume(peer: PeerState, session: SessionRecord): void {
    this.#clearTimer(session);
    session.playerPeerId = peer.handle.id;
    this.#activeSessionByPlayer.set(session.playerId, session.id);
    this.#log.info({ sessionId: session.id, state: session.state }, 'player resumed session');
    if (session.state === 'queued' || session.state === 'requested') {
      this.#sendQueuePositions(session.game);
      return;
    }
    const host = session.hostId ? this.hosts.get(session.hostId) : undefined;
    if (!host?.peerId || session.slot === undefined) {
      this.#endSession(session, 'host-lost');
      return;
    }
    // Renegotiate on the same host and slot: the game keeps its state; only the transport is new.
    this.#sendAssigned(session, true);
    this.#setState(session, 'connecting');
    this.#setTimer(session, this.#settings.leaseTtlMs, () => this.#endSession(session, 'connect-timeout'));
    this.#sendToPeer(host.peerId, {
      type: 'start-session',
      sessionId: session.id,
      slot: session.slot,
      game: session.game,
      codecs: session.codecs,
      resume: true,
    });
  }

  /** Ranks and leases synchronously (no await between check and lease: no double booking). */
  #tryLease(session: SessionRecord): boolean {
    const startedNs = process.hrtime.bigint();
    const candidates = this.#rank(session, this.#settings.probe.maxCandidates);
    const best = candidates[0];
    const host = best ? this.hosts.get(best.hostId) : undefined;
    const slot = host ? firstFreeSlot(host) : undefined;
    const pickMicros = Number(process.hrtime.bigint() - startedNs) / 1000;
    this.#metrics.metric.matchPickSeconds.observe(pickMicros / 1e6);
    if (!host?.peerId || slot === undefined) return false;
    this.hosts.lease(host, slot, session.id);
    session.decision = { candidates, chosenHostId: host.hostId, decidedAtMs: this.#now(), pickMicros };
    if (session.queuedAtMs !== undefined) {
      this.#queue.remove(session.game, session.id);
      this.#metrics.metric.queueWaitSeconds.observe((this.#now() - session.queuedAtMs) / 1000);
    }
    session.hostId = host.hostId;
    session.slot = slot;
    session.priceWeiPerSec = host.priceWeiPerSec;
    session.leasedAtMs = this.#now();
    this.#setState(session, 'leased');
    this.#setTimer(session, this.#settings.leaseTtlMs, () => this.#endSession(session, 'connect-timeout'));
    this.#sendAssigned(session, false);
    if (this.#payments) {
      // The stream starts at once (first frame matters); the authorization must follow within the timeout.
      session.authTimer = setTimeout(
        () => this.#endSession(session, 'insufficient-funds', 'No payment authorization arrived for this session.'),
        this.#payments.authTimeoutMs,
      );
      session.authTimer.unref();
      if (session.sponsorship) this.#authorizeSponsored(session, host);
    }
    this.#sendToPeer(host.peerId, {
      type: 'start-session',
      sessionId: session.id,
      slot,
      game: session.game,
      codecs: session.codecs,
      resume: false,
    });
    return true;
  }

  #serveQueue(): void {
    for (const game of [...this.#queue.games()]) {
      for (const sessionId of [...this.#queue.waiting(game)]) {
        const session = this.#sessions.get(sessionId);
        if (session?.state !== 'queued') {
          this.#queue.remove(game, sessionId);
          continue;
        }
        if (!this.#tryLease(session)) break;
      }
      this.#sendQueuePositions(game);
    }
    this.#metrics.metric.queueLength.set(this.#queue.length);
  }

  #sendQueuePositions(game: string): void {
    const waiting = this.#queue.waiting(game);
    for (const sessionId of this.#queue.waiting(game)) {
      const session = this.#sessions.get(sessionId);
      if (session) {
        this.#sendToPlayer(session, {
          type: 'queued',
          sessionId,
          game,
          position: waiting.indexOf(sessionId) + 1,
        });
      }
    }
    this.#metrics.metric.queueLength.set(this.#queue.length);
  }

  #sendAssigned(session: SessionRecord, resumed: boolean): void {
    if (session.hostId === undefined || session.slot === undefined) return;
    const host = this.hosts.get(session.hostId);
    const payment =
      this.#payments && host && !session.payerAddress && !session.sponsorship
        ? this.#payments.terms(session, host)
        : undefined;
    this.#sendToPlayer(session, {
      type: 'session',
      sessionId: session.id,
      hostId: session.hostId,
      game: session.game,
      slot: session.slot,
      state: session.state,
      priceWeiPerSec: weiToString(session.priceWeiPerSec),
      resumed,
      ...(payment ? { payment } : {}),
    });
  }

  #onSessionAuth(peer: PeerState, message: PeerMessageOf<'session-auth'>): void {
    const session = this.#playerSession(peer, message.sessionId);
    const gate = this.#payments;
    const host = session.hostId ? this.hosts.get(session.hostId) : undefined;
    if (!gate || !host) {
      throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'this session needs no payment authorization' });
    }
    if (session.payerAddress) {
      throw new AthError({ code: 'ATH_ERR_REPLAY', shortMessage: 'this session is already authorized' });
    }
    gate
      .authorize(session, host, message)
      .then(({ payerAddress }) => this.#paymentAccepted(session, payerAddress))
      .catch((error: unknown) => {
        this.#replyError(peer, error, message);
        if (session.state !== 'ended' && !session.payerAddress) {
          const text = isAthError(error) ? error.message : 'The payment authorization was refused.';
          this.#endSession(session, 'insufficient-funds', text.slice(0, 500));
        }
      });
  }

  /** Ends a live session from outside (the meter: authorization or escrow used up). */
  endSession(sessionId: string, reason: EndReasonName, message?: string): void {
    const session = this.#sessions.get(sessionId);
    if (session) this.#endSession(session, reason, message);
  }

  /** Sends a message to the player of a session, if connected (the meter's charge ticker). */
  notifyPlayer(sessionId: string, message: ServerMessage): void {
    const session = this.#sessions.get(sessionId);
    if (session) this.#sendToPlayer(session, message);
  }

  // ---- session lifecycle -------------------------------------------------------------------------------

  #setState(session: SessionRecord, state: SessionStateName): void {
    if (session.state === state) return;
    session.state = state;
    if (state === 'queued') this.#queue.enqueue(session.game, session.id);
  }

  #endSession(session: SessionRecord, reason: EndReasonName, message?: string): void {
    if (session.state === 'ended') return;
    this.#clearTimer(session);
    if (session.authTimer) clearTimeout(session.authTimer);
    session.authTimer = undefined;
    const wasQueued = session.state === 'queued';
    session.state = 'ended';
    session.endReason = reason;
    session.endMessage = message ?? END_MESSAGES[reason];
    session.endedAtMs = this.#now();
    if (wasQueued) this.#queue.remove(session.game, session.id);
    if (this.#activeSessionByPlayer.get(session.playerId) === session.id) {
      this.#activeSessionByPlayer.delete(session.playerId);
    }
    this.#log.info({ sessionId: session.id, reason, hostId: session.hostId }, 'session ended');
    this.#metrics.metric.sessionsEnded.inc({ reason });
    if (session.sponsorship && session.payerAddress && reason === 'insufficient-funds') {
      // A paid studio session runs out when the token's cap (the studio's maxAmount) is spent, or — the meter's
      // end message names it — when the studio's escrow is: the studio's page gets a typed error either way.
      const escrowEmpty = /escrow/i.test(session.endMessage);
      this.#sendToPlayer(session, {
        type: 'error',
        code: escrowEmpty ? 'ATH_ERR_INSUFFICIENT_FUNDS' : 'ATH_ERR_CAP_EXHAUSTED',
        message: escrowEmpty
          ? 'The studio’s ATH escrow is used up.'
          : 'The play token’s spending cap is used up; the studio must mint a new token.',
        sessionId: session.id,
      });
    }
    this.#sendToPlayer(session, {
      type: 'session-ended',
      sessionId: session.id,
      reason,
      message: session.endMessage,
    });
    if (session.hostId !== undefined && session.slot !== undefined) {
      const host = this.hosts.get(session.hostId);
      if (host?.peerId && reason !== 'host-lost' && reason !== 'host-stopped' && reason !== 'game-crashed') {
        this.#sendToPeer(host.peerId, { type: 'stop-session', sessionId: session.id, reason });
      }
      this.hosts.release(session.hostId, session.slot, session.id);
    }
    this.#emit('sessionEnded', session);
    if (wasQueued) this.#sendQueuePositions(session.game);
    else this.#serveQueue();
  }

  #expireEndedSessions(): void {
    const cutoff = this.#now() - ENDED_SESSION_RETENTION_MS;
    for (const [id, session] of this.#sessions) {
      if (session.state === 'ended' && (session.endedAtMs ?? 0) < cutoff) this.#sessions.delete(id);
    }
  }

  #setTimer(session: SessionRecord, ms: number, fire: () => void): void {
    this.#clearTimer(session);
    session.timer = setTimeout(() => {
      session.timer = undefined;
      fire();
    }, ms);
    session.timer.unref();
  }

  #clearTimer(session: SessionRecord): void {
    if (session.timer) clearTimeout(session.timer);
    session.timer = undefined;
  }

  // ---- ownership and relaying --------------------------------------------------------------------------

  #playerId(peer: PeerState): string {
    if (peer.identity.kind !== 'player') {
      throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'only players can do that' });
    }
    return peer.identity.playerId;
  }

  #session(sessionId: string): SessionRecord {
    const session = this.#sessions.get(sessionId);
    if (!session || session.state === 'ended') {
      throw new AthError({ code: 'ATH_ERR_SESSION_NOT_FOUND', shortMessage: 'no such live session' });
    }
    return session;
  }

  #playerSession(peer: PeerState, sessionId: string): SessionRecord {
    const session = this.#session(sessionId);
    if (session.playerId !== this.#playerId(peer) || session.playerPeerId !== peer.handle.id) {
      throw new AthError({ code: 'ATH_ERR_NOT_YOUR_SESSION', shortMessage: 'that session is not yours' });
    }
    return session;
  }

  #peerHost(peer: PeerState): HostRecord {
    const host = peer.hostId ? this.hosts.get(peer.hostId) : undefined;
    if (!host || host.peerId !== peer.handle.id) {
      throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'register first' });
    }
    return host;
  }

  #hostSession(peer: PeerState, sessionId: string): SessionRecord {
    const host = this.#peerHost(peer);
    const session = this.#session(sessionId);
    if (session.hostId !== host.hostId) {
      throw new AthError({ code: 'ATH_ERR_NOT_YOUR_SESSION', shortMessage: 'that session is not on your host' });
    }
    return session;
  }

  #relayToHost(peer: PeerState, sessionId: string, message: ServerMessage): void {
    const session = this.#playerSession(peer, sessionId);
    const host = session.hostId ? this.hosts.get(session.hostId) : undefined;
    if (!host?.peerId) {
      throw new AthError({ code: 'ATH_ERR_SESSION_NOT_FOUND', shortMessage: 'the session has no host yet' });
    }
    this.#sendToPeer(host.peerId, message);
  }

  #relayToPlayer(peer: PeerState, sessionId: string, message: ServerMessage): void {
    this.#sendToPlayer(this.#hostSession(peer, sessionId), message);
  }

  #sendToPlayer(session: SessionRecord, message: ServerMessage): void {
    if (session.playerPeerId) this.#sendToPeer(session.playerPeerId, message);
  }

  #sendToPeer(peerId: string, message: ServerMessage): void {
    this.#peers.get(peerId)?.handle.send(message);
  }

  #replyError(peer: PeerState, error: unknown, cause: PeerMessage | undefined): void {
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

  // ---- metrics -----------------------------------------------------------------------------------------

  #emit<K extends keyof SignalingHubEvents>(event: K, payload: Parameters<SignalingHubEvents[K]>[0]): void {
    for (const listener of this.#listeners[event] as Set<(payload: Parameters<SignalingHubEvents[K]>[0]) => void>) {
      try {
        listener(payload);
      } catch (error) {
        this.#log.error({ err: error, event }, 'hub listener threw');
      }
    }
  }

  /**
   * Sets the state gauges (connections, sessions, hosts, slots, queue) from the current state. Called at
   * scrape time rather than on every change: counting over 10,000 hosts per lease would cost more than the
   * pick itself.
   */
  refreshGauges(): void {
    this.#updateConnectionGauge();
    this.#updateSessionGauge();
    this.#updateHostGauges();
    this.#metrics.metric.queueLength.set(this.#queue.length);
  }

  #updateConnectionGauge(): void {
    const counts = { player: 0, host: 0, checker: 0, pending: 0 };
    for (const peer of this.#peers.values()) counts[peer.role ?? 'pending'] += 1;
    for (const [role, count] of Object.entries(counts)) this.#metrics.metric.wsConnections.set({ role }, count);
  }

  #updateSessionGauge(): void {
    const counts: Record<string, number> = { queued: 0, leased: 0, connecting: 0, streaming: 0 };
    for (const session of this.#sessions.values()) {
      if (session.state in counts) counts[session.state] = (counts[session.state] ?? 0) + 1;
    }
    for (const [state, count] of Object.entries(counts)) this.#metrics.metric.sessionsActive.set({ state }, count);
  }

  #updateHostGauges(): void {
    const hostCounts = { up: 0, down: 0, draining: 0 };
    const slotCounts = { free: 0, leased: 0, busy: 0 };
    const quality = { min: Number.POSITIVE_INFINITY, sum: 0, max: Number.NEGATIVE_INFINITY, n: 0 };
    for (const host of this.hosts.all()) {
      hostCounts[host.state] += 1;
      if (host.state === 'down') continue;
      for (const slot of host.slots) slotCounts[slot.state] += 1;
      quality.min = Math.min(quality.min, host.qualityScore);
      quality.max = Math.max(quality.max, host.qualityScore);
      quality.sum += host.qualityScore;
      quality.n += 1;
    }
    // min / mean / max over live containers: one series each, however many containers there are.
    const score = this.#metrics.metric.containerQualityScore;
    if (quality.n === 0) score.reset();
    else {
      score.set({ stat: 'min' }, quality.min);
      score.set({ stat: 'mean' }, quality.sum / quality.n);
      score.set({ stat: 'max' }, quality.max);
    }
    for (const [state, n] of Object.entries(hostCounts)) this.#metrics.metric.hostsRegistered.set({ state }, n);
    for (const [state, n] of Object.entries(slotCounts)) this.#metrics.metric.slotsTotal.set({ state }, n);
  }
}
