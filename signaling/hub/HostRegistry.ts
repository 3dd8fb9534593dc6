import type { GameInfoRecord, PeerMessageOf, RegionInfo, SlotStateName } from '../protocol/index.js';
import { weiFromString } from '../protocol/index.js';

export type SlotRecord = { slot: number; state: SlotStateName; sessionId: string | undefined };

export type HostState = 'up' | 'down' | 'draining';

export type HostRecord = {
  hostId: string;
  /** The signaling connection the host is on; undefined while disconnected. */
  peerId: string | undefined;
  providerAddress: `0x${string}`;
  region: RegionInfo;
  gpu: string;
  encoder: 'nvenc' | 'x264';
  games: Map<string, GameInfoRecord>;
  priceWeiPerSec: bigint;
  endpoints: { probeUrl: string; metricsUrl: string };
  state: HostState;
  load: number;
  lastHeartbeatMs: number;
  registeredAtMs: number;
  slots: SlotRecord[];
  /** 0..1 from checker verdicts; 0.5 (neutral) until checkers report. */
  qualityScore: number;
  stakeWei: bigint;
};

export type RegisterHostParameters = {
  message: PeerMessageOf<'register'>;
  peerId: string;
  nowMs: number;
};

/**
 * Every render host signaling knows, with its slots. Signaling is the authority on slot leases: a slot is
 * leased here, synchronously, before the host hears of the session — so two players can never get one slot.
 */
export class HostRegistry {
  readonly #hosts = new Map<string, HostRecord>();
  /** game id → hosts serving it, so a pick looks only at relevant hosts. */
  readonly #byGame = new Map<string, Set<HostRecord>>();

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
        entry.freeSlots += freeSlotCount(host);
        games.set(game, entry);
      }
    }
    return games;
  }

  /**
   * Adds a host or re-attaches a known one (same id, after a reconnect): its leases stay, the description
   * is refreshed. Slots beyond a shrunk slot count must be free, else the caller ends their sessions.
   */
  register({ message, peerId, nowMs }: RegisterHostParameters): HostRecord {
    const existing = this.#hosts.get(message.hostId);
    const slots: SlotRecord[] = Array.from(
      { length: message.slots },
      (_, slot) => existing?.slots[slot] ?? { slot, state: 'free', sessionId: undefined },
    );
    const host: HostRecord = {
      hostId: message.hostId,
      peerId,
      providerAddress: message.providerAddress as `0x${string}`,
      region: message.region,
      gpu: message.gpu,
      encoder: message.encoder,
      games: new Map(message.games.map((game) => [game.id, game])),
      priceWeiPerSec: weiFromString(message.priceWeiPerSec),
      endpoints: message.endpoints,
      state: 'up',
      load: 0,
      lastHeartbeatMs: nowMs,
      registeredAtMs: existing?.registeredAtMs ?? nowMs,
      slots,
      qualityScore: existing?.qualityScore ?? 0.5,
      stakeWei: existing?.stakeWei ?? 0n,
    };
    if (existing) this.#unindex(existing);
    this.#hosts.set(host.hostId, host);
    for (const game of host.games.keys()) {
      let set = this.#byGame.get(game);
      if (!set) {
        set = new Set();
        this.#byGame.set(game, set);
      }
      set.add(host);
    }
    return host;
  }

  remove(hostId: string): void {
    const host = this.#hosts.get(hostId);
    if (!host) return;
    this.#unindex(host);
    this.#hosts.delete(hostId);
  }

  heartbeat(hostId: string, load: number, nowMs: number): void {
    const host = this.#hosts.get(hostId);
    if (!host) return;
    host.load = load;
    host.lastHeartbeatMs = nowMs;
  }

  /** Hosts whose last heartbeat is older than `deadlineMs` (still marked up). */
  overdue(nowMs: number, deadlineMs: number): HostRecord[] {
    const late: HostRecord[] = [];
    for (const host of this.#hosts.values()) {
      if (host.state !== 'down' && nowMs - host.lastHeartbeatMs > deadlineMs) late.push(host);
    }
    return late;
  }

  lease(host: HostRecord, slot: number, sessionId: string): void {
    const record = host.slots[slot];
    if (record?.state !== 'free') throw new Error(`slot ${host.hostId}/${slot} is not free`);
    record.state = 'leased';
    record.sessionId = sessionId;
  }

  confirm(hostId: string, slot: number, sessionId: string): void {
    const record = this.#hosts.get(hostId)?.slots[slot];
    if (record?.sessionId === sessionId) record.state = 'busy';
  }

  /** Frees the slot if (and only if) it is still held by this session: releasing twice is harmless. */
  release(hostId: string, slot: number, sessionId: string): boolean {
    const record = this.#hosts.get(hostId)?.slots[slot];
    if (!record || record.sessionId !== sessionId) return false;
    record.state = 'free';
    record.sessionId = undefined;
    return true;
  }

  #unindex(host: HostRecord): void {
    for (const game of host.games.keys()) {
      const set = this.#byGame.get(game);
      set?.delete(host);
      if (set?.size === 0) this.#byGame.delete(game);
    }
  }
}

export function freeSlotCount(host: HostRecord): number {
  let free = 0;
  for (const slot of host.slots) if (slot.state === 'free') free++;
  return free;
}

export function firstFreeSlot(host: HostRecord): number | undefined {
  return host.slots.find((slot) => slot.state === 'free')?.slot;
}
