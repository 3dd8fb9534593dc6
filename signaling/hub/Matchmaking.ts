/**
 * Matchmaking: a player's Play becomes a session; the player measures its RTT to the best candidates
 * (probe-request → probe-results), the best eligible host's free slot is leased, or the player waits in the
 * game's line until a slot frees. Ranking itself is `rankCandidates` (scoreCandidates.ts).
 */
import { randomBytes } from 'node:crypto';
import { AthError, type PeerMessageOf, weiFromString } from '../protocol/index.js';
import { firstFreeSlot } from '../store/HostRegistry.js';
import type { HubContext, MatchmakingPort } from './HubContext.js';
import { type PeerState, playerIdOf } from './PeerDirectory.js';
import type { SessionRecord } from './SessionRecord.js';
import type { Sponsorship } from './Sponsorship.js';
import { type CandidateScore, rankCandidates } from './scoreCandidates.js';

/** A player's RTT to a host is trusted for this long, then measured again. */
const MEASUREMENT_TTL_MS = 10 * 60_000;

export class Matchmaking implements MatchmakingPort {
  readonly #ctx: HubContext;

  constructor(ctx: HubContext) {
    this.#ctx = ctx;
  }

  // ---- Play --------------------------------------------------------------------------------------------

  play(peer: PeerState, message: PeerMessageOf<'play'>, sponsorship?: Sponsorship): void {
    const { store, settings, peers } = this.#ctx;
    const playerId = playerIdOf(peer);
    if (message.playToken !== undefined && !message.resumeSessionId && !sponsorship) {
      this.#ctx.payment.admitPlayToken(peer, message);
      return;
    }
    const activeId = store.sessions.activeOf(playerId);
    const active = activeId ? store.sessions.get(activeId) : undefined;
    if (message.resumeSessionId) {
      const session = store.sessions.get(message.resumeSessionId);
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
      this.#ctx.sessions.resume(peer, session);
      return;
    }
    if (active && active.state !== 'ended') {
      if (active.playerPeerId && active.playerPeerId !== peer.handle.id && peers.has(active.playerPeerId)) {
        throw new AthError({ code: 'ATH_ERR_ALREADY_PLAYING', shortMessage: 'you already have a session open' });
      }
      // The old connection is gone: the new Play replaces the abandoned session.
      this.#ctx.sessions.end(active, 'player-left');
    }
    if (!store.hosts.hostsServing(message.game).size) {
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
      createdAtMs: this.#ctx.now(),
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
    };
    if (sponsorship) session.sponsorship = sponsorship;
    store.sessions.put(session);
    store.sessions.setActive(playerId, session.id);
    if (settings.probe.samples === 0) {
      this.#leaseOrQueue(session);
      return;
    }
    const candidates = this.#rank(session, settings.probe.maxCandidates);
    const unmeasured = candidates.filter((candidate) => candidate.rttMs === null);
    if (candidates.length <= 1 || unmeasured.length === 0) {
      this.#leaseOrQueue(session);
      return;
    }
    // Measure on the player's own path before leasing: the browser probes each candidate's endpoint.
    session.probeHostIds = candidates.map((candidate) => candidate.hostId);
    peers.sendToPlayer(session, {
      type: 'probe-request',
      sessionId: session.id,
      candidates: candidates.flatMap((candidate) => {
        const host = store.hosts.get(candidate.hostId);
        return host ? [{ hostId: host.hostId, probeUrl: host.endpoints.probeUrl }] : [];
      }),
      samples: settings.probe.samples,
      timeoutMs: settings.probe.timeoutMs,
    });
    // Results that never come (a closed tab, a stuck browser) must not hold the player forever.
    this.#ctx.timers.set(session.id, 'lease', settings.probe.timeoutMs * 2 + 1_000, () => this.#leaseOrQueue(session));
  }

  onProbeResults(peer: PeerState, message: PeerMessageOf<'probe-results'>): void {
    const session = this.#ctx.sessions.playerSession(peer, message.sessionId);
    if (session.state !== 'requested') return;
    const nowMs = this.#ctx.now();
    for (const { hostId, rttMs } of message.results) {
      if (!session.probeHostIds.includes(hostId)) continue;
      this.#ctx.store.measurements.remember(session.playerId, hostId, { rttMs, atMs: nowMs });
      const host = this.#ctx.store.hosts.get(hostId);
      if (host && rttMs !== null) {
        this.#ctx.metrics.metric.playerRttSeconds.observe({ region: host.region.country }, rttMs / 1000);
      }
    }
    this.#leaseOrQueue(session);
  }

  // ---- ranking -----------------------------------------------------------------------------------------

