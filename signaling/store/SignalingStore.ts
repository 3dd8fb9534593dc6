/**
 * The indexer's shared state, beneath the hub's modules: hosts and their slots, sessions, each player's
 * active session, the per-game queues and the players' RTT measurements. The hub's modules read and change
 * state only through this interface; `MemorySignalingStore` is the embedded implementation (one process).
 *
 * What is not here is per instance by nature: open sockets (`PeerDirectory`) and timers (`SessionTimers`).
 */

import type { RateSettings } from '../admission/TokenBucket.js';
import type { GeoPoint, PrefixLocation } from '../geo/geo.js';
import type { SessionRecord } from '../hub/SessionRecord.js';
import type { ClusterDirectMessage } from '../protocol/cluster.js';
import type { GameInfoRecord } from '../protocol/index.js';
import type { ProviderDrain } from '../trust/DrainStore.js';
import type { GeoCell, HostRecord, RegisterHostParameters } from './HostRegistry.js';
import type { RankedHosts, RankingScale, StaticWeights } from './RankedHosts.js';

/** The fields of a host record that change after registration (besides slots, load and stake). */
export type HostPatch = Partial<
  Pick<
    HostRecord,
    | 'state'
    | 'downSinceMs'
    | 'peerId'
    | 'qualityScore'
    | 'failedVerdictsInARow'
    | 'drained'
    | 'drainReason'
    | 'stakeShortfall'
  >
>;

/**
 * Hosts and their slots. Reads are synchronous (a pick ranks thousands of hosts); a change goes through a
 * method, never by assigning a record's field, so that a shared store can pass it on.
 */
export type HostStore = {
  readonly size: number;
  get(hostId: string): HostRecord | undefined;
  all(): IterableIterator<HostRecord>;
  hostsServing(game: string): ReadonlySet<HostRecord>;
  /** A game's hosts grouped by 1° cell, the cells nearest a point first (preselection by distance). */
  nearestCells(game: string, point: GeoPoint, count: number): Array<{ cell: GeoCell; distanceKm: number }>;
  /** A provider's hosts (any state). */
  hostsOf(providerAddress: string): ReadonlySet<HostRecord>;
  /** Slots registered by a provider's hosts that are not down (its stake tier limits them). */
  providerSlots(providerAddress: string, exceptHostId?: string): number;
  /** The price and stake scale of a game's hosts. */
  maxima(game: string): { maxPriceWei: bigint; maxStakeWei: bigint };
  /**
   * The scale a game's hosts are kept in order by for these weights (`RankedHosts`: the game's, and each
   * cell's `ranked`), rebuilding the order first if the weights or the game's maxima changed.
   */
  rankingScale(game: string, weights: StaticWeights): RankingScale;
  /** A game's hosts that can take a session, in order (after `rankingScale`). */
  rankedHosts(game: string): RankedHosts | undefined;
  /** Every game some up host serves, with the host's description of it. */
  games(): Map<string, { info: GameInfoRecord; hostsUp: number; freeSlots: number }>;
  /** Adds a host or re-attaches a known one (same id, after a reconnect): its leases stay. */
  register(params: RegisterHostParameters): HostRecord;
  remove(hostId: string): void;
  update(hostId: string, patch: HostPatch): void;
  setStake(hostId: string, stakeWei: bigint): void;
  heartbeat(hostId: string, load: number, nowMs: number): void;
  /** Hosts whose last heartbeat is older than `deadlineMs` (not yet down). */
  overdue(nowMs: number, deadlineMs: number): HostRecord[];
  /** Hosts down for longer than `ttlMs` (to be forgotten). */
  expired(nowMs: number, ttlMs: number): HostRecord[];
  /**
   * Leases a free slot to a session, atomically: false when it is not free (any more). The embedded store
   * answers at once; a shared one answers after the store decided (never two sessions on one slot).
   */
  tryLease(hostId: string, slot: number, sessionId: string): boolean | Promise<boolean>;
  /** The session on a leased slot started streaming: the slot is busy. */
  confirm(hostId: string, slot: number, sessionId: string): void;
  /** Frees the slot if (and only if) it is still held by this session. */
  release(hostId: string, slot: number, sessionId: string): boolean;
  /** Frees every slot of a host (it went down); returns the sessions that held them. */
  releaseAll(hostId: string): string[];
};

export type SessionStore = {
  get(sessionId: string): SessionRecord | undefined;
  put(session: SessionRecord): void;
  delete(sessionId: string): void;
  all(): IterableIterator<SessionRecord>;
  /** The player's live (or last) session id. */
  activeOf(playerId: string): string | undefined;
  setActive(playerId: string, sessionId: string): void;
  /** Forgets the player's active session only while it is still this one. */
  clearActive(playerId: string, sessionId: string): void;
};

