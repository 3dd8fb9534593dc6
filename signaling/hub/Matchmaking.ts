/**
 * Matchmaking: a player's Play becomes a session; the player measures its RTT to the best candidates
 * (probe-request → probe-results), the best eligible host's free slot is leased, or the player waits in the
 * game's line until a slot frees. Ranking itself is `rankCandidates` (scoreCandidates.ts).
 */
import { randomBytes } from 'node:crypto';
import { addressHash } from '../admission/ipAddress.js';
import {
  type GeoPoint,
  greatCircleKm,
  locateFromProbes,
  locatePlayer,
  mergePrefixLocation,
  rttEstimateMs,
} from '../geo/geo.js';
import { iceServersField } from '../ice/issueIceServers.js';
import { AthError, isAthError, type PeerMessageOf, weiFromString } from '../protocol/index.js';
import { cellKeyOf, firstFreeSlot, type HostRecord } from '../store/HostRegistry.js';
import type { SharedAdmission } from '../store/SignalingStore.js';
import type { HubContext, MatchmakingPort } from './HubContext.js';
import { type PeerState, playerIdOf } from './PeerDirectory.js';
import type { MatchDecision, SessionRecord } from './SessionRecord.js';
import type { Sponsorship } from './Sponsorship.js';
import { type CandidateScore, rankCandidates } from './scoreCandidates.js';

/** A player's RTT to a host is trusted for this long, then measured again. */
const MEASUREMENT_TTL_MS = 10 * 60_000;
/** Places (1° cells) looked at around a located player: enough to cross a continent. */
const GEO_MAX_PLACES = 64;
/** Cells closer than this are one place (one metro area) when choosing whom to probe. */
const GEO_SAME_PLACE_KM = 150;
/** A lease looks at this many of the nearest places at a time (each up to a few thousand hosts). */
const GEO_LEASE_PLACES = 3;
/** Players behind someone who left the line hear their new place within this time. */
const QUEUE_POSITIONS_INTERVAL_MS = 500;

