import { type GeoPoint, greatCircleKm } from '../geo/geo.js';
import type { GameInfoRecord, PeerMessageOf, RegionInfo, SlotStateName } from '../protocol/index.js';
import { weiFromString } from '../protocol/index.js';
import {
  bucketOf,
  canTakeSession,
  RankedHosts,
  type RankingScale,
  rankingScaleOf,
  type StaticWeights,
  staticScore,
} from './RankedHosts.js';
import type { HostPatch, HostStore } from './SignalingStore.js';

export type SlotRecord = { slot: number; state: SlotStateName; sessionId: string | undefined };

export type HostState = 'up' | 'down' | 'draining';

export type HostRecord = {
  /** The network's id: the registered name bound to the provider (`boundHostId`). */
  hostId: string;
  /** The signaling connection the host is on; undefined while disconnected. */
  peerId: string | undefined;
  /** The address the host's signaling connection comes from (its probe URL must point there). */
  remoteIp: string;
  providerAddress: `0x${string}`;
  region: RegionInfo;
  gpu: string;
  encoder: 'nvenc' | 'x264';
  games: Map<string, GameInfoRecord>;
  priceWeiPerSec: bigint;
  endpoints: { probeUrl: string; metricsUrl: string };
  state: HostState;
  /** When it was marked down (undefined while up): a host down longer than the TTL is evicted. */
  downSinceMs: number | undefined;
  load: number;
  lastHeartbeatMs: number;
  registeredAtMs: number;
  slots: SlotRecord[];
  /** Kept in step with `slots` so a pick over thousands of hosts need not count them. */
  freeSlots: number;
  /**
   * Probe sessions it takes beyond `slots` (0 or 1; admission requires 1): a checker's probe that finds every slot
   * busy runs there, as slot number `slots.length` (ProbeLine). Never leased to a player, so never in `slots`.
   */
  probeReserve: number;
  /** 0..1 from checker verdicts; 0.5 (neutral) until checkers report. */
  qualityScore: number;
  /** Failed confirmed checker verdicts in a row; `failedVerdictsToDrain` of them drain its provider. */
  failedVerdictsInARow: number;
  /**
   * Out of service: no new sessions. Its provider is drained (checkers' verdicts, kept in the ledger) or its
   * stake is below its tier (`stakeShortfall`). Kept in step by `CheckerDesk.syncDrained`.
   */
  drained: boolean;
  /** Why it is drained, for the provider (status API, CLI, dashboard). */
  drainReason: string | undefined;
  /** Set while the provider's stake is below its tier's minimum (the StakingRegistry, watched). */
  stakeShortfall: string | undefined;
  /** Set through `HostRegistry.setStake`, which keeps `stakeF` and the game maxima in step. */
  stakeWei: bigint;
  /**
   * Price and stake as float64, for ranking only (they enter scores as ratios): converting 10^18-scale
   * bigints on every pick over thousands of hosts costs more than the whole rest of the pick.
   */
  priceF: number;
  stakeF: number;
  /**
   * The provider's EIP-191 signature over `hostRegistrationMessage(hostId, nonce)`: its own word that it runs this
   * container — the host binding a slash's evidence carries to the StakingRegistry.
   */
  registration: { nonce: string; signature: `0x${string}` } | undefined;
  /**
   * A shared store's name for this registration of the host (new each time it registers; the embedded store sets
   * none): a change to the host's record names the registration its writer knew, and the store refuses it when the
   * host registered again since — e.g. on another instance while the writer was cut off from Redis.
   */
  registrationId?: string;
};

/**
 * Hosts of one game in one 1°×1° cell (≈111 km): the unit of preselection by distance. `ranked` holds those
 * that can take a session, best first (`RankedHosts`); x, y, z is the cell's point on the unit sphere (the
 * nearest cells are found by chord length, without trigonometry per cell).
 */
