/**
 * The render host's control side: keeps one signaling connection (`/ws/node`), proves its provider
 * wallet at registration, heartbeats every interval with load and slot states, and runs one stream
 * session per leased slot — the heavy work of each session lives in its own worker (render-host/session).
 * If signaling goes away the host stops its sessions (signaling has ended them as host-lost) and
 * reconnects with backoff.
 *
 * Checkers measure what players get: to this host a checker's probe is a player's session like any other
 * (signaling sends the same `start-session`), so there is nothing here that serves checks differently. Beyond its
 * `slots` the host keeps a probe reserve (`probeReserve`, declared at registration; signaling admits no host
 * without it): the one more session signaling starts there, as slot number `slots`, is a checker's probe of a host
 * whose every slot is busy — it is served like the others.
 */
import os from 'node:os';
import type { Logger } from 'pino';
import type { LocalAccount } from 'viem';
import type { Metrics, RenderHostMetricKey } from '../../metrics/index.js';
import { NodeSignalingLink } from '../../signaling/link/NodeSignalingLink.js';
import {
  boundHostId,
  type EndReasonName,
  type GameInfoRecord,
  hostRegistrationMessage,
  isAthError,
  type PeerMessage,
  type RegionInfo,
  type ServerMessage,
  type ServerMessageOf,
  type SlotStateName,
  signDeliveryReceipt,
  weiToString,
} from '../../signaling/protocol/index.js';
import type { SessionDriver, SessionDriverEvents, SessionDriverFactory, SessionStatsView } from './SessionDriver.js';

export type RenderHostParameters = {
  hostId: string;
  /** Signaling's `/ws/node`, or that of each server of one network (tried in turn on reconnects). */
  signalingNodeUrl: string | readonly string[];
  /** A PEM certificate to trust for a wss signaling URL beside the system's CAs. */
  signalingCa?: string;
  provider: LocalAccount;
  region: RegionInfo;
  gpu: string;
  encoder: 'nvenc' | 'x264';
  slots: number;
  /** Probe sessions taken beyond `slots` (0 or 1; signaling requires 1). Default 1. */
  probeReserve?: number;
  priceWeiPerSec: bigint;
  games: readonly GameInfoRecord[];
  endpoints: { probeUrl: string; metricsUrl: string };
  heartbeatIntervalMs: number;
  sessions: SessionDriverFactory;
  metrics: Metrics<RenderHostMetricKey>;
  log: Logger;
  /**
   * How long sessions keep streaming while signaling is unreachable (peer to peer, the media does not need
   * it): a signaling server that went down is replaced by another within this time, and the sessions go on.
   * Default 15 s.
   */
  signalingLossGraceMs?: number;
};

const DEFAULT_SIGNALING_LOSS_GRACE_MS = 15_000;

type Slot = { index: number; state: SlotStateName; sessionId: string | undefined; driver: SessionDriver | undefined };

type RenderHostEvents = { registered: []; disconnected: [] };

