/**
 * The signaling core, independent of the WebSocket library: peers attach, their frames come in through
 * `receive`, replies go out through each peer's `send`. This class only composes the modules that do the
 * work and keeps the hub's public surface (the transports, the HTTP routes and the economy use it):
 *
 *   PeerDispatcher   — every frame: parse, role checks, route to the owning module (new messages go here)
 *   Registration     — hosts: register, heartbeats, host down
 *   Matchmaking      — Play, probes, ranking, leases, the queue
 *   SessionLifecycle — session states, ends, timers, resume, relays, reports, ownership checks
 *   PaymentFlow      — payment terms, SessionAuth, play tokens (through the economy's PaymentGate)
 *   CheckerRounds    — checker messages and probe relays (rounds themselves: signaling/checkers/CheckerDesk)
 *
 * State lives beneath them in a `SignalingStore` (signaling/store); per-instance things (sockets, timers) in
 * `PeerDirectory` and `SessionTimers`. Modules reach each other only through the ports in `HubContext`.
 */
import type { Logger } from 'pino';
import type { Metrics, SignalingMetricKey } from '../../metrics/index.js';
import { CheckerDesk } from '../checkers/CheckerDesk.js';
import { issueIceServers } from '../ice/issueIceServers.js';
import { AthError, type EndReasonName, type PeerMessageOf, type ServerMessage } from '../protocol/index.js';
import type { SignalingSettings } from '../SignalingSettings.js';
import { MemorySignalingStore } from '../store/MemorySignalingStore.js';
import type { HostStore, MeterStateStore, SignalingStore } from '../store/SignalingStore.js';
import { type DrainStore, MemoryDrainStore } from '../trust/DrainStore.js';
import type { StakeGate } from '../trust/StakeGate.js';
import { stakeShortfall } from '../trust/stakePolicy.js';
import { CheckerRounds } from './CheckerRounds.js';
import { ClusterBridge } from './ClusterBridge.js';
import type { HubContext, HubPorts, HubServices } from './HubContext.js';
import { type DeliveryContradiction, type DeliveryDispute, HubEvents, type SignalingHubEvents } from './HubEvents.js';
import { Matchmaking } from './Matchmaking.js';
import { PaymentFlow } from './PaymentFlow.js';
import type { PaymentGate } from './PaymentGate.js';
import { PeerDirectory, type PeerHandle, type PeerIdentity } from './PeerDirectory.js';
import { PeerDispatcher } from './PeerDispatcher.js';
import { Registration } from './Registration.js';
import { SessionLifecycle } from './SessionLifecycle.js';
import type { SessionRecord } from './SessionRecord.js';
import { SessionTimers } from './SessionTimers.js';

export type SignalingHubParameters = {
  settings: SignalingSettings;
  /** The StakingRegistry's word on hosts' and checkers' stake (the economy's `ChainStakeGate`). */
  stakes: StakeGate;
  /** Where drains are kept across restarts (the ledger); in memory when absent. */
  drains?: DrainStore;
  /** The economy's gate; without one, sessions are not billed. */
  payments?: PaymentGate;
  log: Logger;
  metrics: Metrics<SignalingMetricKey>;
  /** Where the state lives; in this process's memory by default. */
  store?: SignalingStore;
  now?: () => number;
};

export class SignalingHub {
  readonly checkers: CheckerDesk;
  readonly #ctx: HubContext;
  readonly #dispatcher: PeerDispatcher;
  readonly #sessions: SessionLifecycle;
  readonly #matchmaking: Matchmaking;
  readonly #registration: Registration;
  readonly #checkerRounds: CheckerRounds;
  readonly #heartbeatMonitor: NodeJS.Timeout;
  readonly #bridge: ClusterBridge | undefined;
  #httpUrl: string | undefined;
  readonly #unsubscribeStakes: () => void;
  #closed = false;

