/**
 * The shared store: several signaling instances on one Redis form one network (issue 16).
 *
 * Every instance keeps a full copy of the state in memory (the embedded store's classes), so that reads stay
 * synchronous and a pick over 100,000 hosts never waits on the network. Each change an instance makes is
 * applied to its copy, written to Redis and published on the feed channel; the others apply it to theirs.
 * What must be decided once for the whole network is decided inside Redis by Lua (`luaScripts.ts`): a slot
 * lease (never two sessions on one slot), a slot's release, a session's owner.
 *
 * Besides the feed, each instance subscribes to its own direct channel (`to:<instanceId>`): server messages
 * for peers connected to it, peers' frames for sessions it owns. An instance is alive while that channel
 * has a subscriber — Redis drops a killed process's subscription at once, so a crash is seen within a poll
 * (500 ms), not after a key's TTL.
 *
 * Redis itself may restart (empty: tests run it with `--save ''`): on reconnecting, an instance that finds
 * the generation key gone writes back what it owns (its hosts and their slots, its sessions, their queue
 * places), then reloads everything else from Redis. No operator action.
 *
 * Keys (prefix `ath:` by default): `gen`, `hosts` (set), `h:<hostId>` (HostWire JSON), `slots:<hostId>`
 * (hash), `hb` (zset hostId → last heartbeat ms), `sessions` (set), `s:<sessionId>` (SessionWire JSON),
 * `own` (hash sessionId → instance), `meter` (hash sessionId → the meter's running state), `gone:<sessionId>` (a
 * deleted session's tombstone, expiring), `active` (hash playerId → sessionId), `queues` (set), `q:<game>` (zset
 * sessionId → queuedAtMs), `drains` (hash provider → DrainWire JSON). Channels: `feed`, `to:<instanceId>`. Unpaid
 * endings travel on the feed only (a keyed hash of the player's address, its token id, the time): Redis keeps none.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { GeoPoint } from '../../geo/geo.js';
import type { SessionRecord } from '../../hub/SessionRecord.js';
import {
  type ClusterDirectMessage,
  type ClusterFeedMessage,
  type DrainWire,
  encodeClusterDirect,
  type HostPatchWireRecord,
  parseClusterDirectBatch,
  parseClusterFeed,
  parseDrainWire,
  parseHostWire,
  parseMeterStateWire,
  parsePrefixLocationWire,
  parseSessionWire,
} from '../../protocol/cluster.js';
import { AthError, type GameInfoRecord, weiToString } from '../../protocol/index.js';
import type { ProviderDrain } from '../../trust/DrainStore.js';
import type { GeoCell, HostRecord, RegisterHostParameters, SlotRecord } from '../HostRegistry.js';
import { MemorySignalingStore } from '../MemorySignalingStore.js';
import { instanceOfPeer } from '../peerIds.js';
import type { RankedHosts, RankingScale, StaticWeights } from '../RankedHosts.js';
import type {
  ClusterEvent,
  ClusterLink,
  DrainMap,
  HostPatch,
  HostStore,
  MeasurementStore,
  MeterStateStore,
  PrefixLocationStore,
  QueueStore,
  SessionStore,
  SignalingStore,
  UnpaidEnding,
  UnpaidEndingsFeed,
} from '../SignalingStore.js';
import { ClusterLimits } from './ClusterLimits.js';
import {
  CLAIM_SESSION,
  CLEAR_ACTIVE,
  CONFIRM_SLOT,
  DELETE_SESSION,
  FORGET_SESSION,
  LEASE_SLOT,
  PUT_SESSION,
  REGISTER_HOST,
  RELEASE_ALL_SLOTS,
  RELEASE_SLOT,
  REMOVE_HOST,
  SAVE_METER,
  SESSION_TOMBSTONE_SEC,
  SET_ACTIVE,
  UPDATE_HOST,
  WRITE_BACK_SESSION,
  WRITE_BACK_SLOTS,
} from './luaScripts.js';
import { RelayPublisher } from './RelayPublisher.js';
import { hostFromWire, hostToWire, sessionFromWire, sessionToWire, slotFromValue, slotValue } from './recordCodec.js';

export type OpenRedisSignalingStoreParameters = {
  /** `redis://host:port[/db]`. */
  url: string;
  log: Logger;
  /** Keys and channels start with it: instances with the same prefix form one network. Default `ath:`. */
  prefix?: string;
  /** Default: 8 random hex digits. Lowercase letters and digits only (it prefixes peer ids). */
  instanceId?: string;
  now?: () => number;
  /** How often liveness is polled and heartbeats/loads are flushed. Default 500 ms. */
  pollIntervalMs?: number;
  /** How long a crashed instance's per-address places still count (ClusterLimits). Default 15 s. */
  limitsLeaseMs?: number;
  /**
   * Direct messages (relays) through a reply-less connection of their own (`RelayPublisher`); `false`: through
   * the command connection, each PUBLISH answered; `{ url }`: that connection goes to this URL instead of `url`
   * (tests put a proxy there that slows it down). Default true.
   */
  relayPublisher?: boolean | { url: string };
};

/** Direct-message batches (`[channel, payload]`) of one turn, their size, and what they wait for (true: go). */
type HeldBatches = { batches: Array<[string, string]>; bytes: number; after: Promise<boolean> };

/** Direct messages held back at most (≈ their characters): beyond, new ones are dropped. */
const MAX_HELD_BYTES = 16 * 2 ** 20;

/** A host's load is shared when it moved this much since it was last shared. */
const LOAD_SHARE_STEP = 0.02;
/** An instance is declared down after this many polls without a subscriber on its channel. */
const DOWN_AFTER_POLLS = 2;
const LOAD_BATCH = 500;

type Pending = { kind: 'feed'; message: ClusterFeedMessage };

export class RedisSignalingStore implements SignalingStore {
  readonly instanceId: string;
  readonly cluster: ClusterLink;
  readonly hosts: HostStore;
  readonly sessions: SessionStore;
  readonly queue: QueueStore;
  readonly measurements: MeasurementStore;
  readonly meters: MeterStateStore;
  readonly prefixes: PrefixLocationStore;
  readonly drains: DrainMap;
  readonly unpaidEndings: UnpaidEndingsFeed;
  /** Per-address limits counted for the network (ClusterLimits.ts, its own keys under `lim:`). */
  readonly limits: ClusterLimits;

  readonly #local = new MemorySignalingStore();
  readonly #cmd: Redis;
  readonly #sub: Redis;
  readonly #relay: RelayPublisher | undefined;
  /**
   * Commands on the command connection that publish on the feed (`write`s that `publish`, `eval`s of scripts
   * that do) and have no reply yet, and direct-message batches sent through it; `#lastCmd` settles once the
   * newest of them is answered (and so, one connection being answered in order, every one before it), true if
   * Redis answered it. While any is out, direct messages wait for it (`#held`) before they leave on the relay
   * connection, so that a feed change reaches the other instances before a direct message sent after it.
   * Batches switch to the command connection only while the relay connection is down, never to overtake it: two
   * connections are read by Redis in the order their bytes arrive, which across a network — and on a busy
   * machine — is not the order they were sent. The other way round (a batch on the relay connection, then a
   * command) nothing waits: a direct message may reach its instance after a feed change sent just after it
   * (pub/sub gives no more than that to any two connections).
   */
  #cmdInFlight = 0;
  #lastCmd: Promise<boolean> = Promise.resolve(true);
  /**
   * Set when one of those commands failed without Redis's answer (timed out, connection lost): ioredis still
   * holds or resends it, so it may run later than anything sent on the relay connection now. Until a PING sent
   * after it is answered, batches take the command connection, behind it.
   */
  #cmdUnsynced = false;
  /** How many of those failed so (a PING clears `#cmdUnsynced` only if none failed after it was sent). */
  #cmdFailures = 0;
  /** Batches waiting, oldest first, for the command connection's answer or the relay connection's drain. */
  readonly #held: HeldBatches[] = [];
  #heldBytes = 0;
  #heldOverflowing = false;
  /** Whether the `write` being built published on the feed. */
  #buildPublishes = false;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #prefix: string;
  readonly #feedChannel: string;
  readonly #myChannel: string;
  readonly #messageHandlers = new Set<(message: ClusterDirectMessage) => void>();
  readonly #eventHandlers = new Set<(event: ClusterEvent) => void>();
  readonly #unpaidHandlers = new Set<(ending: UnpaidEnding) => void>();
  /**
   * Every instance this one heard of (live ones, owners of sessions, holders of hosts), those declared down,
   * and how many polls each has been missing for. An instance is alive unless declared down: one that just
   * started may not have been polled yet.
   */
  readonly #known = new Set<string>();
  readonly #down = new Set<string>();
  readonly #missing = new Map<string, number>();
  /**
   * The sessions this instance saw deleted (here, or by another instance on the feed) within the last
   * `SESSION_TOMBSTONE_SEC`, oldest first → when their tombstone expires: Redis loses its tombstones when it restarts
   * without persistence, and an instance cut off meanwhile would write such a session back (`#writeBackOwned`).
   */
  readonly #tombstones = new Map<string, number>();
  readonly #pendingHeartbeats = new Map<string, number>();
  readonly #pendingLoads = new Map<string, number>();
  readonly #sharedLoads = new Map<string, number>();
  #buffer: Pending[] | undefined = [];
  /** Direct messages of this turn of the event loop, by target channel: one batch each, published at its end. */
  #outbox = new Map<string, string[]>();
  /** This instance's public HTTP URL, and every live instance's (refreshed each poll). */
  #announced: string | undefined;
  #servers: string[] = [];
  #generation = '';
  #readySinceMs = 0;
  #poller: NodeJS.Timeout | undefined;
  #polling = false;
  #resyncing: Promise<void> | undefined;
  #closed = false;