export type GeoCell = {
  lat: number;
  lon: number;
  hosts: Set<HostRecord>;
  ranked: RankedHosts;
  x: number;
  y: number;
  z: number;
};

const RAD = Math.PI / 180;

/**
 * The game's price and stake scale, as bigints (the explanation) and as floats (the ranking), with how many
 * hosts are at each maximum (it is recomputed only when the last of them leaves it).
 */
type Maxima = {
  maxPriceWei: bigint;
  maxStakeWei: bigint;
  maxPriceF: number;
  maxStakeF: number;
  atMaxPrice: number;
  atMaxStake: number;
};

function cellKey(lat: number, lon: number): number {
  return (Math.floor(lat) + 90) * 1000 + (Math.floor(lon) + 180);
}

/** The 1° cell a point is in (hosts and cells of one place share it). */
export function cellKeyOf(point: GeoPoint): number {
  return cellKey(point.lat, point.lon);
}

export type RegisterHostParameters = {
  message: PeerMessageOf<'register'>;
  /** The id to register under (the message's name bound to its provider); the message's own by default. */
  hostId?: string;
  peerId: string;
  remoteIp?: string;
  nowMs: number;
  /** The connection's nonce the registration signature covers. */
  nonce?: string;
};

/**
 * Every render host signaling knows, with its slots, in this process's memory (the embedded store, and the
 * local copy a shared store keeps). A slot is leased here, synchronously, before the host hears of the
 * session — so two players can never get one slot.
 */
export class HostRegistry implements HostStore {
  readonly #hosts = new Map<string, HostRecord>();
  /** game id → hosts serving it, so a pick looks only at relevant hosts. */
  readonly #byGame = new Map<string, Set<HostRecord>>();
  /** provider address (lower case) → its hosts. */
  readonly #byProvider = new Map<string, Set<HostRecord>>();
  /**
   * game id → dearest price and largest stake among its hosts (the scoring's scale): raised when a dearer or
   * more staked host comes, dropped (recomputed when next asked) only when the host holding a maximum leaves
   * or lowers it.
   */
  readonly #maxima = new Map<string, Maxima>();
  /** game id → cell → hosts there. */
  readonly #cells = new Map<string, Map<number, GeoCell>>();
  /** game id → its hosts that can take a session, best first; kept in step while the game has a scale. */
  readonly #ranked = new Map<string, RankedHosts>();
  /** game id → the scale its `RankedHosts` (the game's and its cells') are ordered by; absent: rebuilt when asked. */
  readonly #scales = new Map<string, RankingScale>();

  get size(): number {
    return this.#hosts.size;
  }

  get(hostId: string): HostRecord | undefined {
    return this.#hosts.get(hostId);
  }

  all(): IterableIterator<HostRecord> {
    return this.#hosts.values();
  }

  hostsServing(game: string): ReadonlySet<HostRecord> {
    return this.#byGame.get(game) ?? new Set();
  }

  /**
   * A game's cells nearest to a point, nearest first, with their distance (to the cell's first host; hosts
   * of one cell are within ≈150 km of each other). One pass over the game's cells comparing chord lengths
   * (no trigonometry per cell), keeping the nearest `count` in order; only those get a great-circle distance.
   */
  nearestCells(game: string, point: GeoPoint, count: number): Array<{ cell: GeoCell; distanceKm: number }> {
    const cells = this.#cells.get(game);
    if (!cells || count <= 0) return [];
    const cosLat = Math.cos(point.lat * RAD);
    const px = cosLat * Math.cos(point.lon * RAD);
    const py = cosLat * Math.sin(point.lon * RAD);
    const pz = Math.sin(point.lat * RAD);
    const near: GeoCell[] = [];
    const chords: number[] = [];
    for (const cell of cells.values()) {
      const dx = cell.x - px;
      const dy = cell.y - py;
      const dz = cell.z - pz;
      const chord = dx * dx + dy * dy + dz * dz;
      if (near.length === count && chord >= (chords[count - 1] as number)) continue;
      let at = near.length === count ? count - 1 : near.length;
      while (at > 0 && (chords[at - 1] as number) > chord) {
        chords[at] = chords[at - 1] as number;
        near[at] = near[at - 1] as GeoCell;
        at--;
      }
      chords[at] = chord;
      near[at] = cell;
    }
    return near.map((cell) => ({ cell, distanceKm: greatCircleKm(point, cell) }));
  }