export class Matchmaking implements MatchmakingPort {
  readonly #ctx: HubContext;
  /** Sessions whose lease the (shared) store is deciding: not picked again meanwhile. */
  readonly #leasing = new Set<string>();
  /** Games whose line changed since positions were last sent, and what each player was last told. */
  readonly #dirtyLines = new Set<string>();
  readonly #sentPositions = new Map<string, Map<string, number>>();
  /**
   * Live sessions this instance runs, by the player's address key (a keyed hash of its IPv6 /64 or IPv4; at most
   * `admission.maxSessionsPerIp` each): the per-instance count, checked first.
   */
  readonly #liveByIp = new Map<string, Set<string>>();
  /** Of those, the sessions that hold a place in the network's count (`store.limits`, several instances). */
  readonly #sharedPlaces = new Set<string>();
  readonly #unsubscribe: Array<() => void>;
  #positionsTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(ctx: HubContext) {
    this.#ctx = ctx;
    this.#unsubscribe = [
      ctx.events.on('sessionEnded', (session) => this.#leftIp(session)),
      // A session that moved to another instance is counted there; one taken over here is counted here.
      ctx.events.on('sessionMoved', (session) => this.#leftIp(session)),
      ctx.events.on('sessionAdopted', (session) => this.#adoptedIp(session)),
    ];
  }

  #leftIp(session: SessionRecord): void {
    const key = session.playerAddressKey;
    const live = this.#liveByIp.get(key);
    live?.delete(session.id);
    if (live?.size === 0) this.#liveByIp.delete(key);
    if (this.#sharedPlaces.delete(session.id)) this.#ctx.store.limits?.release('sessions', key);
  }

  /** A session this instance took over holds its player's place here (beyond the limit: it was admitted before). */
  #adoptedIp(session: SessionRecord): void {
    const key = session.playerAddressKey;
    if (!key || session.state === 'ended') return;
    const live = this.#liveByIp.get(key) ?? new Set<string>();
    if (live.has(session.id)) return;
    live.add(session.id);
    this.#liveByIp.set(key, live);
    const limits = this.#ctx.store.limits;
    if (!limits || this.#sharedPlaces.has(session.id)) return;
    this.#sharedPlaces.add(session.id);
    void limits.acquire('sessions', key, Number.MAX_SAFE_INTEGER);
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
      const keepStream = message.keepStream === true;
      const cluster = store.cluster;
      if (cluster && session.owner !== store.instanceId) {
        // The player is here now (its signaling server went down, or a balancer sent it here): so is its session —
        // taken over from the owner this copy names, only. Refused, another instance took it over first (the same
        // player resuming on two instances at once: each adoption would claim the metering in the ledger, in an
        // order that need not be Redis's) or this copy is stale: the player is sent on (4010), as when its
        // session moved away; its client resumes at the next server, whose copy names the owner.
        cluster
          .claimSession(session.id, session.owner)
          .then(
            (claimed) => {
              if (!claimed) {
                if (session.owner === store.instanceId && session.state !== 'ended') {
                  // Taken over here meanwhile (this instance adopted the sessions of the one that went down).
                  this.#ctx.sessions.resume(peer, session, keepStream);
                  return;
                }
                this.#ctx.log.warn({ sessionId: session.id }, 'resume: another instance took the session over first');
                peer.handle.close(4010, 'session is run by another signaling server');
                return;
              }
              if (session.state !== 'ended') this.#ctx.sessions.resumeMoved(peer, session, keepStream);
            },
            (error: unknown) => {
              if (isAthError(error)) throw error;
              // The claim itself got no answer (this instance is cut off from Redis): the session cannot move here
              // now. The player is sent on (4010, as when its session moved away), its client resumes at the next
              // server. Only the claim's own failure does this: one after a claim that succeeded is replied below.
              this.#ctx.log.warn({ err: error, sessionId: session.id }, 'resume: session could not move here now');
              peer.handle.close(4010, 'session is run by another signaling server');
            },
          )
          .catch((error: unknown) => peers.replyError(peer, error, message));
        return;
      }
      this.#ctx.sessions.resume(peer, session, keepStream);
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
    // Anonymous player tokens are free: one address holds at most a few live sessions (each may start a game).
    const playerAddressKey = addressHash(settings.tokenSecret, peer.identity.remoteIp);
    const liveFromIp = this.#liveByIp.get(playerAddressKey) ?? new Set<string>();
    if (liveFromIp.size >= settings.admission.maxSessionsPerIp) {
      throw new AthError({
        code: 'ATH_ERR_RATE_LIMITED',
        shortMessage: `${liveFromIp.size} sessions from this address are live already: end one first`,
      });
    }
    // Billing networks: a player whose sessions keep ending unpaid (free play until each deadline) waits.
    this.#ctx.payment.admitPlay(peer);
    const session: SessionRecord = {
      id: sponsorship?.sessionId ?? `0x${randomBytes(32).toString('hex')}`,
      owner: store.instanceId,
      playerId,
      playerPeerId: peer.handle.id,
      playerAddressKey,
      game: message.game,
      codecs: [...message.codecs],
      ...(message.quality ? { quality: message.quality } : {}),
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
    // Where the player probably is: what its network's earlier probes taught, else its browser's time zone.
    const prefix = peer.identity.kind === 'player' ? peer.identity.networkPrefix : undefined;
    const location = locatePlayer(prefix ? store.prefixes.get(prefix) : undefined, message.timeZone);
    if (location) session.location = location;
    if (prefix) session.networkPrefix = prefix;
    store.sessions.put(session);
    store.sessions.setActive(playerId, session.id);
    liveFromIp.add(session.id);
    this.#liveByIp.set(playerAddressKey, liveFromIp);
    const limits = store.limits;
    if (!limits) {
      this.#match(session);
      return;
    }
    // Several instances: the address's live sessions on all of them count (an attacker spreads its Plays).
    const admitted = limits.acquire('sessions', playerAddressKey, settings.admission.maxSessionsPerIp);
    if (!(admitted instanceof Promise)) {
      this.#sharedAnswer(peer, message, session, admitted);
      return;
    }
    void admitted.then((verdict) => this.#sharedAnswer(peer, message, session, verdict));
  }

  /** The network's count answered for a new session: matching goes on, or the Play is refused. */
  #sharedAnswer(
    peer: PeerState,
    message: PeerMessageOf<'play'>,
    session: SessionRecord,
    verdict: SharedAdmission,
  ): void {
    const { store } = this.#ctx;
    if (verdict.admitted) {
      if (session.state === 'ended' || !store.sessions.get(session.id)) {
        // Ended (the player left) while the store answered: the place goes back.
        store.limits?.release('sessions', session.playerAddressKey);
        return;
      }
      this.#sharedPlaces.add(session.id);
      this.#match(session);
      return;
    }
    if (session.state !== 'requested') return;
    store.sessions.delete(session.id);
    store.sessions.clearActive(session.playerId, session.id);
    this.#leftIp(session);
    this.#ctx.peers.replyError(
      peer,
      new AthError({
        code: 'ATH_ERR_RATE_LIMITED',
        shortMessage: `${verdict.total} sessions from this address are live on this network already: end one first`,
      }),
      message,
    );
  }

  /** Measures (probes) or leases for a new session. */
  #match(session: SessionRecord): void {
    const { store, settings, peers } = this.#ctx;
    if (settings.probe.samples === 0) {
      this.#leaseOrQueue(session);
      return;
    }
    const candidates = this.#rank(session, settings.probe.maxCandidates, 'probe');
    const unmeasured = candidates.filter((candidate) => candidate.rttMs === null);
    if (candidates.length <= 1 || unmeasured.length === 0) {
      this.#leaseOrQueue(session);
      return;
    }
    // Measure on the player's own path before leasing: the browser probes each candidate's endpoint.
    session.probeHostIds = candidates.map((candidate) => candidate.hostId);
    store.sessions.put(session);
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
    this.#learnPrefix(
      session,
      message.results.filter((result) => session.probeHostIds.includes(result.hostId)),
      nowMs,
    );
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
   *
   * When the player's approximate location is known (`session.location`), only hosts near it are looked at:
   * for probing (`purpose: 'probe'`), the best hosts of the nearest places taken in turn (one place's best,
   * the next place's best, …), so that the few probes tell which place is nearest on the player's own path;
   * for a lease, the places that look nearest — by what the player measured there, else by distance —
   * a few at a time until one has a free slot. An unmeasured host's RTT is that of the place it is in.
   */
  #rank(session: SessionRecord, limit: number, purpose: 'probe' | 'lease' = 'lease'): CandidateScore[] {
    const { rttMsByHost, excluded } = this.#playerView(session.playerId);
    const hosts = this.#ctx.store.hosts;
    const weights = this.#ctx.settings.scoring;
    // The hosts that can take a session, in order of everything but their RTT: a pick reads the best few.
    const scale = hosts.rankingScale(session.game, weights);
    let measuredFloorMs = Number.POSITIVE_INFINITY;
    for (const rttMs of rttMsByHost.values()) if (rttMs < measuredFloorMs) measuredFloorMs = rttMs;
    const canServe = this.#canServe(session, excluded);
    const base = {
      ...hosts.maxima(session.game),
      eligible: (host: HostRecord) => host.freeSlots > 0 && canServe(host),
      rttMsByHost,
      weights,
    };
    const location = session.location;
    if (!location) {
      return rankCandidates({
        hosts: hosts.hostsServing(session.game),
        ...base,
        limit,
        ranked: {
          hosts: hosts.rankedHosts(session.game),
          scale,
          rttFloorMs: Math.min(weights.unknownRttMs, measuredFloorMs),
        },
      });
    }
    // What the player measured to a host stands for the whole place (1° cell) the host is in.
    const measuredByCell = new Map<number, number>();
    for (const [hostId, rttMs] of rttMsByHost) {
      const host = hosts.get(hostId);
      if (!host) continue;
      const key = cellKeyOf(host.region);
      measuredByCell.set(key, Math.min(rttMs, measuredByCell.get(key) ?? Number.POSITIVE_INFINITY));
    }
    const places = hosts.nearestCells(session.game, location, GEO_MAX_PLACES).map(({ cell, distanceKm }) => {
      const rttMs = measuredByCell.get(cellKeyOf(cell)) ?? rttEstimateMs(distanceKm);
      return { cell, rttMs };
    });
    const rankPlace = (place: (typeof places)[number], count: number) =>
      rankCandidates({
        hosts: place.cell.hosts,
        ...base,
        estimateRttMs: () => place.rttMs,
        limit: count,
        ranked: { hosts: place.cell.ranked, scale, rttFloorMs: Math.min(place.rttMs, measuredFloorMs) },
      });
    if (purpose === 'probe') {
      // One metro area can straddle several cells: the first round takes one host per distinct place (cells
      // more than GEO_SAME_PLACE_KM apart), so the probes compare places; later rounds fill up with the rest.
      const chosen: Array<{ cell: GeoPoint; list: CandidateScore[] }> = [];
      const spare: Array<{ cell: GeoPoint; list: CandidateScore[] }> = [];
      for (const place of places) {
        if (chosen.length >= limit) break;
        const list = rankPlace(place, limit);
        if (list.length === 0) continue;
        const near = chosen.some((other) => greatCircleKm(other.cell, place.cell) < GEO_SAME_PLACE_KM);
        (near ? spare : chosen).push({ cell: place.cell, list });
      }
      const lists = [...chosen, ...spare].map((entry) => entry.list);
      const picked: CandidateScore[] = [];
      for (let round = 0; picked.length < limit && lists.some((list) => list.length > round); round++) {
        for (const list of lists) {
          const candidate = list[round];
          if (candidate && picked.length < limit) picked.push(candidate);
        }
      }
      return picked;
    }
    places.sort((a, b) => a.rttMs - b.rttMs);
    for (let start = 0; start < places.length; start += GEO_LEASE_PLACES) {
      const found = places
        .slice(start, start + GEO_LEASE_PLACES)
        .flatMap((place) => rankPlace(place, limit))
        .sort((a, b) => a.score - b.score)
        .slice(0, limit);
      if (found.length > 0) return found;
    }
    return [];
  }