  /** Fresh measurements of this player: RTT by host, and hosts found unreachable or implausibly far. */
  #playerView(playerId: string): { rttMsByHost: Map<string, number>; excluded: Set<string> } {
    const rttMsByHost = new Map<string, number>();
    const excluded = new Set<string>();
    const cutoff = this.#ctx.now() - MEASUREMENT_TTL_MS;
    for (const [hostId, { rttMs, atMs }] of this.#ctx.store.measurements.of(playerId)) {
      if (atMs < cutoff) continue;
      if (rttMs === null || rttMs > this.#ctx.settings.probe.maxPlausibleRttMs) excluded.add(hostId);
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
    const hosts = this.#ctx.store.hosts;
    return rankCandidates({
      hosts: hosts.hostsServing(session.game),
      ...hosts.maxima(session.game),
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
      weights: this.#ctx.settings.scoring,
      limit,
    });
  }

  // ---- leases and the queue ----------------------------------------------------------------------------

  /** Leases the best slot now, or puts the player in line (or refuses, if they asked not to wait). */
  #leaseOrQueue(session: SessionRecord): void {
    if (session.state !== 'requested') return;
    const { store, timers } = this.#ctx;
    timers.clear(session.id, 'lease');
    if (this.#tryLease(session)) return;
    if (!session.queueIfBusy) {
      this.#ctx.peers.sendToPlayer(session, {
        type: 'error',
        code: 'ATH_ERR_NO_FREE_SLOT',
        message: `no free slot for \`${session.game}\` right now: try again in a moment`,
        ref: 'play',
        sessionId: session.id,
      });
      store.sessions.delete(session.id);
      store.sessions.clearActive(session.playerId, session.id);
      return;
    }
    session.queuedAtMs = this.#ctx.now();
    this.#ctx.sessions.setState(session, 'queued');
    this.sendQueuePositions(session.game);
  }

  /** Ranks and leases synchronously (no await between check and lease: no double booking). */
  #tryLease(session: SessionRecord): boolean {
    const { store, metrics, settings } = this.#ctx;
    const startedNs = process.hrtime.bigint();
    const candidates = this.#rank(session, settings.probe.maxCandidates);
    const best = candidates[0];
    const host = best ? store.hosts.get(best.hostId) : undefined;
    const slot = host ? firstFreeSlot(host) : undefined;
    const pickMicros = Number(process.hrtime.bigint() - startedNs) / 1000;
    metrics.metric.matchPickSeconds.observe(pickMicros / 1e6);
    if (!host?.peerId || slot === undefined) return false;
    store.hosts.lease(host, slot, session.id);
    session.decision = { candidates, chosenHostId: host.hostId, decidedAtMs: this.#ctx.now(), pickMicros };
    if (session.queuedAtMs !== undefined) {
      store.queue.remove(session.game, session.id);
      metrics.metric.queueWaitSeconds.observe((this.#ctx.now() - session.queuedAtMs) / 1000);
    }
    session.hostId = host.hostId;
    session.slot = slot;
    session.priceWeiPerSec = host.priceWeiPerSec;
    session.leasedAtMs = this.#ctx.now();
    this.#ctx.sessions.setState(session, 'leased');
    this.#ctx.timers.set(session.id, 'lease', settings.leaseTtlMs, () =>
      this.#ctx.sessions.end(session, 'connect-timeout'),
    );
    this.#ctx.sessions.sendAssigned(session, false);
    this.#ctx.payment.leased(session, host);
    this.#ctx.peers.send(host.peerId, {
      type: 'start-session',
      sessionId: session.id,
      slot,
      game: session.game,
      codecs: session.codecs,
      resume: false,
    });
    return true;
  }

  serveQueue(): void {
    const { store } = this.#ctx;
    for (const game of [...store.queue.games()]) {
      for (const sessionId of [...store.queue.waiting(game)]) {
        const session = store.sessions.get(sessionId);
        if (session?.state !== 'queued') {
          store.queue.remove(game, sessionId);
          continue;
        }
        if (!this.#tryLease(session)) break;
      }
      this.sendQueuePositions(game);
    }
    this.#ctx.metrics.metric.queueLength.set(store.queue.length);
  }

  sendQueuePositions(game: string): void {
    const { store, peers } = this.#ctx;
    let position = 0;
    for (const sessionId of store.queue.waiting(game)) {
      position += 1;
      const session = store.sessions.get(sessionId);
      if (session) peers.sendToPlayer(session, { type: 'queued', sessionId, game, position });
    }
    this.#ctx.metrics.metric.queueLength.set(store.queue.length);
  }
}