  /**
   * The scale a game's hosts are ordered by for these weights (`RankedHosts`): the order is rebuilt first if
   * the weights or the game's price and stake maxima changed since it was built.
   */
  rankingScale(game: string, weights: StaticWeights): RankingScale {
    const maxima = this.#maximaOf(game);
    const built = this.#scales.get(game);
    if (
      built &&
      built.load === weights.load &&
      built.price === weights.price &&
      built.quality === weights.quality &&
      built.stake === weights.stake &&
      built.maxPriceF === maxima.maxPriceF &&
      built.maxStakeF === maxima.maxStakeF
    ) {
      return built;
    }
    const scale = rankingScaleOf(weights, maxima.maxPriceF, maxima.maxStakeF);
    let ranked = this.#ranked.get(game);
    if (!ranked) {
      ranked = new RankedHosts();
      this.#ranked.set(game, ranked);
    }
    ranked.clear();
    for (const cell of this.#cells.get(game)?.values() ?? []) cell.ranked.clear();
    this.#scales.set(game, scale);
    for (const host of this.hostsServing(game)) this.#rerankIn(host, game, scale);
    return scale;
  }

  /** A game's hosts that can take a session, best first, as ordered by the last `rankingScale` asked. */
  rankedHosts(game: string): RankedHosts | undefined {
    return this.#scales.has(game) ? this.#ranked.get(game) : undefined;
  }

  /** A provider's hosts (any state). */
  hostsOf(providerAddress: string): ReadonlySet<HostRecord> {
    return this.#byProvider.get(providerAddress.toLowerCase()) ?? new Set();
  }

  /** The price and stake scale of a game's hosts (kept as hosts come, change and go). */
  maxima(game: string): { maxPriceWei: bigint; maxStakeWei: bigint } {
    return this.#maximaOf(game);
  }

  #maximaOf(game: string): Maxima {
    let maxima = this.#maxima.get(game);
    if (!maxima) {
      maxima = { maxPriceWei: 0n, maxStakeWei: 0n, maxPriceF: 0, maxStakeF: 0, atMaxPrice: 0, atMaxStake: 0 };
      this.#maxima.set(game, maxima);
      for (const host of this.hostsServing(game)) this.#maximaIn(game, host.priceWeiPerSec, host.stakeWei);
    }
    return maxima;
  }