  /** Whether `host` may take `session`, slots aside: up, not drained, within its price cap and sponsorship. */
  #canServe(session: SessionRecord, excluded: ReadonlySet<string>): (host: HostRecord) => boolean {
    const maxPrice = session.maxPriceWeiPerSec;
    const sponsor = session.sponsorship;
    return (host) =>
      host.state === 'up' &&
      !host.drained &&
      host.peerId !== undefined &&
      (maxPrice === undefined || host.priceWeiPerSec <= maxPrice) &&
      (sponsor === undefined ||
        (host.providerAddress.toLowerCase() === sponsor.providerAddress.toLowerCase() &&
          host.priceWeiPerSec === sponsor.priceWeiPerSec)) &&
      !excluded.has(host.hostId);
  }

  /**
   * No free slot for `session`: a checker's probe holding a slot of a host that could serve it gives that slot up
   * (CheckerDesk.giveWayToWaitingPlayer) — a paying player never waits behind a check; the probe runs again after the
   * player's start-up, in the host's reserve if the slots stay busy. The nearest such host (measured, else estimated
   * from the player's location). True if a slot was freed.
   */
  #probeGivesWay(session: SessionRecord): boolean {
    const { store, checkers, settings } = this.#ctx;
    const { rttMsByHost, excluded } = this.#playerView(session.playerId);
    const canServe = this.#canServe(session, excluded);
    let chosen: string | undefined;
    let chosenRttMs = Number.POSITIVE_INFINITY;
    for (const hostId of checkers.hostsWithYieldableProbeSlot()) {
      const host = store.hosts.get(hostId);
      if (!host?.games.has(session.game) || !canServe(host)) continue;
      const rttMs =
        rttMsByHost.get(hostId) ??
        (session.location
          ? rttEstimateMs(greatCircleKm(session.location, host.region))
          : settings.scoring.unknownRttMs);
      if (chosen === undefined || rttMs < chosenRttMs) {
        chosen = hostId;
        chosenRttMs = rttMs;
      }
    }
    return chosen !== undefined && checkers.giveWayToWaitingPlayer(chosen, session.id);
  }

  /** What a probe round says about where its player's network is, kept for the next players there. */
  #learnPrefix(session: SessionRecord, results: PeerMessageOf<'probe-results'>['results'], nowMs: number): void {
    const prefix = session.networkPrefix;
    if (!prefix) return;
    const probes = results.flatMap(({ hostId, rttMs }) => {
      const host = rttMs === null ? undefined : this.#ctx.store.hosts.get(hostId);
      return host && rttMs !== null ? [{ lat: host.region.lat, lon: host.region.lon, rttMs }] : [];
    });
    const round = locateFromProbes(probes);
    if (!round) return;
    const { prefixes } = this.#ctx.store;
    prefixes.put(prefix, mergePrefixLocation(prefixes.get(prefix), round, nowMs));
  }

  // ---- leases and the queue ----------------------------------------------------------------------------

  /** Leases the best slot now, or puts the player in line (or refuses, if they asked not to wait). */
  #leaseOrQueue(session: SessionRecord, probeMayGiveWay = true): void {
    if (session.state !== 'requested' || this.#leasing.has(session.id)) return;
    this.#ctx.timers.clear(session.id, 'lease');
    const attempt = this.#tryLease(session);
    const noSlot = () => {
      if (session.state !== 'requested') return;
      if (probeMayGiveWay && this.#probeGivesWay(session)) this.#leaseOrQueue(session, false);
      else this.#queueOrRefuse(session);
    };
    if (attempt === true) return;
    if (attempt === false) {
      noSlot();
      return;
    }
    void attempt.then((leased) => {
      if (!leased) noSlot();
    });
  }

  #queueOrRefuse(session: SessionRecord): void {
    const { store } = this.#ctx;
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
      this.#leftIp(session);
      return;
    }
    session.queuedAtMs = this.#ctx.now();
    this.#ctx.sessions.setState(session, 'queued');
    this.sendQueuePosition(session);
  }

  /**
   * Ranks and leases the best candidate's free slot. The embedded store decides at once (no await between
   * check and lease); a shared store decides in the store (atomically across instances), and a slot another
   * instance took meanwhile sends the pick to the next candidate.
   */
  #tryLease(session: SessionRecord, attemptsLeft = 3): boolean | Promise<boolean> {
    const { store, metrics, settings } = this.#ctx;
    const startedNs = process.hrtime.bigint();
    const candidates = this.#rank(session, settings.probe.maxCandidates);
    const best = candidates[0];
    const host = best ? store.hosts.get(best.hostId) : undefined;
    const slot = host ? firstFreeSlot(host) : undefined;
    const pickMicros = Number(process.hrtime.bigint() - startedNs) / 1000;
    metrics.metric.matchPickSeconds.observe(pickMicros / 1e6);
    if (!host?.peerId || slot === undefined) return false;
    const decision: MatchDecision = { candidates, chosenHostId: host.hostId, decidedAtMs: this.#ctx.now(), pickMicros };
    const leased = store.hosts.tryLease(host.hostId, slot, session.id);
    if (typeof leased === 'boolean') {
      if (leased) this.#leased(session, host, slot, decision);
      return leased;
    }
    this.#leasing.add(session.id);
    return leased.then(
      (won) => {
        this.#leasing.delete(session.id);
        const waiting = session.state === 'requested' || session.state === 'queued';
        if (won && !waiting) {
          // Ended (or served) while the store decided: give the slot back.
          store.hosts.release(host.hostId, slot, session.id);
          return false;
        }
        if (won) {
          this.#leased(session, host, slot, decision);
          return true;
        }
        return waiting && attemptsLeft > 1 ? this.#tryLease(session, attemptsLeft - 1) : false;
      },
      (error: unknown) => {
        this.#leasing.delete(session.id);
        this.#ctx.log.error({ err: error, sessionId: session.id }, 'lease failed in the store');
        return false;
      },
    );
  }

  #leased(session: SessionRecord, host: HostRecord, slot: number, decision: MatchDecision): void {
    const { store, metrics, settings } = this.#ctx;
    session.decision = decision;
    if (session.queuedAtMs !== undefined) {
      store.queue.remove(session.game, session.id);
      metrics.metric.queueWaitSeconds.observe((this.#ctx.now() - session.queuedAtMs) / 1000);
      this.#positionsChanged(session.game);
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
    // A checker's probe running on the host yields to the newcomer (its first seconds are its own): the host is told
    // to stop the probe before it is told to start the player.
    this.#ctx.checkers.playerSessionStarting(host.hostId, session.id);
    if (host.peerId) {
      this.#ctx.peers.send(host.peerId, {
        type: 'start-session',
        sessionId: session.id,
        slot,
        game: session.game,
        codecs: session.codecs,
        ...(session.quality ? { quality: session.quality } : {}),
        resume: false,
        ...iceServersField(settings.ice, session.id, this.#ctx.now()),
      });
    }
  }

  serveQueue(): void {
    const { store } = this.#ctx;
    for (const game of [...store.queue.games()]) this.#serveLine(game);
    this.#ctx.metrics.metric.queueLength.set(store.queue.length);
  }

  /** Leases free slots to the head of a game's line until one cannot be served (first come, first served). */
  #serveLine(game: string): void {
    const { store } = this.#ctx;
    for (;;) {
      const sessionId = store.queue.first(game);
      if (sessionId === undefined || this.#leasing.has(sessionId)) return;
      const session = store.sessions.get(sessionId);
      if (session?.state !== 'queued') {
        store.queue.remove(game, sessionId);
        this.#positionsChanged(game);
        continue;
      }
      // The head of the line belongs to another live instance: that one serves it (it hears of the capacity).
      if (session.owner !== store.instanceId && store.cluster?.isAlive(session.owner)) return;
      const attempt = this.#tryLease(session);
      if (attempt === false) {
        // The head of the line waits only if no probe holds a slot it could have (each probe gives way once here).
        if (this.#probeGivesWay(session)) continue;
        return;
      }
      if (attempt !== true) {
        void attempt.then((leased) => {
          if (leased) this.#serveLine(game);
        });
        return;
      }
    }
  }

  /** Tells one waiting player its place in line. */
  sendQueuePosition(session: SessionRecord): void {
    const position = this.#ctx.store.queue.position(session.game, session.id);
    if (position === undefined) return;
    let sent = this.#sentPositions.get(session.game);
    if (!sent) {
      sent = new Map();
      this.#sentPositions.set(session.game, sent);
    }
    sent.set(session.id, position);
    this.#ctx.peers.sendToPlayer(session, { type: 'queued', sessionId: session.id, game: session.game, position });
    this.#ctx.metrics.metric.queueLength.set(this.#ctx.store.queue.length);
  }

  /**
   * Someone left a game's line: the players behind moved up. They hear their new place within
   * QUEUE_POSITIONS_INTERVAL_MS, in one pass over the line, so that a change costs O(log n) and not a message
   * to every waiting player.
   */
  #positionsChanged(game: string): void {
    this.#dirtyLines.add(game);
    if (this.#positionsTimer || this.#closed) return;
    this.#positionsTimer = setTimeout(() => this.#flushPositions(), QUEUE_POSITIONS_INTERVAL_MS);
    this.#positionsTimer.unref();
  }

  #flushPositions(): void {
    this.#positionsTimer = undefined;
    const { store, peers } = this.#ctx;
    for (const game of this.#dirtyLines) {
      const before = this.#sentPositions.get(game);
      const sent = new Map<string, number>();
      let position = 0;
      for (const sessionId of store.queue.waiting(game)) {
        position += 1;
        sent.set(sessionId, position);
        if (before?.get(sessionId) === position) continue;
        const session = store.sessions.get(sessionId);
        if (session) peers.sendToPlayer(session, { type: 'queued', sessionId, game, position });
      }
      if (sent.size > 0) this.#sentPositions.set(game, sent);
      else this.#sentPositions.delete(game);
    }
    this.#dirtyLines.clear();
    this.#ctx.metrics.metric.queueLength.set(store.queue.length);
  }

  /** A queued session ended: the players behind it move up. */
  leftQueue(game: string): void {
    this.#positionsChanged(game);
  }

  close(): void {
    this.#closed = true;
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    clearTimeout(this.#positionsTimer);
  }
}