/** Players waiting for a slot, first come first served, one line per game; O(log n) per change. */
export type QueueStore = {
  /** Waiting sessions over all games. */
  readonly length: number;
  /** Adds the session at the tail (no-op if it waits already); returns its 1-based position. */
  enqueue(game: string, sessionId: string): number;
  remove(game: string, sessionId: string): boolean;
  /** 1-based position in the game's line, or undefined when not waiting. */
  position(game: string, sessionId: string): number | undefined;
  first(game: string): string | undefined;
  size(game: string): number;
  /** The waiting sessions of a game, head first (lazy: stop early to pay only for what is read). */
  waiting(game: string): Iterable<string>;
  games(): IterableIterator<string>;
};

/** A player's RTT to a host from the browser's probes; `null` = unreachable. */
export type Measurement = { rttMs: number | null; atMs: number };

export type MeasurementStore = {
  remember(playerId: string, hostId: string, measurement: Measurement): void;
  /** The player's measurements by host, stalest first. */
  of(playerId: string): Iterable<[hostId: string, measurement: Measurement]>;
};

/**
 * The meter's running state of one paid session (edge/metering), kept where another signaling instance can
 * pick it up if this one goes down: the next tick continues from it, nothing billed twice or lost.
 */
export type MeterState = {
  /** The index the next tick will get. */
  tickIndex: number;
  /** Ticks cut (their interval closed) but not yet recorded in the ledger, oldest first. */
  pendingTicks: Array<{ tickIndex: number; deliveredSec: number }>;
  lastTickAtMs: number;
  cursorMs: number;
  deliveredMs: number;
  hostGoodAtMs: number | null;
  hostFpsMilli: number | null;
  /** The player's latest report under the floor (a dispute), the last sign of the player (report or input). */
  playerBadAtMs: number | null;
  lastSignAtMs: number;
  /** A checker's latest observation of the session (good or failing). */
  checkerGoodAtMs: number | null;
  checkerBadAtMs: number | null;
  /** Disputed time held until a checker's word; when the current dispute started. */
  heldMs: number;
  disputeSinceMs: number | null;
  verdictFailed: boolean;
  /**
   * The epoch of the meter's ledger claim it was saved under (decimal), when known: a process taking the session
   * over ignores a state saved under an older claim than the one it takes over (a cut-off instance's late save).
   */
  claimEpoch?: string;
};

export type MeterStateStore = {
  save(sessionId: string, state: MeterState): void;
  load(sessionId: string): Promise<MeterState | undefined>;
  delete(sessionId: string): void;
};

/** What a shared store tells the hub about changes other instances made (and about instances). */
export type ClusterEvent =
  /** A slot elsewhere was freed, or a line's head changed: a waiting player of this instance may be next. */
  | { kind: 'capacity' }
  /**
   * Another instance took over a session this instance ran (its player moved there, or it adopted the session
   * while this one was cut off). `playerPeerId`: the player connection the session had here until then.
   */
  | { kind: 'sessionMoved'; sessionId: string; playerPeerId?: string }
  /**
   * A host's registration on this instance was refused by the store: the host registered on another instance
   * first (one host id connected to two instances at once, or registered elsewhere while this one was cut off). The
   * connection `peerId` here does not hold the host; the copy names the registration that does.
   */
  | { kind: 'hostTaken'; hostId: string; peerId: string }
  /** An instance stopped answering (crashed, or cut off from Redis). */
  | { kind: 'instanceDown'; instanceId: string }
  /** Redis came back (possibly empty): this instance wrote back what it owns and reloaded the rest. */
  | { kind: 'resynced' };

/** The link between signaling instances that share a store (absent for the embedded, single-instance store). */
export type ClusterLink = {
  /** Whether that instance is up (its direct channel had a subscriber at the last poll). */
  isAlive(instanceId: string): boolean;
  /** Asks Redis now (a process killed a moment ago has already lost its subscription there). */
  checkAlive(instanceId: string): Promise<boolean>;
  /** Tells the network where this instance serves players (its public HTTP base URL). */
  announce(httpUrl: string): void;
  /** The HTTP base URLs of the instances that are up (as of the last poll). */
  servers(): string[];
  /** A direct message (JSON, validated by the receiver) to one instance; false when it is known to be down. */
  send(instanceId: string, message: ClusterDirectMessage): boolean;
  onMessage(handler: (message: ClusterDirectMessage) => void): () => void;
  onEvent(handler: (event: ClusterEvent) => void): () => void;
  /**
   * Makes this instance the owner of a session, atomically: only while its owner is still `expected`
   * (undefined: whoever owns it). The session record is updated and shared on success.
   */
  claimSession(sessionId: string, expected?: string): Promise<boolean>;
  /**
   * This instance learnt elsewhere (the ledger refused its meter's claim) that `owner` runs the session now,
   * before Redis told it — it may be cut off from Redis. Its copy names `owner` from now on, without writing
   * anything to Redis (the owner's record there stands), and `sessionMoved` is emitted as if the feed had said so.
   */
  movedAway(sessionId: string, owner: string): void;
};