  /** A host of this price and stake joined the game (if its maxima are known, they follow). */
  #maximaIn(game: string, priceWei: bigint, stakeWei: bigint): void {
    const maxima = this.#maxima.get(game);
    if (!maxima) return;
    if (priceWei > maxima.maxPriceWei || maxima.atMaxPrice === 0) {
      maxima.maxPriceWei = priceWei;
      maxima.maxPriceF = Number(priceWei);
      maxima.atMaxPrice = 1;
    } else if (priceWei === maxima.maxPriceWei) maxima.atMaxPrice += 1;
    if (stakeWei > maxima.maxStakeWei || maxima.atMaxStake === 0) {
      maxima.maxStakeWei = stakeWei;
      maxima.maxStakeF = Number(stakeWei);
      maxima.atMaxStake = 1;
    } else if (stakeWei === maxima.maxStakeWei) maxima.atMaxStake += 1;
  }

  /** A host of this price and stake left the game: when the last host at a maximum leaves, it is recomputed. */
  #maximaOut(game: string, priceWei: bigint, stakeWei: bigint): void {
    const maxima = this.#maxima.get(game);
    if (!maxima) return;
    if (priceWei === maxima.maxPriceWei) maxima.atMaxPrice -= 1;
    if (stakeWei === maxima.maxStakeWei) maxima.atMaxStake -= 1;
    if (maxima.atMaxPrice <= 0 || maxima.atMaxStake <= 0) this.#maxima.delete(game);
  }

  setStake(hostId: string, stakeWei: bigint): void {
    const host = this.#hosts.get(hostId);
    if (!host) return;
    const before = host.stakeWei;
    if (before === stakeWei) return;
    host.stakeWei = stakeWei;
    host.stakeF = Number(stakeWei);
    for (const game of host.games.keys()) {
      const maxima = this.#maxima.get(game);
      if (!maxima) continue;
      // The price stays: count the host out and in again with its new stake, its price unchanged.
      this.#maximaOut(game, host.priceWeiPerSec, before);
      this.#maximaIn(game, host.priceWeiPerSec, stakeWei);
    }
    this.#rerank(host);
  }

  /**
   * Puts the host where it belongs in its games' orders (or out of them: it cannot take a session). A game
   * whose maxima moved away from its order's scale is dropped and rebuilt at its next pick.
   */
  #rerank(host: HostRecord): void {
    for (const game of host.games.keys()) {
      const scale = this.#scales.get(game);
      if (!scale) continue;
      const maxima = this.#maximaOf(game);
      if (maxima.maxPriceF !== scale.maxPriceF || maxima.maxStakeF !== scale.maxStakeF) {
        this.#scales.delete(game);
        continue;
      }
      this.#rerankIn(host, game, scale);
    }
  }

  #rerankIn(host: HostRecord, game: string, scale: RankingScale): void {
    const bucket = canTakeSession(host) ? bucketOf(staticScore(host, scale), scale) : undefined;
    this.#ranked.get(game)?.set(host, bucket);
    this.#cells.get(game)?.get(cellKey(host.region.lat, host.region.lon))?.ranked.set(host, bucket);
  }

  /** Every game some up host serves, with the host's description of it. */
  games(): Map<string, { info: GameInfoRecord; hostsUp: number; freeSlots: number }> {
    const games = new Map<string, { info: GameInfoRecord; hostsUp: number; freeSlots: number }>();
    for (const [game, hosts] of this.#byGame) {
      for (const host of hosts) {
        if (host.state !== 'up') continue;
        const info = host.games.get(game);
        if (!info) continue;
        const entry = games.get(game) ?? { info, hostsUp: 0, freeSlots: 0 };
        entry.hostsUp += 1;
        entry.freeSlots += host.freeSlots;
        games.set(game, entry);
      }
    }
    return games;
  }

  /**
   * Adds a host or re-attaches a known one (same id, after a reconnect): its leases stay, the description
   * is refreshed. Slots beyond a shrunk slot count must be free, else the caller ends their sessions.
   */
  register({
    message,
    hostId = message.hostId,
    peerId,
    remoteIp = '',
    nowMs,
    nonce,
  }: RegisterHostParameters): HostRecord {
    const existing = this.#hosts.get(hostId);
    const slots: SlotRecord[] = Array.from(
      { length: message.slots },
      (_, slot) => existing?.slots[slot] ?? { slot, state: 'free', sessionId: undefined },
    );
    const host: HostRecord = {
      hostId,
      peerId,
      remoteIp,
      providerAddress: message.providerAddress as `0x${string}`,
      region: message.region,
      gpu: message.gpu,
      encoder: message.encoder,
      games: new Map(message.games.map((game) => [game.id, game])),
      priceWeiPerSec: weiFromString(message.priceWeiPerSec),
      endpoints: message.endpoints,
      state: 'up',
      downSinceMs: undefined,
      load: 0,
      lastHeartbeatMs: nowMs,
      registeredAtMs: existing?.registeredAtMs ?? nowMs,
      slots,
      freeSlots: slots.filter((slot) => slot.state === 'free').length,
      probeReserve: message.probeReserve ?? 0,
      qualityScore: existing?.qualityScore ?? 0.5,
      failedVerdictsInARow: existing?.failedVerdictsInARow ?? 0,
      drained: existing?.drained ?? false,
      drainReason: existing?.drainReason,
      stakeShortfall: existing?.stakeShortfall,
      stakeWei: existing?.stakeWei ?? 0n,
      priceF: 0,
      stakeF: 0,
      registration:
        nonce === undefined
          ? existing?.registration
          : { nonce, signature: message.signature.toLowerCase() as `0x${string}` },
    };
    host.priceF = Number(host.priceWeiPerSec);
    host.stakeF = Number(host.stakeWei);
    this.#put(host);
    return host;
  }

  /** Puts a whole record as a shared store holds it (another instance registered or changed the host). */
  restore(record: HostRecord): HostRecord {
    const host: HostRecord = {
      ...record,
      freeSlots: record.slots.filter((slot) => slot.state === 'free').length,
      priceF: Number(record.priceWeiPerSec),
      stakeF: Number(record.stakeWei),
    };
    this.#put(host);
    return host;
  }

  #put(host: HostRecord): void {
    const existing = this.#hosts.get(host.hostId);
    if (existing) this.#unindex(existing);
    this.#hosts.set(host.hostId, host);
    const provider = host.providerAddress.toLowerCase();
    let ofProvider = this.#byProvider.get(provider);
    if (!ofProvider) {
      ofProvider = new Set();
      this.#byProvider.set(provider, ofProvider);
    }
    ofProvider.add(host);
    for (const game of host.games.keys()) {
      this.#maximaIn(game, host.priceWeiPerSec, host.stakeWei);
      let set = this.#byGame.get(game);
      if (!set) {
        set = new Set();
        this.#byGame.set(game, set);
      }
      set.add(host);
      let cells = this.#cells.get(game);
      if (!cells) {
        cells = new Map();
        this.#cells.set(game, cells);
      }
      const key = cellKey(host.region.lat, host.region.lon);
      let cell = cells.get(key);
      if (!cell) {
        const { lat, lon } = host.region;
        const cosLat = Math.cos(lat * RAD);
        cell = {
          lat,
          lon,
          hosts: new Set(),
          ranked: new RankedHosts(),
          x: cosLat * Math.cos(lon * RAD),
          y: cosLat * Math.sin(lon * RAD),
          z: Math.sin(lat * RAD),
        };
        cells.set(key, cell);
      }
      cell.hosts.add(host);
    }
    this.#rerank(host);
  }

  remove(hostId: string): void {
    const host = this.#hosts.get(hostId);
    if (!host) return;
    this.#unindex(host);
    this.#hosts.delete(hostId);
  }

  update(hostId: string, patch: HostPatch): void {
    const host = this.#hosts.get(hostId);
    if (!host) return;
    Object.assign(host, patch);
    this.#rerank(host);
  }

  heartbeat(hostId: string, load: number, nowMs: number): void {
    const host = this.#hosts.get(hostId);
    if (!host) return;
    host.lastHeartbeatMs = nowMs;
    this.setLoad(hostId, load);
  }

  /** The load a host last reported (its heartbeat, or another instance's word for it). */
  setLoad(hostId: string, load: number): void {
    const host = this.#hosts.get(hostId);
    if (!host || host.load === load) return;
    host.load = load;
    this.#rerank(host);
  }

  /** Slots registered by a provider's hosts that are not down (a tier limits them). */
  providerSlots(providerAddress: string, exceptHostId?: string): number {
    let slots = 0;
    for (const host of this.hostsOf(providerAddress)) {
      if (host.state !== 'down' && host.hostId !== exceptHostId) slots += host.slots.length;
    }
    return slots;
  }

  /** Hosts down for longer than `ttlMs`. */
  expired(nowMs: number, ttlMs: number): HostRecord[] {
    const gone: HostRecord[] = [];
    for (const host of this.#hosts.values()) {
      if (host.state === 'down' && host.downSinceMs !== undefined && nowMs - host.downSinceMs > ttlMs) gone.push(host);
    }
    return gone;
  }

  /** Hosts whose last heartbeat is older than `deadlineMs` (still marked up). */
  overdue(nowMs: number, deadlineMs: number): HostRecord[] {
    const late: HostRecord[] = [];
    for (const host of this.#hosts.values()) {
      if (host.state !== 'down' && nowMs - host.lastHeartbeatMs > deadlineMs) late.push(host);
    }
    return late;
  }

  tryLease(hostId: string, slot: number, sessionId: string): boolean {
    const host = this.#hosts.get(hostId);
    const record = host?.slots[slot];
    if (!host || record?.state !== 'free') return false;
    record.state = 'leased';
    record.sessionId = sessionId;
    host.freeSlots -= 1;
    if (host.freeSlots === 0) this.#rerank(host);
    return true;
  }

  /** Sets a slot as the shared store says it is (another instance leased, confirmed or freed it). */
  setSlot(hostId: string, slot: number, state: SlotStateName, sessionId: string | undefined): void {
    const host = this.#hosts.get(hostId);
    const record = host?.slots[slot];
    if (!host || !record) return;
    if (record.state === 'free' && state !== 'free') host.freeSlots -= 1;
    if (record.state !== 'free' && state === 'free') host.freeSlots += 1;
    record.state = state;
    record.sessionId = state === 'free' ? undefined : sessionId;
    this.#rerank(host);
  }

  confirm(hostId: string, slot: number, sessionId: string): void {
    const record = this.#hosts.get(hostId)?.slots[slot];
    if (record?.sessionId === sessionId) record.state = 'busy';
  }

  /** Frees the slot if (and only if) it is still held by this session: releasing twice is harmless. */
  release(hostId: string, slot: number, sessionId: string): boolean {
    const host = this.#hosts.get(hostId);
    const record = host?.slots[slot];
    if (!host || !record || record.sessionId !== sessionId) return false;
    record.state = 'free';
    record.sessionId = undefined;
    host.freeSlots += 1;
    if (host.freeSlots === 1) this.#rerank(host);
    return true;
  }

  /** Frees every slot of a host (it went down); returns the sessions that held them. */
  releaseAll(hostId: string): string[] {
    const host = this.#hosts.get(hostId);
    if (!host) return [];
    const sessions: string[] = [];
    for (const slot of host.slots) {
      if (slot.sessionId) sessions.push(slot.sessionId);
      slot.state = 'free';
      slot.sessionId = undefined;
    }
    host.freeSlots = host.slots.length;
    this.#rerank(host);
    return sessions;
  }

  #unindex(host: HostRecord): void {
    const provider = host.providerAddress.toLowerCase();
    const ofProvider = this.#byProvider.get(provider);
    ofProvider?.delete(host);
    if (ofProvider?.size === 0) this.#byProvider.delete(provider);
    for (const game of host.games.keys()) {
      this.#maximaOut(game, host.priceWeiPerSec, host.stakeWei);
      this.#ranked.get(game)?.set(host, undefined);
      const set = this.#byGame.get(game);
      set?.delete(host);
      if (set?.size === 0) this.#byGame.delete(game);
      const cells = this.#cells.get(game);
      const key = cellKey(host.region.lat, host.region.lon);
      const cell = cells?.get(key);
      cell?.hosts.delete(host);
      cell?.ranked.set(host, undefined);
      if (cell?.hosts.size === 0) cells?.delete(key);
      if (cells?.size === 0) this.#cells.delete(game);
    }
  }
}

export function firstFreeSlot(host: HostRecord): number | undefined {
  return host.slots.find((slot) => slot.state === 'free')?.slot;
}