  constructor({ settings, log, metrics, payments, stakes, drains, store, now = Date.now }: SignalingHubParameters) {
    const hubLog = log.child({ mod: 'signaling/hub' });
    const state = store ?? new MemorySignalingStore();
    const peers = new PeerDirectory({
      log: hubLog,
      metrics,
      now,
      instanceId: state.instanceId,
      cluster: state.cluster,
    });
    const events = new HubEvents(hubLog);
    this.checkers = new CheckerDesk({
      settings: settings.checks,
      stakeSettings: settings.stake,
      stakes,
      drains: drains ?? new MemoryDrainStore(),
      drainMap: state.drains,
      hosts: state.hosts,
      send: (peerId, message) => peers.send(peerId, message),
      isConnected: (peerId) => peers.has(peerId),
      isLocal: (peerId) => peers.isLocal(peerId),
      log,
      metrics,
      onVerdict: (verdict) => events.emit('verdict', verdict),
      iceServersFor: (sessionId) => issueIceServers({ ice: settings.ice, sessionId, nowSec: Math.floor(now() / 1000) }),
      // A newcomer's first seconds are not shared with a probe (this instance's sessions; the others' go unseen).
      playerSessionAgeMs: (sessionId) => {
        const leasedAtMs = state.sessions.get(sessionId)?.leasedAtMs;
        return leasedAtMs === undefined ? undefined : now() - leasedAtMs;
      },
      // What the checkers measured while sampling a disputed session goes to the meter like a report.
      onObservation: (observation) => this.reportCheckerObservation(observation),
      ...(store?.limits ? { sharedContradictions: store.limits.countContradiction.bind(store.limits) } : {}),
    });
    // An instance went down: the per-address places it held (connections, sessions) stop counting at once.
    state.cluster?.onEvent((event) => {
      if (event.kind === 'instanceDown') store?.limits?.forget(event.instanceId);
    });
    // A player disputes its delivery: the checkers sample its host now, on its game.
    // Its host's rounds run on the instance the host is connected to: a dispute of a session run here on a host
    // connected elsewhere is sampled there, and the observations come back here (cluster `sample`/`observation`).
    events.on('deliveryDisputed', (dispute) => {
      const session = state.sessions.get(dispute.sessionId);
      const request = { sessionId: dispute.sessionId, hostId: dispute.hostId, game: session?.game };
      const hostPeer = state.hosts.get(dispute.hostId)?.peerId;
      const elsewhere =
        hostPeer !== undefined && !peers.isLocal(hostPeer) ? peers.remoteInstanceOf(hostPeer) : undefined;
      const sampling =
        elsewhere !== undefined && state.cluster
          ? state.cluster.send(elsewhere, { k: 'sample', ...request })
          : this.checkers.sampleSession(request);
      hubLog.info({ ...request, sampling, instance: elsewhere }, 'disputed delivery: sampling');
    });
    // The meter dropped a disputed stretch the host's probes could not vouch for: the desk weighs the evidence.
    events.on('deliveryContradicted', (contradiction) => {
      void this.checkers
        .contradicted(contradiction)
        .then((outcome) => hubLog.info({ sessionId: contradiction.sessionId, outcome }, 'contradicted delivery'))
        .catch((error: unknown) => hubLog.error({ err: error }, 'contradicted delivery not weighed'));
    });
    const services: HubServices = {
      settings,
      log: hubLog,
      metrics,
      now,
      store: state,
      peers,
      events,
      timers: new SessionTimers(),
      payments,
      checkers: this.checkers,
      stakes,
    };
    // The modules reach each other through the context's ports, filled in once all of them exist.
    const ctx = { ...services } as HubContext;
    this.#ctx = ctx;
    this.#sessions = new SessionLifecycle(ctx);
    this.#matchmaking = new Matchmaking(ctx);
    this.#registration = new Registration(ctx);
    this.#checkerRounds = new CheckerRounds(ctx);
    const payment = new PaymentFlow(ctx);
    const ports: HubPorts = {
      sessions: this.#sessions,
      matchmaking: this.#matchmaking,
      payment,
      registration: this.#registration,
    };
    Object.assign(ctx, ports);
    this.#dispatcher = new PeerDispatcher({
      ctx,
      sessions: this.#sessions,
      matchmaking: this.#matchmaking,
      payment,
      registration: this.#registration,
      checkerRounds: this.#checkerRounds,
    });
    if (state.cluster) {
      this.#bridge = new ClusterBridge({
        ctx,
        cluster: state.cluster,
        dispatcher: this.#dispatcher,
        sessions: this.#sessions,
      });
    }
    this.#heartbeatMonitor = setInterval(() => {
      this.#registration.checkHeartbeats();
      this.#sessions.expireEnded();
    }, settings.heartbeatIntervalMs);
    this.#heartbeatMonitor.unref();
    this.#unsubscribeStakes = stakes.onChange((address) => void this.#stakeChanged(address));
  }

  /** Loads what must hold before the first host registers: the drains in force. */
  async start(): Promise<void> {
    await this.checkers.loadDrains();
  }

  /**
   * The StakingRegistry reported a change for an operator: its hosts follow their provider's stake (drained
   * below its tier, back when restaked), and a checker below the checker tier is dropped.
   */
  async #stakeChanged(address: `0x${string}`): Promise<void> {
    const { stakes, settings, peers } = this.#ctx;
    try {
      const position = await stakes.read(address);
      if (this.#closed) return;
      await this.#registration.providerStakeChanged(address, position);
      const shortfall = await stakeShortfall({
        gate: stakes,
        settings: settings.stake,
        address,
        role: 'checker',
        position,
      });
      for (const peerId of this.checkers.checkerStakeChanged(address, position, !shortfall)) {
        const peer = peers.get(peerId);
        if (!peer) continue;
        if (shortfall) peers.replyError(peer, shortfall, undefined);
        peer.handle.close(4003, 'stake below the checker tier');
      }
    } catch (error) {
      this.#ctx.log.warn({ err: error, address }, 'reading a changed stake failed');
    }
  }

  /** This signaling instance (several may share one store). */
  get instanceId(): string {
    return this.#ctx.store.instanceId;
  }

  /** A fresh id for a new connection (the transports ask for one per socket). */
  newPeerId(): string {
    return this.#ctx.peers.newPeerId();
  }

  /** Where the meter keeps each paid session's running state (shared with the other instances, if any). */
  get meterStates(): MeterStateStore {
    return this.#ctx.store.meters;
  }

  /** Every render host signaling knows, with its slots. */
  get hosts(): HostStore {
    return this.#ctx.store.hosts;
  }

  /** Signaling's HTTP server is up (startSignaling): pages it serves count as signaling's own origin. */
  servesPagesAt(httpUrl: string, port: number): void {
    this.#ctx.peers.servesPagesAt(httpUrl, port);
    this.#httpUrl = httpUrl;
    this.#ctx.store.cluster?.announce(httpUrl);
  }

  /** This signaling server's public HTTP URL first, then those of the other servers of its network that are up. */
  signalingServers(): string[] {
    const others = this.#ctx.store.cluster?.servers() ?? [];
    return [...(this.#httpUrl ? [this.#httpUrl] : []), ...others.filter((url) => url !== this.#httpUrl)];
  }

  on<K extends keyof SignalingHubEvents>(event: K, listener: SignalingHubEvents[K]): () => void {
    return this.#ctx.events.on(event, listener);
  }

  // ---- transport side ----------------------------------------------------------------------------------

  attach(handle: PeerHandle, identity: PeerIdentity): void {
    const peer = this.#ctx.peers.attach(handle, identity);
    this.#ctx.peers.setDeadline(peer, this.#ctx.settings.admission.helloTimeoutMs, 'hello');
  }

  /** One frame from a peer. Never throws: failures become typed `error` replies. */
  receive(peerId: string, raw: string | ArrayBuffer | Uint8Array): void {
    this.#dispatcher.receive(peerId, raw);
  }

  /**
   * A connection ended. `clean` is a close frame from the peer (tab closed or reloaded): the session waits
   * only a short grace for a reload. Otherwise (network blip) it waits the whole reconnect window.
   */
  detach(peerId: string, { clean }: { clean: boolean }): void {
    const peer = this.#ctx.peers.get(peerId);
    if (!peer) return;
    this.#ctx.peers.delete(peerId);
    if (peer.role === 'checker') this.#checkerRounds.checkerLeft(peer);
    if (peer.role === 'host' && peer.hostId) {
      this.#registration.hostLeft(peer);
      return;
    }
    this.#sessions.playerLeft(peer, { clean });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeatMonitor);
    this.#bridge?.close();
    this.#unsubscribeStakes();
    this.#ctx.peers.close();
    this.checkers.close();
    this.#matchmaking.close();
    this.#ctx.timers.close();
    this.#ctx.store.close();
  }

  // ---- queries and commands (HTTP API, economy) --------------------------------------------------------

  getSession(sessionId: string): SessionRecord | undefined {
    return this.#ctx.store.sessions.get(sessionId);
  }

  sessions(): IterableIterator<SessionRecord> {
    return this.#ctx.store.sessions.all();
  }

  /**
   * `play` on behalf of a player's open WebSocket (the HTTP `POST /api/sessions`): the offer and the rest
   * of the flow still travel on that socket. Throws the same typed errors `play` would.
   */
  requestPlay(playerId: string, message: Omit<PeerMessageOf<'play'>, 'type'>): SessionRecord {
    const peer = this.#ctx.peers.playerConnection(playerId);
    if (!peer) {
      throw new AthError({
        code: 'ATH_ERR_NOT_ALLOWED',
        shortMessage: 'open the signaling WebSocket first: the stream is negotiated on it',
      });
    }
    this.#matchmaking.play(peer, { type: 'play', ...message });
    const sessionId = this.#ctx.store.sessions.activeOf(playerId);
    const session = sessionId ? this.#ctx.store.sessions.get(sessionId) : undefined;
    if (!session) throw new AthError({ code: 'ATH_ERR_INTERNAL', shortMessage: 'session was not created' });
    return session;
  }

  /** Ends a player's session on request (`DELETE /api/sessions/:id`). */
  quit(playerId: string, sessionId: string): void {
    const session = this.#sessions.live(sessionId);
    if (session.playerId !== playerId) {
      throw new AthError({ code: 'ATH_ERR_NOT_YOUR_SESSION', shortMessage: 'that session is not yours' });
    }
    this.#sessions.end(session, 'player-quit');
  }

  queueLength(): number {
    return this.#ctx.store.queue.length;
  }

  /** Ends a live session from outside (the meter: authorization or escrow used up). */
  endSession(sessionId: string, reason: EndReasonName, message?: string): void {
    const session = this.#ctx.store.sessions.get(sessionId);
    if (session) this.#sessions.end(session, reason, message);
  }

  /**
   * The ledger says another signaling instance (`owner`) runs this session now — it took the session over while
   * this one was cut off from Redis and has not heard. It is left to that instance, not ended: its host streams
   * on, its slot stays leased, and its player, if connected here, is sent to reconnect (its client resumes the
   * session on another server, the stream untouched). Without a cluster there is nobody to leave it to: it ends
   * here with `message`.
   */
  handOver(sessionId: string, owner: string, message: string): void {
    const { store } = this.#ctx;
    const session = store.sessions.get(sessionId);
    if (!session || session.state === 'ended') return;
    if (store.cluster && owner !== store.instanceId) store.cluster.movedAway(sessionId, owner);
    else this.#sessions.end(session, 'error', message);
  }

  /**
   * The meter flags a session whose player disputes delivery: listeners of `deliveryDisputed` (the checkers'
   * sampling of live sessions, issue 14) should observe it and report with `reportCheckerObservation`.
   */
  disputeDelivery(dispute: DeliveryDispute): void {
    this.#ctx.log.warn(dispute, 'delivery disputed by the player: flagged for checkers');
    this.#ctx.events.emit('deliveryDisputed', dispute);
  }

  /**
   * The meter dropped a disputed stretch a good probe of the host could not vouch for: the session's player
   * counted far less than the host's signed receipts claim. Emitted as `deliveryContradicted` with the payer; the
   * checker desk verifies the receipts and drains a provider several players contradict.
   */
  contradictDelivery(contradiction: DeliveryContradiction): void {
    const payerAddress = this.#ctx.store.sessions.get(contradiction.sessionId)?.payerAddress;
    this.#ctx.events.emit('deliveryContradicted', { ...contradiction, payerAddress });
  }

  /**
   * A checker's observation of a live session's stream (issue 14): the meter bills a stretch the player
   * disputes when a checker saw it delivered, and stops billing when a checker saw it fail.
   */
  reportCheckerObservation(observation: { sessionId: string; checkerAddress: `0x${string}`; fpsMilli: number }): void {
    // A session another instance runs (its host's round ran here): its meter is there.
    const { store } = this.#ctx;
    const owner = store.sessions.get(observation.sessionId)?.owner;
    if (store.cluster && owner !== undefined && owner !== store.instanceId) {
      if (store.cluster.send(owner, { k: 'observation', ...observation })) return;
    }
    this.#ctx.events.emit('report', { ...observation, source: 'checker', atMs: this.#ctx.now() });
  }

  /** Sends a message to the player of a session, if connected (the meter's charge ticker). */
  notifyPlayer(sessionId: string, message: ServerMessage): void {
    const session = this.#ctx.store.sessions.get(sessionId);
    if (session) this.#ctx.peers.sendToPlayer(session, message);
  }

  // ---- metrics -----------------------------------------------------------------------------------------

  /**
   * Sets the state gauges (connections, sessions, hosts, slots, queue) from the current state. Called at
   * scrape time rather than on every change: counting over 10,000 hosts per lease would cost more than the
   * pick itself.
   */
  refreshGauges(): void {
    const { metrics, peers, store } = this.#ctx;
    const connections = { player: 0, host: 0, checker: 0, pending: 0 };
    for (const peer of peers.all()) connections[peer.role ?? 'pending'] += 1;
    for (const [role, count] of Object.entries(connections)) metrics.metric.wsConnections.set({ role }, count);

    const sessionCounts: Record<string, number> = { queued: 0, leased: 0, connecting: 0, streaming: 0 };
    for (const session of store.sessions.all()) {
      if (session.state in sessionCounts) sessionCounts[session.state] = (sessionCounts[session.state] ?? 0) + 1;
    }
    for (const [state, count] of Object.entries(sessionCounts)) metrics.metric.sessionsActive.set({ state }, count);

    const hostCounts = { up: 0, down: 0, draining: 0 };
    const slotCounts = { free: 0, leased: 0, busy: 0 };
    const quality = { min: Number.POSITIVE_INFINITY, sum: 0, max: Number.NEGATIVE_INFINITY, n: 0 };
    for (const host of store.hosts.all()) {
      hostCounts[host.state] += 1;
      if (host.state === 'down') continue;
      for (const slot of host.slots) slotCounts[slot.state] += 1;
      quality.min = Math.min(quality.min, host.qualityScore);
      quality.max = Math.max(quality.max, host.qualityScore);
      quality.sum += host.qualityScore;
      quality.n += 1;
    }
    // min / mean / max over live containers: one series each, however many containers there are.
    const score = metrics.metric.containerQualityScore;
    if (quality.n === 0) score.reset();
    else {
      score.set({ stat: 'min' }, quality.min);
      score.set({ stat: 'mean' }, quality.sum / quality.n);
      score.set({ stat: 'max' }, quality.max);
    }
    for (const [state, n] of Object.entries(hostCounts)) metrics.metric.hostsRegistered.set({ state }, n);
    for (const [state, n] of Object.entries(slotCounts)) metrics.metric.slotsTotal.set({ state }, n);
    metrics.metric.queueLength.set(store.queue.length);
  }
}