  private constructor(params: OpenRedisSignalingStoreParameters, cmd: Redis, sub: Redis) {
    this.instanceId = params.instanceId ?? randomBytes(4).toString('hex');
    if (!/^[a-z0-9]{1,32}$/.test(this.instanceId)) {
      throw new AthError({ code: 'ATH_ERR_REDIS', shortMessage: 'instance ids are 1–32 lowercase letters or digits' });
    }
    this.#log = params.log.child({ mod: 'signaling/store/redis', instance: this.instanceId });
    this.#now = params.now ?? Date.now;
    this.#prefix = params.prefix ?? 'ath:';
    this.#feedChannel = `${this.#prefix}feed`;
    this.#myChannel = `${this.#prefix}to:${this.instanceId}`;
    this.#cmd = cmd;
    this.#sub = sub;
    this.#relay =
      params.relayPublisher === false
        ? undefined
        : new RelayPublisher({
            url: typeof params.relayPublisher === 'object' ? params.relayPublisher.url : params.url,
            log: params.log,
            connectionName: 'ath-signaling-relay',
          });
    this.hosts = new SharedHosts(this);
    this.sessions = new SharedSessions(this);
    this.queue = new SharedQueue(this);
    this.measurements = this.#local.measurements;
    this.meters = {
      // Refused once the session was deleted (SAVE_METER): a late save does not outlive the session.
      save: (sessionId, state) => {
        if (this.#closed) return;
        this.eval(
          SAVE_METER,
          [this.key('meter'), this.key(`gone:${sessionId}`)],
          [sessionId, JSON.stringify(state)],
        ).catch((error: unknown) => this.#log.warn({ err: error }, 'write to Redis failed'));
      },
      load: async (sessionId) => {
        const raw = await this.#cmd.hget(this.key('meter'), sessionId);
        return raw ? parseMeterStateWire(raw) : undefined;
      },
      delete: (sessionId) => this.write((pipeline) => pipeline.hdel(this.key('meter'), sessionId)),
    };
    this.prefixes = {
      get: (prefix) => this.#local.prefixes.get(prefix),
      put: (prefix, location) => {
        this.#local.prefixes.put(prefix, location);
        const rounded = { ...location, lat: round4(location.lat), lon: round4(location.lon) };
        this.write((pipeline) => {
          pipeline.hset(this.key('geo'), prefix, JSON.stringify(rounded));
          this.publish(pipeline, { k: 'prefix', o: this.instanceId, prefix, location: rounded });
        });
      },
    };
    this.drains = new SharedDrains(this);
    this.limits = new ClusterLimits({
      redis: cmd,
      prefix: this.#prefix,
      instanceId: this.instanceId,
      log: params.log,
      ...(params.limitsLeaseMs ? { leaseMs: params.limitsLeaseMs } : {}),
    });
    this.unpaidEndings = {
      share: (ending) =>
        this.write((pipeline) => this.publish(pipeline, { k: 'unpaid', o: this.instanceId, ...ending })),
      onEnding: (handler) => {
        this.#unpaidHandlers.add(handler);
        return () => this.#unpaidHandlers.delete(handler);
      },
    };
    this.cluster = {
      isAlive: (instanceId) => this.isAlive(instanceId),
      checkAlive: async (instanceId) => {
        if (instanceId === this.instanceId) return true;
        const counts = (await this.#cmd.pubsub('NUMSUB', `${this.#prefix}to:${instanceId}`)) as Array<string | number>;
        return Number(counts[1] ?? 0) > 0;
      },
      send: (instanceId, message) => this.#send(instanceId, message),
      onMessage: (handler) => {
        this.#messageHandlers.add(handler);
        return () => this.#messageHandlers.delete(handler);
      },
      onEvent: (handler) => {
        this.#eventHandlers.add(handler);
        return () => this.#eventHandlers.delete(handler);
      },
      claimSession: (sessionId, expected) => this.#claimSession(sessionId, expected),
      movedAway: (sessionId, owner) => this.#movedAway(sessionId, owner),
      announce: (httpUrl) => {
        this.#announced = httpUrl;
        this.write((pipeline) => pipeline.hset(this.key('instances'), this.instanceId, httpUrl));
      },
      servers: () => this.#servers,
    };
  }

  /** Connects, loads the network's state and starts following its changes. */
  static async open(params: OpenRedisSignalingStoreParameters): Promise<RedisSignalingStore> {
    const options = {
      lazyConnect: true,
      maxRetriesPerRequest: 2,
      commandTimeout: 3_000,
      retryStrategy: (attempt: number) => Math.min(100 * attempt, 1_000),
    };
    const cmd = new Redis(params.url, { ...options, connectionName: 'ath-signaling' });
    const sub = new Redis(params.url, { ...options, connectionName: 'ath-signaling-sub' });
    for (const client of [cmd, sub]) client.on('error', () => undefined);
    const store = new RedisSignalingStore(params, cmd, sub);
    try {
      await Promise.all([cmd.connect(), sub.connect()]);
      await store.#start(params.pollIntervalMs ?? 500);
    } catch (error) {
      store.#relay?.close();
      cmd.disconnect();
      sub.disconnect();
      throw new AthError({
        code: 'ATH_ERR_REDIS',
        shortMessage: `cannot use Redis at ${redactUrl(params.url)}`,
        cause: error,
        details: error instanceof Error ? error.message : String(error),
      });
    }
    return store;
  }

  // ---- internals shared with the facades below -----------------------------------------------------------

  get local(): MemorySignalingStore {
    return this.#local;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get log(): Logger {
    return this.#log;
  }

  key(name: string): string {
    return `${this.#prefix}${name}`;
  }

  get redis(): Redis {
    return this.#cmd;
  }

  get feedChannel(): string {
    return this.#feedChannel;
  }

  now(): number {
    return this.#now();
  }

  /** Runs writes in one pipeline, in order; a failure is logged (Redis down: the resync repairs it). */
  write(build: (pipeline: ReturnType<Redis['multi']>) => void): void {
    if (this.#closed) return;
    const pipeline = this.#cmd.multi();
    this.#buildPublishes = false;
    build(pipeline);
    const settled = pipeline.exec().then(
      () => true,
      (error: unknown) => {
        this.#log.warn({ err: error }, 'write to Redis failed');
        return this.#answered(error);
      },
    );
    if (this.#buildPublishes) this.#track(settled);
  }

  publish(pipeline: ReturnType<Redis['multi']>, message: ClusterFeedMessage): void {
    this.#buildPublishes = true;
    pipeline.publish(this.#feedChannel, JSON.stringify(message));
  }

  eval(script: string, keys: string[], args: Array<string | number>): Promise<unknown> {
    const reply = this.#cmd.eval(script, keys.length, ...keys, ...args);
    if (script.includes("'PUBLISH'")) {
      this.#track(
        reply.then(
          () => true,
          (error: unknown) => this.#answered(error),
        ),
      );
    }
    return reply;
  }

  /** Counts a command whose feed change direct messages sent after it wait for (`#cmdInFlight`). */
  #track(settled: Promise<boolean>): void {
    this.#cmdInFlight += 1;
    this.#lastCmd = settled.finally(() => {
      this.#cmdInFlight -= 1;
    });
  }

  /**
   * Whether a failed command was answered by Redis (an error reply: it ran, or was refused, in its turn). Any
   * other failure (a timeout, the connection lost) leaves the command connection out of step (`#cmdUnsynced`).
   */
  #answered(error: unknown): boolean {
    if (error instanceof Error && error.name === 'ReplyError') return true;
    this.#markUnsynced();
    return false;
  }

  #markUnsynced(): void {
    this.#cmdFailures += 1;
    if (this.#cmdUnsynced) return;
    this.#cmdUnsynced = true;
    void this.#resyncCommandConnection();
  }

  /** PINGs behind whatever the command connection holds until one is answered with no failure since it was sent. */
  async #resyncCommandConnection(): Promise<void> {
    while (this.#cmdUnsynced && !this.#closed) {
      const failures = this.#cmdFailures;
      const answered = await this.#cmd.ping().then(
        () => true,
        () => false,
      );
      if (answered && failures === this.#cmdFailures) {
        this.#cmdUnsynced = false;
        return;
      }
      if (!answered) await new Promise((resolve) => setTimeout(resolve, 200).unref());
    }
  }

  /** Whether direct messages leave through the reply-less relay connection right now (tests, the bench). */
  get relayPublisherReady(): boolean {
    return this.#relay?.ready ?? false;
  }

  isAlive(instanceId: string): boolean {
    return instanceId === this.instanceId || !this.#down.has(instanceId);
  }

  /** Notes an instance named by a record (a session's owner, a host's connection). */
  know(instanceId: string | undefined): void {
    if (instanceId !== undefined) this.#known.add(instanceId);
  }

  /** The instance a peer id belongs to (`peer-<instanceId>-…`), if it names one. */
  instanceOfPeer(peerId: string | undefined): string | undefined {
    return instanceOfPeer(peerId);
  }

  /** A session deleted in Redis (here or elsewhere): remembered for as long as its tombstone lives. */
  noteDeleted(sessionId: string): void {
    const nowMs = this.#now();
    this.#tombstones.delete(sessionId);
    this.#tombstones.set(sessionId, nowMs + SESSION_TOMBSTONE_SEC * 1000);
    for (const [id, untilMs] of this.#tombstones) {
      if (untilMs > nowMs) break;
      this.#tombstones.delete(id);
    }
  }

  emit(event: ClusterEvent): void {
    for (const handler of this.#eventHandlers) {
      try {
        handler(event);
      } catch (error) {
        this.#log.error({ err: error, event: event.kind }, 'cluster event handler threw');
      }
    }
  }

  queueHeartbeat(hostId: string, load: number, nowMs: number): void {
    this.#pendingHeartbeats.set(hostId, nowMs);
    const shared = this.#sharedLoads.get(hostId);
    if (shared === undefined || Math.abs(shared - load) >= LOAD_SHARE_STEP) this.#pendingLoads.set(hostId, load);
  }

  close(): void {
    if (this.#closed) return;
    clearInterval(this.#poller);
    this.limits.close();
    this.#flushOutbox();
    // Batches still waiting leave now (close cannot wait for answers): on the relay connection while it takes
    // them, behind what it holds; else behind everything on the command connection — which may then overtake
    // what the relay connection still holds.
    for (const held of this.#held.splice(0)) {
      if (this.#cmdUnsynced || this.#relay?.publish(held.batches) !== 'sent') {
        this.#publishOnCommandConnection(held.batches);
      }
    }
    this.#heldBytes = 0;
    this.#flushHeartbeats();
    if (this.#announced) this.write((pipeline) => pipeline.hdel(this.key('instances'), this.instanceId));
    this.#closed = true;
    this.#relay?.close();
    // Let the last writes leave before the connections close.
    void this.#cmd.quit().catch(() => this.#cmd.disconnect());
    this.#sub.disconnect();
  }

  // ---- start, load, follow ----------------------------------------------------------------------------------

  async #start(pollIntervalMs: number): Promise<void> {
    this.#sub.on('message', (channel: string, raw: string) => this.#onChannelMessage(channel, raw));
    await this.#sub.subscribe(this.#feedChannel, this.#myChannel);
    this.#generation = (await this.#cmd.get(this.key('gen'))) ?? '';
    if (!this.#generation) {
      const fresh = randomBytes(8).toString('hex');
      await this.#cmd.set(this.key('gen'), fresh, 'NX');
      this.#generation = (await this.#cmd.get(this.key('gen'))) ?? fresh;
    }
    await this.#loadAll();
    this.#drainBuffer();
    this.#readySinceMs = this.#now();
    await this.#poll();
    this.#cmd.on('ready', () => void this.#onReconnected());
    this.#poller = setInterval(() => void this.#poll(), pollIntervalMs);
    this.#poller.unref();
    this.#log.info({ hosts: this.#local.hosts.size, generation: this.#generation }, 'joined the shared store');
  }

  #onChannelMessage(channel: string, raw: string): void {
    try {
      if (channel === this.#feedChannel) {
        const message = parseClusterFeed(raw);
        if (message.o === this.instanceId) return;
        if (this.#buffer) this.#buffer.push({ kind: 'feed', message });
        else this.#applyFeed(message);
        return;
      }
      if (channel === this.#myChannel) {
        const refused = (error: AthError) => this.#log.warn({ err: error, channel }, 'cluster message refused');
        for (const message of parseClusterDirectBatch(raw, refused)) {
          for (const handler of this.#messageHandlers) {
            try {
              handler(message);
            } catch (error) {
              this.#log.error({ err: error, kind: message.k }, 'cluster message handler threw');
            }
          }
        }
      }
    } catch (error) {
      this.#log.warn({ err: error, channel }, 'cluster message refused');
    }
  }

  #drainBuffer(): void {
    const buffered = this.#buffer ?? [];
    this.#buffer = undefined;
    for (const pending of buffered) this.#applyFeed(pending.message);
  }

  async #loadAll(): Promise<void> {
    const redis = this.#cmd;
    const hostIds = await redis.smembers(this.key('hosts'));
    for (let start = 0; start < hostIds.length; start += 1000) {
      const batch = hostIds.slice(start, start + 1000);
      const pipeline = redis.pipeline();
      for (const hostId of batch) {
        pipeline.get(this.key(`h:${hostId}`));
        pipeline.hgetall(this.key(`slots:${hostId}`));
      }
      const results = (await pipeline.exec()) ?? [];
      batch.forEach((hostId, i) => {
        const raw = results[i * 2]?.[1];
        const slotValues = (results[i * 2 + 1]?.[1] ?? {}) as Record<string, string>;
        if (typeof raw !== 'string') return;
        try {
          const wire = parseHostWire(raw);
          const slots = Array.from({ length: wire.slotCount }, (_, slot) => slotFromValue(slot, slotValues[slot]));
          this.#local.hosts.restore(hostFromWire(wire, slots));
          this.know(instanceOfPeer(wire.peerId ?? undefined));
        } catch (error) {
          this.#log.warn({ err: error, hostId }, 'host record in Redis refused');
        }
      });
    }
    const sessionIds = await redis.smembers(this.key('sessions'));
    for (let start = 0; start < sessionIds.length; start += 1000) {
      const batch = sessionIds.slice(start, start + 1000);
      const raws = batch.length > 0 ? await redis.mget(batch.map((id) => this.key(`s:${id}`))) : [];
      for (const raw of raws) {
        if (!raw) continue;
        try {
          const session = sessionFromWire(parseSessionWire(raw));
          if (this.#tombstones.has(session.id)) this.#forget(session);
          else this.#putLocalSession(session);
        } catch (error) {
          this.#log.warn({ err: error }, 'session record in Redis refused');
        }
      }
    }
    for (const [prefix, raw] of Object.entries(await redis.hgetall(this.key('geo')))) {
      try {
        this.#local.prefixes.put(prefix, parsePrefixLocationWire(raw));
      } catch (error) {
        this.#log.warn({ err: error, prefix }, 'prefix location in Redis refused');
      }
    }
    for (const [provider, raw] of Object.entries(await redis.hgetall(this.key('drains')))) {
      try {
        this.#local.drains.set(provider, drainFromWire(parseDrainWire(raw)));
      } catch (error) {
        this.#log.warn({ err: error, provider }, 'drain record in Redis refused');
      }
    }
    const active = await redis.hgetall(this.key('active'));
    for (const [playerId, sessionId] of Object.entries(active)) this.#local.sessions.setActive(playerId, sessionId);
    for (const game of await redis.smembers(this.key('queues'))) {
      const entries = await redis.zrange(this.key(`q:${game}`), 0, -1, 'WITHSCORES');
      for (let i = 0; i + 1 < entries.length; i += 2) {
        this.#local.queue.enqueue(game, entries[i] as string, Number(entries[i + 1]));
      }
    }
  }

  #putLocalSession(incoming: SessionRecord): void {
    this.#known.add(incoming.owner);
    const existing = this.#local.sessions.get(incoming.id);
    if (!existing) {
      this.#local.sessions.put(incoming);
      return;
    }
    // In place: the hub's closures (timers, pending promises) hold the object.
    const movedAway = existing.owner === this.instanceId && incoming.owner !== this.instanceId;
    const playerPeerId = existing.playerPeerId;
    for (const key of Object.keys(existing) as Array<keyof SessionRecord>) {
      if (!(key in incoming)) delete existing[key];
    }
    Object.assign(existing, incoming);
    if (movedAway) {
      this.emit({ kind: 'sessionMoved', sessionId: incoming.id, ...(playerPeerId ? { playerPeerId } : {}) });
    }
  }

  /** Replaces this instance's copy of a session with the record in Redis (when there is one and Redis answers). */
  refreshSession(sessionId: string): void {
    if (this.#closed) return;
    this.#cmd
      .get(this.key(`s:${sessionId}`))
      .then((raw) => {
        if (raw && !this.#closed) this.#putLocalSession(sessionFromWire(parseSessionWire(raw)));
      })
      .catch((error: unknown) => this.#log.debug({ err: error, sessionId }, 'session not reloaded from Redis'));
  }

  /**
   * Replaces this instance's copy of a host (record and slots) with what Redis holds, when Redis holds it: a change
   * from this copy was refused, the host registered again elsewhere since.
   */
  refreshHost(hostId: string): void {
    if (this.#closed) return;
    this.#cmd
      .multi()
      .get(this.key(`h:${hostId}`))
      .hgetall(this.key(`slots:${hostId}`))
      .exec()
      .then((results) => {
        const raw = results?.[0]?.[1];
        const slotValues = (results?.[1]?.[1] ?? {}) as Record<string, string>;
        if (typeof raw !== 'string' || this.#closed) return;
        const wire = parseHostWire(raw);
        const slots = Array.from({ length: wire.slotCount }, (_, slot) => slotFromValue(slot, slotValues[slot]));
        this.#local.hosts.restore(hostFromWire(wire, slots));
        this.know(instanceOfPeer(wire.peerId ?? undefined));
        this.emit({ kind: 'capacity' });
      })
      .catch((error: unknown) => this.#log.debug({ err: error, hostId }, 'host not reloaded from Redis'));
  }

  /**
   * The ledger says `owner` runs this session now (this instance may not hear Redis): the copy names it, the
   * player connection it had here is forgotten, and nothing is written — the owner's record in Redis stands.
   */
  #movedAway(sessionId: string, owner: string): void {
    const session = this.#local.sessions.get(sessionId);
    if (!session || session.owner !== this.instanceId || owner === this.instanceId) return;
    const { playerPeerId } = session;
    session.owner = owner;
    session.playerPeerId = undefined;
    this.know(owner);
    this.#log.warn({ sessionId, owner }, 'another instance runs this session now: left to it');
    this.emit({ kind: 'sessionMoved', sessionId, ...(playerPeerId ? { playerPeerId } : {}) });
    this.refreshSession(sessionId);
  }

  #applyFeed(message: ClusterFeedMessage): void {
    const local = this.#local;
    switch (message.k) {
      case 'host': {
        const existing = local.hosts.get(message.host.hostId);
        const slots = Array.from(
          { length: message.host.slotCount },
          (_, slot): SlotRecord => existing?.slots[slot] ?? { slot, state: 'free', sessionId: undefined },
        );
        local.hosts.restore(hostFromWire(message.host, slots));
        this.know(instanceOfPeer(message.host.peerId ?? undefined));
        this.emit({ kind: 'capacity' });
        return;
      }
      case 'hostPatch': {
        local.hosts.update(message.hostId, patchFromWire(message.patch));
        return;
      }
      case 'hostRemoved':
        local.hosts.remove(message.hostId);
        return;
      case 'stake':
        local.hosts.setStake(message.hostId, BigInt(message.stakeWei));
        return;
      case 'slot': {
        const slot = slotFromValue(message.slot, message.v);
        local.hosts.setSlot(message.hostId, message.slot, slot.state, slot.sessionId);
        if (slot.state === 'free') this.emit({ kind: 'capacity' });
        return;
      }
      case 'slotsFree':
        local.hosts.releaseAll(message.hostId);
        this.emit({ kind: 'capacity' });
        return;
      case 'loads':
        for (const [hostId, load] of Object.entries(message.loads)) {
          local.hosts.setLoad(hostId, load);
        }
        return;
      case 'session':
        this.#putLocalSession(sessionFromWire(message.session));
        return;
      case 'sessionDeleted':
        local.sessions.delete(message.sessionId);
        this.noteDeleted(message.sessionId);
        return;
      case 'active': {
        if (message.sessionId) local.sessions.setActive(message.playerId, message.sessionId);
        else {
          const current = local.sessions.activeOf(message.playerId);
          if (current) local.sessions.clearActive(message.playerId, current);
        }
        return;
      }
      case 'queued':
        local.queue.enqueue(message.game, message.sessionId, message.score);
        return;
      case 'unqueued':
        if (local.queue.remove(message.game, message.sessionId)) this.emit({ kind: 'capacity' });
        return;
      case 'prefix':
        local.prefixes.put(message.prefix, message.location);
        return;
      case 'drain':
        if (message.drain) local.drains.set(message.provider.toLowerCase(), drainFromWire(message.drain));
        else local.drains.delete(message.provider.toLowerCase());
        return;
      case 'unpaid':
        for (const handler of this.#unpaidHandlers) {
          try {
            handler({ addressKey: message.addressKey, playerId: message.playerId, atMs: message.atMs });
          } catch (error) {
            this.#log.error({ err: error }, 'unpaid ending handler threw');
          }
        }
        return;
    }
  }

  // ---- liveness, heartbeats -----------------------------------------------------------------------------------

  async #poll(): Promise<void> {
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    try {
      this.#flushHeartbeats();
      const channels = (await this.#cmd.pubsub('CHANNELS', `${this.#prefix}to:*`)) as string[];
      const seen = new Set(channels.map((channel) => channel.slice(`${this.#prefix}to:`.length)));
      for (const instanceId of seen) {
        this.#known.add(instanceId);
        this.#missing.delete(instanceId);
        if (this.#down.delete(instanceId)) this.#log.info({ up: instanceId }, 'signaling instance back');
      }
      const announced = await this.#cmd.hgetall(this.key('instances'));
      if (this.#announced && announced[this.instanceId] !== this.#announced) {
        await this.#cmd.hset(this.key('instances'), this.instanceId, this.#announced);
      }
      this.#servers = Object.entries(announced)
        .filter(([instanceId]) => instanceId !== this.instanceId && seen.has(instanceId))
        .map(([, url]) => url);
      // Our own subscription missing means our connection to Redis is not back yet: judge nobody.
      if (!seen.has(this.instanceId) || this.#now() - this.#readySinceMs < 2_000) return;
      for (const instanceId of this.#known) {
        if (seen.has(instanceId) || this.#down.has(instanceId)) continue;
        const polls = (this.#missing.get(instanceId) ?? 0) + 1;
        this.#missing.set(instanceId, polls);
        if (polls < DOWN_AFTER_POLLS) continue;
        this.#down.add(instanceId);
        this.#missing.delete(instanceId);
        this.#log.warn({ down: instanceId }, 'signaling instance down');
        this.#orphanHostsOf(instanceId);
        this.emit({ kind: 'instanceDown', instanceId });
      }
    } catch (error) {
      this.#log.debug({ err: error }, 'liveness poll failed');
    } finally {
      this.#polling = false;
    }
  }

  /** The hosts a dead instance held get a full heartbeat deadline, from now, to come back elsewhere. */
  #orphanHostsOf(instanceId: string): void {
    const nowMs = this.#now();
    for (const host of this.#local.hosts.all()) {
      if (this.instanceOfPeer(host.peerId) === instanceId) host.lastHeartbeatMs = nowMs;
    }
  }

  #flushHeartbeats(): void {
    if (this.#pendingHeartbeats.size === 0 && this.#pendingLoads.size === 0) return;
    const heartbeats = [...this.#pendingHeartbeats];
    const loads = [...this.#pendingLoads];
    this.#pendingHeartbeats.clear();
    this.#pendingLoads.clear();
    this.write((pipeline) => {
      for (let start = 0; start < heartbeats.length; start += LOAD_BATCH) {
        const members = heartbeats.slice(start, start + LOAD_BATCH).flatMap(([hostId, atMs]) => [atMs, hostId]);
        pipeline.zadd(this.key('hb'), ...members);
      }
      for (let start = 0; start < loads.length; start += LOAD_BATCH) {
        const batch = Object.fromEntries(loads.slice(start, start + LOAD_BATCH));
        this.publish(pipeline, { k: 'loads', o: this.instanceId, loads: batch });
      }
    });
    for (const [hostId, load] of loads) this.#sharedLoads.set(hostId, load);
  }

  // ---- Redis restarts --------------------------------------------------------------------------------------

  async #onReconnected(): Promise<void> {
    if (this.#closed || this.#readySinceMs === 0) return;
    this.#readySinceMs = this.#now();
    this.#resyncing ??= this.#resync().finally(() => {
      this.#resyncing = undefined;
    });
  }

  /**
   * After a lost connection: if Redis lost its data (the generation key is gone), write back what this
   * instance owns; then, once the others had time to do the same, reload the rest.
   */
  async #resync(): Promise<void> {
    try {
      const generation = await this.#cmd.get(this.key('gen'));
      if (generation !== this.#generation) {
        this.#log.warn({ before: this.#generation, now: generation }, 'Redis lost its state: writing back ours');
        if (!generation) await this.#cmd.set(this.key('gen'), randomBytes(8).toString('hex'), 'NX');
        this.#generation = (await this.#cmd.get(this.key('gen'))) ?? '';
        await this.#writeBackOwned();
        await new Promise((resolve) => setTimeout(resolve, 1_500));
      }
      this.#buffer = [];
      this.#resetLocalForReload();
      await this.#loadAll();
      this.#drainBuffer();
      this.#log.info({ hosts: this.#local.hosts.size }, 'resynced with Redis');
      this.emit({ kind: 'resynced' });
    } catch (error) {
      this.#buffer = undefined;
      this.#log.warn({ err: error }, 'resync with Redis failed; retrying on the next reconnect');
    }
  }

  /**
   * Redis lost its state: the tombstones this instance knows go back first, then the hosts it holds (a slot of a
   * deleted session written back free: `WRITE_BACK_SLOTS`), the drains, and the sessions it owns — each only if it
   * was not deleted meanwhile (`WRITE_BACK_SESSION`: this instance may have been cut off while another took the
   * session over, ended and deleted it; a refused one is dropped from this copy). A copy that wrote a deleted
   * session back before the deleting instance wrote its tombstone is undone at that instance's reload (`#forget`).
   */
  async #writeBackOwned(): Promise<void> {
    const pipeline = this.#cmd.multi();
    const nowMs = this.#now();
    for (const [sessionId, untilMs] of this.#tombstones) {
      const sec = Math.ceil((untilMs - nowMs) / 1000);
      if (sec > 0) pipeline.set(this.key(`gone:${sessionId}`), '1', 'EX', sec);
    }
    for (const host of this.#local.hosts.all()) {
      if (this.instanceOfPeer(host.peerId) !== this.instanceId) continue;
      pipeline.set(this.key(`h:${host.hostId}`), JSON.stringify(hostToWire(host)));
      pipeline.sadd(this.key('hosts'), host.hostId);
      pipeline.eval(
        WRITE_BACK_SLOTS,
        1,
        this.key(`slots:${host.hostId}`),
        this.key('gone:'),
        ...host.slots.flatMap((slot) => [String(slot.slot), slotValue(slot)]),
      );
    }
    // Drains are everyone's: each instance writes back those it knows (the same records; the ledger has them too).
    for (const [provider, drain] of [...this.#local.drains.keys()].map(
      (p) => [p, this.#local.drains.get(p)] as const,
    )) {
      if (drain) pipeline.hset(this.key('drains'), provider, JSON.stringify(drainToWire(drain)));
    }
    await pipeline.exec();
    const owned = [...this.#local.sessions.all()].filter((session) => session.owner === this.instanceId);
    if (owned.length === 0) return;
    const sessions = this.#cmd.multi();
    for (const session of owned) {
      const live = session.state !== 'ended';
      const active = live && this.#local.sessions.activeOf(session.playerId) === session.id ? session.playerId : '';
      const queued = live && session.state === 'queued' ? session.game : '';
      sessions.eval(
        WRITE_BACK_SESSION,
        7,
        this.key(`s:${session.id}`),
        this.key('sessions'),
        this.key('own'),
        this.key(`gone:${session.id}`),
        this.key('active'),
        this.key(`q:${session.game}`),
        this.key('queues'),
        session.id,
        session.owner,
        JSON.stringify(sessionToWire(session)),
        active,
        queued,
        session.queuedAtMs ?? 0,
      );
    }
    const results = (await sessions.exec()) ?? [];
    owned.forEach((session, i) => {
      if (Number(results[i]?.[1]) !== 0) return;
      this.#log.warn(
        { sessionId: session.id },
        'session not written back: it was deleted while this instance was away',
      );
      this.#local.sessions.delete(session.id);
      this.noteDeleted(session.id);
    });
  }

  /** A session this instance saw deleted, back in Redis after a restart (see `FORGET_SESSION`): deleted again. */
  #forget(session: SessionRecord): void {
    this.#log.warn(
      { sessionId: session.id, owner: session.owner },
      'a deleted session was written back after Redis restarted: deleted again',
    );
    const hostId = session.hostId ?? '';
    const slot = session.slot === undefined ? '' : String(session.slot);
    const held = hostId && slot ? this.#local.hosts.get(hostId)?.slots[session.slot ?? -1] : undefined;
    if (held?.sessionId === session.id) this.#local.hosts.setSlot(hostId, held.slot, 'free', undefined);
    const feed: ClusterFeedMessage = { k: 'sessionDeleted', o: this.instanceId, sessionId: session.id };
    this.eval(
      FORGET_SESSION,
      [
        this.key('own'),
        this.key(`s:${session.id}`),
        this.key('sessions'),
        this.key(`gone:${session.id}`),
        this.key('meter'),
        this.key('active'),
        this.key(`slots:${hostId}`),
      ],
      [
        session.id,
        SESSION_TOMBSTONE_SEC,
        session.playerId,
        slot,
        this.#feedChannel,
        JSON.stringify(feed),
        this.instanceId,
        hostId,
      ],
    ).catch((error: unknown) => this.#log.warn({ err: error }, 'write to Redis failed'));
  }

  /** Drops what other instances own from the copy before reloading it; what this one owns stays. */
  #resetLocalForReload(): void {
    const local = this.#local;
    // Drains come back from Redis (written back by every instance if Redis lost them); one lifted meanwhile goes.
    local.drains.clear();
    for (const session of [...local.sessions.all()]) {
      if (session.owner !== this.instanceId) local.sessions.delete(session.id);
    }
    for (const game of [...local.queue.games()]) {
      for (const sessionId of [...local.queue.waiting(game)]) {
        if (local.sessions.get(sessionId)?.owner !== this.instanceId) local.queue.remove(game, sessionId);
      }
    }
  }

  // ---- direct messages, ownership ----------------------------------------------------------------------------

  /**
   * Queues a direct message; the messages of one turn of the event loop for one instance leave as one batch
   * (one PUBLISH: `encodeClusterDirect`) when the turn ends, the batches for several instances in one write.
   * Relays come in bursts (every frame a socket poll returned): one command per target instead of one per
   * message saves each its Redis command (a promise and a timeout here, a reply to parse, a channel message
   * to dispatch on the receiver) and the system calls and wake-ups behind it, which on a busy machine are most
   * of a relay's cost. A message is only ever sent later than other commands issued in the same turn, never
   * earlier; one instance's messages to another arrive in the order they were sent.
   */
  #send(instanceId: string, message: ClusterDirectMessage): boolean {
    if (this.#closed || !this.isAlive(instanceId)) return false;
    if (this.#outbox.size === 0) setImmediate(() => this.#flushOutbox());
    const channel = `${this.#prefix}to:${instanceId}`;
    const batch = this.#outbox.get(channel);
    if (batch) batch.push(encodeClusterDirect(message));
    else this.#outbox.set(channel, [encodeClusterDirect(message)]);
    return true;
  }

  /**
   * The turn's batches leave in one write on the relay connection (no reply). While a feed change on the command
   * connection is unanswered (see `#cmdInFlight`), the relay connection has too much unsent (`busy`), or earlier
   * batches still wait, they wait too, in order; while the relay connection is down, or the command connection is
   * out of step, they go through the command connection, after what is there.
   */
  #flushOutbox(): void {
    const outbox = this.#outbox;
    if (outbox.size === 0) return;
    this.#outbox = new Map();
    const batches: Array<[string, string]> = [];
    for (const [channel, batch] of outbox) batches.push([channel, batch.join('\n')]);
    if (this.#held.length > 0) {
      this.#hold(batches, this.#lastCmd);
      return;
    }
    const relay = this.#relay;
    if (!relay?.ready || this.#cmdUnsynced) {
      this.#publishOnCommandConnection(batches);
      return;
    }
    if (this.#cmdInFlight > 0) {
      this.#hold(batches, this.#lastCmd);
      return;
    }
    const sent = relay.publish(batches);
    if (sent === 'busy') this.#hold(batches, relay.drained());
    else if (sent === 'down') this.#publishOnCommandConnection(batches);
  }

  /**
   * Queues batches behind those already held. Past `MAX_HELD_BYTES` they are dropped instead (pub/sub delivers at
   * most once anyway; a flood of relays while Redis is slow must not grow this process without bound).
   */
  #hold(batches: Array<[string, string]>, after: Promise<boolean>): void {
    let bytes = 0;
    for (const [channel, payload] of batches) bytes += channel.length + payload.length;
    if (this.#heldBytes + bytes > MAX_HELD_BYTES) {
      if (!this.#heldOverflowing) {
        this.#heldOverflowing = true;
        this.#log.warn(
          { heldBytes: this.#heldBytes },
          'Redis is not taking direct messages fast enough: dropping some',
        );
      }
      return;
    }
    this.#held.push({ batches, after, bytes });
    this.#heldBytes += bytes;
    if (this.#held.length === 1) void this.#releaseHeld();
  }

  /** Sends the held batches in order, each once what it waits for is over; the rest at once when the store closes. */
  async #releaseHeld(): Promise<void> {
    while (this.#held.length > 0 && !this.#closed) {
      const next = this.#held[0] as HeldBatches;
      const answered = await next.after;
      if (this.#held[0] !== next) continue;
      const relay = this.#relay;
      const sent = answered && !this.#cmdUnsynced && relay ? relay.publish(next.batches) : 'down';
      if (sent === 'busy' && relay) {
        next.after = relay.drained();
        continue;
      }
      this.#held.shift();
      this.#heldBytes -= next.bytes;
      if (sent === 'sent') continue;
      // The relay connection is down, or the command connection out of step: this batch and those behind it
      // take the command connection.
      this.#publishOnCommandConnection(next.batches);
      for (const rest of this.#held.splice(0)) this.#publishOnCommandConnection(rest.batches);
      this.#heldBytes = 0;
    }
    if (this.#held.length === 0) this.#heldOverflowing = false;
  }

  #publishOnCommandConnection(batches: Array<[string, string]>): void {
    const failed = (error: unknown) => {
      this.#log.debug({ err: error }, 'cluster messages not sent');
      return this.#answered(error);
    };
    if (batches.length === 1) {
      const [channel, payload] = batches[0] as [string, string];
      this.#track(this.#cmd.publish(channel, payload).then(() => true, failed));
      return;
    }
    const pipeline = this.#cmd.pipeline();
    for (const [channel, payload] of batches) pipeline.publish(channel, payload);
    this.#track(pipeline.exec().then(() => true, failed));
  }

  async #claimSession(sessionId: string, expected: string | undefined): Promise<boolean> {
    const won = await this.eval(
      CLAIM_SESSION,
      [this.key('own'), this.key(`gone:${sessionId}`)],
      [sessionId, this.instanceId, expected ?? ''],
    );
    if (Number(won) !== 1) {
      // Another instance owns it now (or it was deleted): this copy is behind.
      this.refreshSession(sessionId);
      return false;
    }
    const session = this.#local.sessions.get(sessionId);
    if (session) {
      session.owner = this.instanceId;
      this.sessions.put(session);
    }
    return true;
  }
}

// ---- the facades the hub sees --------------------------------------------------------------------------------

/** Drains: read from this instance's copy; a change goes to Redis (hash `drains`) and the feed. */
class SharedDrains implements DrainMap {
  readonly #s: RedisSignalingStore;

  constructor(store: RedisSignalingStore) {
    this.#s = store;
  }

  get size(): number {
    return this.#s.local.drains.size;
  }

  get(providerAddress: string): ProviderDrain | undefined {
    return this.#s.local.drains.get(providerAddress.toLowerCase());
  }

  has(providerAddress: string): boolean {
    return this.#s.local.drains.has(providerAddress.toLowerCase());
  }

  keys(): IterableIterator<string> {
    return this.#s.local.drains.keys();
  }

  set(providerAddress: string, drain: ProviderDrain): void {
    const provider = providerAddress.toLowerCase() as `0x${string}`;
    this.#s.local.drains.set(provider, drain);
    const wire = drainToWire(drain);
    this.#s.write((pipeline) => {
      pipeline.hset(this.#s.key('drains'), provider, JSON.stringify(wire));
      this.#s.publish(pipeline, { k: 'drain', o: this.#s.instanceId, provider, drain: wire });
    });
  }

  delete(providerAddress: string): boolean {
    const provider = providerAddress.toLowerCase() as `0x${string}`;
    const had = this.#s.local.drains.delete(provider);
    this.#s.write((pipeline) => {
      pipeline.hdel(this.#s.key('drains'), provider);
      this.#s.publish(pipeline, { k: 'drain', o: this.#s.instanceId, provider, drain: null });
    });
    return had;
  }
}

function drainToWire(drain: ProviderDrain): DrainWire {
  return {
    providerAddress: drain.providerAddress,
    hostId: drain.hostId,
    reason: drain.reason.slice(0, 2048),
    round: drain.round.toString(),
    drainedAtMs: Math.max(0, Math.floor(drain.drainedAtMs)),
    probationPasses: drain.probationPasses,
  };
}

function drainFromWire(wire: DrainWire): ProviderDrain {
  return { ...wire, providerAddress: wire.providerAddress as `0x${string}`, round: BigInt(wire.round) };
}

class SharedHosts implements HostStore {
  readonly #s: RedisSignalingStore;

  constructor(store: RedisSignalingStore) {
    this.#s = store;
  }

  get #local() {
    return this.#s.local.hosts;
  }

  get size(): number {
    return this.#local.size;
  }

  get(hostId: string): HostRecord | undefined {
    return this.#local.get(hostId);
  }

  all(): IterableIterator<HostRecord> {
    return this.#local.all();
  }

  hostsServing(game: string): ReadonlySet<HostRecord> {
    return this.#local.hostsServing(game);
  }

  hostsOf(providerAddress: string): ReadonlySet<HostRecord> {
    return this.#local.hostsOf(providerAddress);
  }

  providerSlots(providerAddress: string, exceptHostId?: string): number {
    return this.#local.providerSlots(providerAddress, exceptHostId);
  }

  /** Hosts down past the TTL that this instance answers for (as `overdue`). */
  expired(nowMs: number, ttlMs: number): HostRecord[] {
    return this.#local.expired(nowMs, ttlMs).filter((host) => this.#answersFor(host));
  }

  #answersFor(host: HostRecord): boolean {
    const instance = this.#s.instanceOfPeer(host.peerId);
    return instance === undefined || instance === this.#s.instanceId || !this.#s.isAlive(instance);
  }

  maxima(game: string): { maxPriceWei: bigint; maxStakeWei: bigint } {
    return this.#local.maxima(game);
  }

  nearestCells(game: string, point: GeoPoint, count: number): Array<{ cell: GeoCell; distanceKm: number }> {
    return this.#local.nearestCells(game, point, count);
  }

  rankingScale(game: string, weights: StaticWeights): RankingScale {
    return this.#local.rankingScale(game, weights);
  }

  rankedHosts(game: string): RankedHosts | undefined {
    return this.#local.rankedHosts(game);
  }

  games(): Map<string, { info: GameInfoRecord; hostsUp: number; freeSlots: number }> {
    return this.#local.games();
  }

  /**
   * Each registration gets a new `registrationId`: writes from a copy of an older one are refused from now on.
   * Registered in Redis only over the registration this copy knew (`REGISTER_HOST`): refused — the host registered
   * on another instance in the same moment, or while this one was cut off — the copy is reloaded from Redis and
   * `hostTaken` tells the hub that the connection `peerId` does not hold the host.
   */
  register(params: RegisterHostParameters): HostRecord {
    const known = this.#local.get(params.hostId ?? params.message.hostId)?.registrationId ?? '';
    const host = this.#local.register(params);
    host.registrationId = `${this.#s.instanceId}.${randomBytes(6).toString('hex')}`;
    if (this.#s.closed) return host;
    const { hostId, peerId } = host;
    const wire = hostToWire(host);
    const feed: ClusterFeedMessage = { k: 'host', o: this.#s.instanceId, host: wire };
    this.#s
      .eval(
        REGISTER_HOST,
        [this.#s.key(`h:${hostId}`), this.#s.key('hosts'), this.#s.key(`slots:${hostId}`), this.#s.key('hb')],
        [
          known,
          JSON.stringify(wire),
          host.slots.length,
          host.lastHeartbeatMs,
          hostId,
          this.#s.feedChannel,
          JSON.stringify(feed),
        ],
      )
      .then((registered) => {
        if (Number(registered) === 1) return;
        this.#s.log.warn({ hostId, peerId }, 'host not registered: it registered on another instance first');
        this.#s.refreshHost(hostId);
        if (peerId !== undefined) this.#s.emit({ kind: 'hostTaken', hostId, peerId });
      })
      .catch((error: unknown) => this.#s.log.warn({ err: error }, 'write to Redis failed'));
    return host;
  }

  /** Refused by Redis when the host registered again since this copy's registration (`REMOVE_HOST`): reloaded. */
  remove(hostId: string): void {
    const registrationId = this.#local.get(hostId)?.registrationId ?? '';
    this.#local.remove(hostId);
    if (this.#s.closed) return;
    const feed: ClusterFeedMessage = { k: 'hostRemoved', o: this.#s.instanceId, hostId };
    this.#s
      .eval(
        REMOVE_HOST,
        [this.#s.key(`h:${hostId}`), this.#s.key(`slots:${hostId}`), this.#s.key('hosts'), this.#s.key('hb')],
        [registrationId, hostId, this.#s.feedChannel, JSON.stringify(feed)],
      )
      .then((removed) => {
        if (Number(removed) === 1) return;
        this.#s.log.warn({ hostId }, 'host not removed: it registered again elsewhere');
        this.#s.refreshHost(hostId);
      })
      .catch((error: unknown) => this.#s.log.warn({ err: error }, 'write to Redis failed'));
  }

  update(hostId: string, patch: HostPatch): void {
    this.#local.update(hostId, patch);
    const host = this.#local.get(hostId);
    if (!host) return;
    this.#write(host, { k: 'hostPatch', o: this.#s.instanceId, hostId, patch: patchToWire(patch) });
  }

  setStake(hostId: string, stakeWei: bigint): void {
    const host = this.#local.get(hostId);
    if (!host || host.stakeWei === stakeWei) return;
    this.#local.setStake(hostId, stakeWei);
    this.#write(host, { k: 'stake', o: this.#s.instanceId, hostId, stakeWei: weiToString(stakeWei) });
  }

  /**
   * The host's record as this copy has it, written only while Redis holds the registration this copy knows
   * (`UPDATE_HOST`): when the host registered again since — elsewhere, while this instance was cut off, say — the
   * change is dropped and the copy reloaded from Redis.
   */
  #write(host: HostRecord, feed: ClusterFeedMessage): void {
    if (this.#s.closed) return;
    const { hostId } = host;
    this.#s
      .eval(
        UPDATE_HOST,
        [this.#s.key(`h:${hostId}`)],
        [host.registrationId ?? '', JSON.stringify(hostToWire(host)), this.#s.feedChannel, JSON.stringify(feed)],
      )
      .then((written) => {
        if (Number(written) !== -1) return;
        this.#s.log.warn({ hostId }, 'host record not written: the host registered again elsewhere');
        this.#s.refreshHost(hostId);
      })
      .catch((error: unknown) => this.#s.log.warn({ err: error }, 'write to Redis failed'));
  }

  heartbeat(hostId: string, load: number, nowMs: number): void {
    this.#local.heartbeat(hostId, load, nowMs);
    this.#s.queueHeartbeat(hostId, load, nowMs);
  }

  /**
   * Overdue hosts this instance answers for: those connected to it, and those of an instance that went down
   * (their deadline started when it did). Hosts on other live instances are theirs to judge.
   */
  overdue(nowMs: number, deadlineMs: number): HostRecord[] {
    return this.#local.overdue(nowMs, deadlineMs).filter((host) => {
      const instance = this.#s.instanceOfPeer(host.peerId);
      return instance === undefined || instance === this.#s.instanceId || !this.#s.isAlive(instance);
    });
  }

  async tryLease(hostId: string, slot: number, sessionId: string): Promise<boolean> {
    const record = this.#local.get(hostId)?.slots[slot];
    if (record?.state !== 'free') return false;
    // Taken here at once, so that this instance's next pick does not choose it while Redis decides.
    this.#local.setSlot(hostId, slot, 'leased', sessionId);
    try {
      const result = String(
        await this.#s.eval(
          LEASE_SLOT,
          [this.#s.key(`slots:${hostId}`)],
          [slot, sessionId, this.#s.feedChannel, this.#s.instanceId, hostId],
        ),
      );
      if (result === 'ok') return true;
      const holder = result === 'missing' ? undefined : slotFromValue(slot, result);
      this.#revert(hostId, slot, sessionId, holder);
      return false;
    } catch (error) {
      this.#revert(hostId, slot, sessionId, undefined);
      throw error;
    }
  }

  #revert(hostId: string, slot: number, sessionId: string, holder: SlotRecord | undefined): void {
    const current = this.#local.get(hostId)?.slots[slot];
    if (current?.sessionId !== sessionId) return;
    this.#local.setSlot(hostId, slot, holder?.state ?? 'free', holder?.sessionId);
  }

  confirm(hostId: string, slot: number, sessionId: string): void {
    this.#local.confirm(hostId, slot, sessionId);
    this.#slotScript(CONFIRM_SLOT, hostId, slot, sessionId);
  }

  release(hostId: string, slot: number, sessionId: string): boolean {
    const released = this.#local.release(hostId, slot, sessionId);
    // With the session's owner as this instance knows it: Redis refuses it if another instance owns it now.
    const owner = this.#s.local.sessions.get(sessionId)?.owner ?? '';
    this.#s
      .eval(
        RELEASE_SLOT,
        [this.#s.key(`slots:${hostId}`), this.#s.key('own')],
        [slot, sessionId, this.#s.feedChannel, this.#s.instanceId, hostId, owner],
      )
      .catch(() => undefined);
    return released;
  }

  /**
   * Each slot this instance saw taken goes with its session and that session's owner as known here: Redis frees
   * only what is still that (or ownerless, or a dead instance's) — see `RELEASE_ALL_SLOTS`. The slots it keeps
   * (another instance leased them, or took their session over, while this one did not hear) are put back here.
   */
  releaseAll(hostId: string): string[] {
    const seen: Array<string | number> = [];
    for (const slot of this.#local.get(hostId)?.slots ?? []) {
      if (!slot.sessionId) continue;
      seen.push(slot.slot, slot.sessionId, this.#s.local.sessions.get(slot.sessionId)?.owner ?? '');
    }
    const sessions = this.#local.releaseAll(hostId);
    this.#s
      .eval(
        RELEASE_ALL_SLOTS,
        [this.#s.key(`slots:${hostId}`), this.#s.key('own')],
        [this.#s.feedChannel, this.#s.instanceId, hostId, this.#s.key('to:'), ...seen],
      )
      .then((kept) => {
        const values = (kept as string[] | null) ?? [];
        for (let i = 0; i + 1 < values.length; i += 2) {
          const slot = slotFromValue(Number(values[i]), String(values[i + 1]));
          this.#local.setSlot(hostId, slot.slot, slot.state, slot.sessionId);
        }
        if (values.length > 0) {
          this.#s.log.warn({ hostId, kept: values.length / 2 }, 'slots kept: other instances hold them now');
        }
      })
      .catch(() => undefined);
    return sessions;
  }

  #slotScript(script: string, hostId: string, slot: number, sessionId: string): void {
    this.#s
      .eval(
        script,
        [this.#s.key(`slots:${hostId}`)],
        [slot, sessionId, this.#s.feedChannel, this.#s.instanceId, hostId],
      )
      .catch(() => undefined);
  }
}

class SharedSessions implements SessionStore {
  readonly #s: RedisSignalingStore;

  constructor(store: RedisSignalingStore) {
    this.#s = store;
  }

  get(sessionId: string): SessionRecord | undefined {
    return this.#s.local.sessions.get(sessionId);
  }

  all(): IterableIterator<SessionRecord> {
    return this.#s.local.sessions.all();
  }

  activeOf(playerId: string): string | undefined {
    return this.#s.local.sessions.activeOf(playerId);
  }

  /**
   * Written only while Redis names the same owner as the record (`PUT_SESSION`): refused, this instance's copy is
   * stale — another instance took the session over — and is replaced by the record in Redis.
   */
  put(session: SessionRecord): void {
    this.#s.local.sessions.put(session);
    if (this.#s.closed) return;
    const wire = sessionToWire(session);
    const feed: ClusterFeedMessage = { k: 'session', o: this.#s.instanceId, session: wire };
    this.#s
      .eval(
        PUT_SESSION,
        [
          this.#s.key('own'),
          this.#s.key(`s:${session.id}`),
          this.#s.key('sessions'),
          this.#s.key(`gone:${session.id}`),
        ],
        [session.id, session.owner, JSON.stringify(wire), this.#s.feedChannel, JSON.stringify(feed)],
      )
      .then((written) => {
        if (Number(written) === 1) return;
        if (Number(written) === -1) {
          // Deleted by another instance (which had taken it over) while this one did not hear: gone here too.
          this.#s.log.warn({ sessionId: session.id }, 'session record not written: the session was deleted');
          this.#s.local.sessions.delete(session.id);
          this.#s.noteDeleted(session.id);
          return;
        }
        this.#s.log.warn(
          { sessionId: session.id, owner: session.owner },
          'session record not written: another instance owns it now',
        );
        this.#s.refreshSession(session.id);
      })
      .catch((error: unknown) => this.#s.log.warn({ err: error }, 'write to Redis failed'));
  }

  /**
   * Deleted in Redis only under the owner this copy names (`DELETE_SESSION`), leaving a tombstone for
   * `SESSION_TOMBSTONE_SEC` so that a stale copy's write cannot bring the session back. Refused (another instance
   * took the session over), the copy is reloaded from Redis.
   */
  delete(sessionId: string): void {
    const session = this.#s.local.sessions.get(sessionId);
    if (!session) return;
    this.#s.local.sessions.delete(sessionId);
    if (this.#s.closed) return;
    const feed: ClusterFeedMessage = { k: 'sessionDeleted', o: this.#s.instanceId, sessionId };
    this.#s
      .eval(
        DELETE_SESSION,
        [
          this.#s.key('own'),
          this.#s.key(`s:${sessionId}`),
          this.#s.key('sessions'),
          this.#s.key(`gone:${sessionId}`),
          this.#s.key('meter'),
        ],
        [sessionId, session.owner, SESSION_TOMBSTONE_SEC, this.#s.feedChannel, JSON.stringify(feed)],
      )
      .then((deleted) => {
        if (Number(deleted) === 1) {
          this.#s.noteDeleted(sessionId);
          return;
        }
        this.#s.log.warn({ sessionId }, 'session not deleted: another instance owns it now');
        this.#s.refreshSession(sessionId);
      })
      .catch((error: unknown) => this.#s.log.warn({ err: error }, 'write to Redis failed'));
  }

  /** Refused by Redis when another instance owns the session now (`SET_ACTIVE`): the copy is reloaded then. */
  setActive(playerId: string, sessionId: string): void {
    this.#s.local.sessions.setActive(playerId, sessionId);
    const feed: ClusterFeedMessage = { k: 'active', o: this.#s.instanceId, playerId, sessionId };
    this.#activeScript(SET_ACTIVE, playerId, sessionId, feed);
  }

  /**
   * Cleared in Redis only while the player's active session there is still this one, run by the owner this
   * instance knows (`CLEAR_ACTIVE`): a stale clear leaves what another instance runs, and the copy is reloaded.
   */
  clearActive(playerId: string, sessionId: string): void {
    if (this.#s.local.sessions.activeOf(playerId) !== sessionId) return;
    this.#s.local.sessions.clearActive(playerId, sessionId);
    const feed: ClusterFeedMessage = { k: 'active', o: this.#s.instanceId, playerId, sessionId: null };
    this.#activeScript(CLEAR_ACTIVE, playerId, sessionId, feed);
  }

  #activeScript(script: string, playerId: string, sessionId: string, feed: ClusterFeedMessage): void {
    if (this.#s.closed) return;
    const owner = this.#s.local.sessions.get(sessionId)?.owner ?? '';
    this.#s
      .eval(
        script,
        [this.#s.key('active'), this.#s.key('own'), this.#s.key(`gone:${sessionId}`)],
        [playerId, sessionId, owner, this.#s.feedChannel, JSON.stringify(feed)],
      )
      .then(async (done) => {
        if (Number(done) === 1 || this.#s.closed) return;
        this.#s.log.warn({ sessionId }, 'active session not changed: another instance runs the player’s session now');
        const current = await this.#s.redis.hget(this.#s.key('active'), playerId);
        const local = this.#s.local.sessions;
        const mine = local.activeOf(playerId);
        if (current) local.setActive(playerId, current);
        else if (mine) local.clearActive(playerId, mine);
      })
      .catch((error: unknown) => this.#s.log.warn({ err: error }, 'write to Redis failed'));
  }
}

class SharedQueue implements QueueStore {
  readonly #s: RedisSignalingStore;

  constructor(store: RedisSignalingStore) {
    this.#s = store;
  }

  get length(): number {
    return this.#s.local.queue.length;
  }

  enqueue(game: string, sessionId: string): number {
    // Ordered by when the player was queued, so that every instance's copy has the same order.
    const score = this.#s.local.sessions.get(sessionId)?.queuedAtMs ?? this.#s.now();
    const known = this.#s.local.queue.position(game, sessionId);
    const position = this.#s.local.queue.enqueue(game, sessionId, score);
    if (known === undefined) {
      this.#s.write((pipeline) => {
        pipeline.zadd(this.#s.key(`q:${game}`), score, sessionId);
        pipeline.sadd(this.#s.key('queues'), game);
        this.#s.publish(pipeline, { k: 'queued', o: this.#s.instanceId, game, sessionId, score });
      });
    }
    return position;
  }

  remove(game: string, sessionId: string): boolean {
    const removed = this.#s.local.queue.remove(game, sessionId);
    if (removed) {
      this.#s.write((pipeline) => {
        pipeline.zrem(this.#s.key(`q:${game}`), sessionId);
        this.#s.publish(pipeline, { k: 'unqueued', o: this.#s.instanceId, game, sessionId });
      });
    }
    return removed;
  }

  position(game: string, sessionId: string): number | undefined {
    return this.#s.local.queue.position(game, sessionId);
  }

  first(game: string): string | undefined {
    return this.#s.local.queue.first(game);
  }

  size(game: string): number {
    return this.#s.local.queue.size(game);
  }

  waiting(game: string): Iterable<string> {
    return this.#s.local.queue.waiting(game);
  }

  games(): IterableIterator<string> {
    return this.#s.local.queue.games();
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

function round4(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

/** A host patch on the feed: `undefined` travels as `null` (JSON has no undefined). */
function patchToWire(patch: HostPatch): HostPatchWireRecord {
  const wire: HostPatchWireRecord = {};
  for (const [key, value] of Object.entries(patch) as Array<[keyof HostPatch, unknown]>) {
    (wire as Record<string, unknown>)[key] = value === undefined ? null : value;
  }
  return wire;
}

function patchFromWire(wire: HostPatchWireRecord): HostPatch {
  const patch: HostPatch = {};
  for (const [key, value] of Object.entries(wire)) {
    (patch as Record<string, unknown>)[key] = value === null ? undefined : value;
  }
  return patch;
}