export class RenderHost {
  readonly #params: RenderHostParameters;
  readonly #log: Logger;
  readonly #slots: Slot[];
  readonly #link: NodeSignalingLink;
  #registered = false;
  /** Receipts are numbered across sessions: one counter, never reused while this host runs. */
  #receiptSeq = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  /** Ends the sessions if signaling stays away longer than the grace. */
  #lostSignaling: NodeJS.Timeout | undefined;
  #closed = false;
  /** Rejects `start()` when the very first registration is refused (bad key, duplicate host id). */
  readonly #listeners: { [K in keyof RenderHostEvents]: Set<(...args: RenderHostEvents[K]) => void> } = {
    registered: new Set(),
    disconnected: new Set(),
  };

  constructor(params: RenderHostParameters) {
    this.#params = params;
    this.#log = params.log.child({
      mod: 'render-host/host',
      hostId: boundHostId(params.hostId, params.provider.address),
    });
    this.#link = new NodeSignalingLink({
      url: params.signalingNodeUrl,
      ...(params.signalingCa ? { ca: params.signalingCa } : {}),
      hello: { role: 'host', agent: 'ath-edge render-host' },
      log: this.#log,
      onMessage: (message) => this.#onMessage(message),
      onDisconnected: (code) => this.#onDisconnected(code),
    });
    this.#slots = Array.from({ length: params.slots + this.#probeReserve }, (_, index) => ({
      index,
      state: 'free',
      sessionId: undefined,
      driver: undefined,
    }));
    this.#updateSlotGauge();
  }

  get #probeReserve(): number {
    return this.#params.probeReserve ?? 1;
  }

  get registered(): boolean {
    return this.#registered;
  }

  /** The id signaling knows this host by (its name bound to the provider's address), once registered. */
  get hostId(): string {
    return boundHostId(this.#params.hostId, this.#params.provider.address);
  }

  get busySlots(): number {
    return this.#slots.filter((slot) => slot.state !== 'free').length;
  }

  /** Slots with their sessions and the sessions' latest stream stats (`GET /sessions`). */
  slotsView(): Array<{ slot: number; state: SlotStateName; sessionId: string | null; stats: SessionStatsView | null }> {
    return this.#slots.map((slot) => ({
      slot: slot.index,
      state: slot.state,
      sessionId: slot.sessionId ?? null,
      stats: slot.driver?.stats() ?? null,
    }));
  }

  get slotCount(): number {
    return this.#slots.length;
  }

  on<K extends keyof RenderHostEvents>(event: K, listener: (...args: RenderHostEvents[K]) => void): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  /** Connects and resolves once registered (rejects if the first registration is refused). */
  start(): Promise<void> {
    return this.#link.start();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#registered = false;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#lostSignaling);
    await Promise.all(this.#slots.map((slot) => this.#stopSlot(slot, 'host-stopped')));
    this.#link.close(1000, 'host shutting down');
  }

  // ---- signaling connection ----------------------------------------------------------------------------

  #onDisconnected(code: number): void {
    const wasRegistered = this.#registered;
    this.#registered = false;
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    const graceMs = this.#params.signalingLossGraceMs ?? DEFAULT_SIGNALING_LOSS_GRACE_MS;
    this.#log.warn({ code, wasRegistered, graceMs }, 'signaling lost: sessions go on for the grace');
    // The streams are peer to peer: they go on while this host reconnects (to the same signaling server or
    // another of its network). Back in time, signaling tells it which sessions ended meanwhile (`stop-session`
    // after the first heartbeat); not back in time, they end here.
    if (!this.#lostSignaling) {
      this.#lostSignaling = setTimeout(() => {
        this.#lostSignaling = undefined;
        if (this.#registered) return;
        this.#log.warn({ graceMs }, 'signaling still unreachable: ending this host’s sessions');
        for (const slot of this.#slots) void this.#stopSlot(slot, 'host-lost');
      }, graceMs);
      this.#lostSignaling.unref();
    }
    for (const listener of this.#listeners.disconnected) listener();
  }

  #send(message: PeerMessage): void {
    this.#link.send(message);
  }

  /**
   * A session's `host-report` with its delivery receipt: the same figures signed with the provider key (issue 14),
   * so what this host claims about a session is evidence. Reports of one session leave in order (`seq`).
   */
  async #sendReport(
    slot: Slot,
    sessionId: string,
    report: Parameters<SessionDriverEvents['report']>[0],
  ): Promise<void> {
    const seq = ++this.#receiptSeq;
    try {
      const receipt = await signDeliveryReceipt({
        account: this.#params.provider,
        report: { sessionId, ...report },
        seq,
        timestampMs: Date.now(),
      });
      if (slot.sessionId !== sessionId) return;
      this.#send({ type: 'host-report', sessionId, ...report, receipt });
    } catch (error) {
      this.#log.error({ err: error, sessionId }, 'delivery receipt not signed: report not sent');
    }
  }

  async #onMessage(message: ServerMessage): Promise<void> {
    switch (message.type) {
      case 'welcome':
        await this.#register(message.nonce);
        return;
      case 'registered':
        this.#onRegistered();
        return;
      case 'start-session':
        await this.#startSession(message);
        return;
      case 'answer':
        await this.#slotFor(message.sessionId)?.driver?.acceptAnswer(message.sdp);
        return;
      case 'ice':
        await this.#slotFor(message.sessionId)?.driver?.addIceCandidate(message.candidate);
        return;
      case 'input':
        this.#slotFor(message.sessionId)?.driver?.relayInput(Buffer.from(message.data, 'base64'));
        return;
      case 'stop-session': {
        const slot = this.#slotFor(message.sessionId);
        if (slot) await this.#stopSlot(slot, message.reason);
        return;
      }
      case 'error':
        this.#log.warn({ code: message.code, ref: message.ref, msg: message.message }, 'signaling refused a message');
        if (!this.#registered && message.ref === 'register') {
          this.#link.refusedAtStart(new Error(`registration refused: ${message.code} ${message.message}`));
        }
        return;
      default:
        this.#log.debug({ type: message.type }, 'message not for hosts ignored');
    }
  }

  async #register(nonce: string): Promise<void> {
    const p = this.#params;
    this.#send({
      type: 'register',
      hostId: this.hostId,
      providerAddress: p.provider.address,
      signature: await p.provider.signMessage({ message: hostRegistrationMessage(this.hostId, nonce) }),
      region: p.region,
      gpu: p.gpu,
      encoder: p.encoder,
      games: [...p.games],
      slots: p.slots,
      probeReserve: this.#probeReserve,
      priceWeiPerSec: weiToString(p.priceWeiPerSec),
      endpoints: p.endpoints,
    });
  }

  #onRegistered(): void {
    this.#registered = true;
    clearTimeout(this.#lostSignaling);
    this.#lostSignaling = undefined;
    this.#link.accepted();
    this.#log.info({ slots: this.#slots.length, games: this.#params.games.map((g) => g.id) }, 'registered');
    clearInterval(this.#heartbeat);
    this.#sendHeartbeat();
    this.#heartbeat = setInterval(() => this.#sendHeartbeat(), this.#params.heartbeatIntervalMs);
    for (const listener of this.#listeners.registered) listener();
  }

  #sendHeartbeat(): void {
    // Of its slots for sale (a probe in the reserve can make it more than 1: capped below).
    const busyShare = this.busySlots / this.#params.slots;
    const cpuShare = (os.loadavg()[0] ?? 0) / os.availableParallelism();
    this.#send({
      type: 'heartbeat',
      load: Math.min(1, Math.max(busyShare, cpuShare)),
      slots: this.#slots.map((slot) => ({
        slot: slot.index,
        state: slot.state,
        ...(slot.sessionId ? { sessionId: slot.sessionId } : {}),
      })),
    });
  }

  // ---- sessions ----------------------------------------------------------------------------------------

  #slotFor(sessionId: string): Slot | undefined {
    return this.#slots.find((slot) => slot.sessionId === sessionId);
  }

  async #startSession(message: ServerMessageOf<'start-session'>): Promise<void> {
    const existing = this.#slotFor(message.sessionId);
    if (existing?.driver && message.resume) {
      this.#log.info({ sessionId: message.sessionId }, 'player reconnected; renegotiating');
      // With the TURN credentials signaling issued for the resume: the first ones may have expired since.
      await existing.driver.restartTransport(message.codecs, message.iceServers);
      return;
    }
    const slot = this.#slots[message.slot];
    if (slot?.state !== 'free') {
      this.#log.warn({ sessionId: message.sessionId, slot: message.slot }, 'start-session for a slot that is not free');
      this.#send({
        type: 'host-session-ended',
        sessionId: message.sessionId,
        reason: 'error',
        message: 'The render host had no free slot for this session.',
      });
      return;
    }
    const game = this.#params.games.find((g) => g.id === message.game);
    if (!game) {
      this.#send({
        type: 'host-session-ended',
        sessionId: message.sessionId,
        reason: 'error',
        message: `This render host does not serve ${message.game}.`,
      });
      return;
    }
    slot.state = 'leased';
    slot.sessionId = message.sessionId;
    this.#updateSlotGauge();
    const sessionId = message.sessionId;
    const startedAtMs = performance.now();
    this.#log.info({ sessionId, slot: slot.index, game: game.id }, 'session starting');
    try {
      const driver = await this.#params.sessions({
        sessionId,
        game,
        codecs: message.codecs,
        ...(message.quality ? { quality: message.quality } : {}),
        ...(message.iceServers ? { iceServers: message.iceServers } : {}),
        events: {
          offer: (sdp) => this.#send({ type: 'offer', sessionId, sdp }),
          ice: (candidate) => this.#send({ type: 'ice', sessionId, candidate }),
          connected: () => {
            if (slot.sessionId !== sessionId) return;
            slot.state = 'busy';
            this.#updateSlotGauge();
            this.#send({ type: 'session-started', sessionId });
            this.#log.info(
              { sessionId, setupMs: Math.round(performance.now() - startedAtMs) },
              'session streaming (start-session → first frame sent)',
            );
          },
          report: (report) => void this.#sendReport(slot, sessionId, report),
          ended: (reason, text) => {
            if (slot.sessionId !== sessionId) return;
            this.#send({ type: 'host-session-ended', sessionId, reason, message: text });
            void this.#stopSlot(slot, reason);
          },
        },
      });
      if (slot.sessionId !== sessionId) {
        await driver.close('host-stopped');
        return;
      }
      slot.driver = driver;
    } catch (error) {
      this.#log.error({ err: error, sessionId }, 'session failed to start');
      // The code tells the player (and support) which part failed: a game that crashed, never drew, …
      const code = isAthError(error) ? error.code : undefined;
      this.#send({
        type: 'host-session-ended',
        sessionId,
        reason: code === 'ATH_ERR_GAME_CRASHED' ? 'game-crashed' : 'error',
        message: `The render host could not start the game${code ? ` (${code})` : ''}.`,
      });
      this.#freeSlot(slot, sessionId);
    }
  }

  async #stopSlot(slot: Slot, reason: EndReasonName): Promise<void> {
    const { sessionId, driver } = slot;
    if (!sessionId) return;
    this.#freeSlot(slot, sessionId);
    if (driver) {
      try {
        await driver.close(reason);
      } catch (error) {
        this.#log.error({ err: error, sessionId }, 'session close failed');
      }
    }
    if (this.#registered) this.#sendHeartbeat();
  }

  #freeSlot(slot: Slot, sessionId: string): void {
    if (slot.sessionId !== sessionId) return;
    slot.state = 'free';
    slot.sessionId = undefined;
    slot.driver = undefined;
    this.#updateSlotGauge();
  }

  #updateSlotGauge(): void {
    const counts = { free: 0, leased: 0, busy: 0 };
    for (const slot of this.#slots) counts[slot.state] += 1;
    for (const [state, n] of Object.entries(counts)) this.#params.metrics.metric.hostSlots.set({ state }, n);
  }
}