/** Where the players of each network prefix probably are, learnt from their probes (see signaling/geo). */
export type PrefixLocationStore = {
  get(prefix: string): PrefixLocation | undefined;
  put(prefix: string, location: PrefixLocation): void;
};

/**
 * Drains in force, by provider address (lower case): what every instance of a network must agree on, or a drained
 * provider's host would come back by connecting to another instance. Map-like and synchronous (matching reads it);
 * the ledger (`DrainStore`) keeps them across restarts, this shares them between the instances that run.
 */
export type DrainMap = {
  readonly size: number;
  get(providerAddress: string): ProviderDrain | undefined;
  has(providerAddress: string): boolean;
  set(providerAddress: string, drain: ProviderDrain): void;
  delete(providerAddress: string): boolean;
  keys(): IterableIterator<string>;
};

/** A session that ended before its payment was accepted (see signaling/admission/UnpaidEndings). */
export type UnpaidEnding = {
  /** The player's address as a keyed hash of its `addressKey` (no address travels between instances). */
  addressKey: string;
  playerId: string;
  atMs: number;
};

/** Unpaid endings shared between instances: each instance counts every instance's (absent: one instance). */
export type UnpaidEndingsFeed = {
  /** Tells the other instances of an ending recorded here. */
  share(ending: UnpaidEnding): void;
  /** Endings recorded by other instances. */
  onEnding(handler: (ending: UnpaidEnding) => void): () => void;
};

/** What a place (a connection, a live session) of one address is counted as across instances. */
export type SharedPlaceKind = 'connections' | 'sessions';

/** A shared admission: counted for the network (`shared`), counted here only (Redis unreachable), or refused. */
export type SharedAdmission =
  | { admitted: true; shared: boolean }
  | { admitted: false; total: number; retryAfterMs: number };

/**
 * Per-address limits counted for every instance of a network (signaling/store/redis/ClusterLimits.ts); absent with
 * one instance. Addresses are keyed hashes (`addressHash`), never addresses. Callers check their per-instance
 * limit first; a shared store that cannot answer admits (the per-instance limit holds) and reports `onDegraded`.
 */
export type SharedLimits = {
  /** One more place for this address unless the network holds `max` (and, with `rate`, a token of its bucket). */
  acquire(
    kind: SharedPlaceKind,
    addressKey: string,
    max: number,
    rate?: RateSettings,
  ): SharedAdmission | Promise<SharedAdmission>;
  /** Gives back a place `acquire` admitted (a place this instance does not hold is ignored). */
  release(kind: SharedPlaceKind, addressKey: string): void;
  /** An instance went down: its places stop counting now (else when its lease runs out). */
  forget(instanceId: string): void;
  /**
   * A payer's session contradicted a provider's signed receipts at `atMs`: the distinct payers that did within
   * `windowMs` on the whole network, or undefined when the store cannot answer.
   */
  countContradiction(
    providerAddress: string,
    payerAddress: string,
    atMs: number,
    windowMs: number,
  ): Promise<number | undefined>;
  /**
   * One HTTP request of a fixed window (`windowMs`) under `key` (a route and an address hash): the requests of the
   * window on the whole network and the ms left of it, or undefined when the store cannot answer.
   */
  countRequest(key: string, windowMs: number): Promise<{ current: number; ttlMs: number } | undefined>;
  /** Called each time a limit falls back to this instance's count (`limit`: the kind, `contradictions`, `http`). */
  onDegraded(listener: (limit: string, why: string) => void): () => void;
  close(): void;
};

export type SignalingStore = {
  /** This signaling instance (lowercase letters and digits; the prefix of its peer ids). */
  readonly instanceId: string;
  /** Set when several instances share this store. */
  readonly cluster: ClusterLink | undefined;
  readonly hosts: HostStore;
  readonly sessions: SessionStore;
  readonly queue: QueueStore;
  readonly measurements: MeasurementStore;
  readonly meters: MeterStateStore;
  readonly prefixes: PrefixLocationStore;
  readonly drains: DrainMap;
  /** Set when several instances share this store. */
  readonly unpaidEndings: UnpaidEndingsFeed | undefined;
  /** Set when several instances share this store. */
  readonly limits?: SharedLimits | undefined;
  close(): void;
};
