/**
 * Per-address limits counted for the whole network when several signaling instances share one Redis (issue 16's
 * store): an attacker who spreads its connections or Plays over N instances behind one name must not get N times
 * the limit, and a provider whose signed receipts players contradict must not escape its drain because the
 * players' sessions were metered on different instances.
 *
 * Each instance keeps its own places in a hash (`lim:c:<instance>` open connections, `lim:s:<instance>` live
 * sessions; field = the address's keyed hash, never the address) and its lease in `lim:alive` (zset instance →
 * lease end, Redis's clock). An admission is one Lua script: it sums the address's places over the instances whose
 * lease runs, refuses at the limit, else adds one place here — atomic, so a burst spread over the instances cannot
 * pass the limit together. An instance that dies stops renewing its lease: the first admission after the lease
 * ends drops its hashes (its counts never lock anyone out for longer than `leaseMs`), and the hub forgets an
 * instance at once when the store sees it go down.
 *
 * This instance's own places are also kept here, in memory: the callers' per-instance checks come first (the
 * fast path), and when Redis is unreachable (not connected, an error, no answer within `timeoutMs`) an admission
 * falls back to them — the limits hold per instance, the outage is logged and counted (`onDegraded`), and when
 * Redis answers again the instance writes its places back (`lim:*:<instance>` rewritten from memory).
 *
 * Also: new connections per address and second as one token bucket for the network (`lim:u:<address>`), the
 * distinct payers whose sessions contradicted a provider's receipts (`lim:x:<provider>`, payer → time, kept for
 * the window), and the HTTP API's requests per address and minute (`lim:h:<route>-<address>`, a fixed window).
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RateSettings } from '../../admission/TokenBucket.js';
import type { SharedAdmission, SharedLimits, SharedPlaceKind } from '../SignalingStore.js';

/** KEYS[1] alive zset; ARGV base, kind letter, me, address, max, leaseMs, bucket rate/s (0: none), bucket burst. */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local base, kind, me, key = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local max, lease = tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZADD', KEYS[1], now + lease, me)
local total = 0
local ids = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #ids, 2 do
  local id = ids[i]
  if tonumber(ids[i + 1]) < now then
    redis.call('ZREM', KEYS[1], id)
    redis.call('DEL', base .. 'c:' .. id, base .. 's:' .. id)
  else
    total = total + tonumber(redis.call('HGET', base .. kind .. ':' .. id, key) or '0')
  end
end
if total >= max then return {0, total, 0} end
local rate = tonumber(ARGV[7])
if rate > 0 then
  local burst = tonumber(ARGV[8])
  local bucket = base .. 'u:' .. key
  local held = redis.call('HMGET', bucket, 't', 'ms')
  local tokens = tonumber(held[1]) or burst
  local last = tonumber(held[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - last) * rate / 1000)
  if tokens < 1 then return {0, total, math.ceil((1 - tokens) * 1000 / rate)} end
  redis.call('HSET', bucket, 't', tostring(tokens - 1), 'ms', now)
  redis.call('PEXPIRE', bucket, math.ceil(burst * 1000 / rate) + 1000)
end
local mine = base .. kind .. ':' .. me
redis.call('HINCRBY', mine, key, 1)
redis.call('PEXPIRE', mine, lease)
return {1, total + 1, 0}
`;

/** ARGV base, kind letter, me, address → places left here. */
const RELEASE = `
local mine = ARGV[1] .. ARGV[2] .. ':' .. ARGV[3]
local left = redis.call('HINCRBY', mine, ARGV[4], -1)
if left <= 0 then redis.call('HDEL', mine, ARGV[4]) end
return left
`;

/** KEYS[1] alive zset; ARGV base, me, leaseMs → {connections hash exists, sessions hash exists}. */
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
local c = redis.call('PEXPIRE', ARGV[1] .. 'c:' .. ARGV[2], ARGV[3])
local s = redis.call('PEXPIRE', ARGV[1] .. 's:' .. ARGV[2], ARGV[3])
return {c, s}
`;

/** KEYS[1] the provider's hash; ARGV payer, atMs, windowMs → distinct payers within the window. */
const CONTRADICTION = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local since = tonumber(ARGV[2]) - tonumber(ARGV[3])
local n = 0
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) <= since then redis.call('HDEL', KEYS[1], all[i]) else n = n + 1 end
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return n
`;

/** KEYS[1] the window's counter; ARGV windowMs → {requests in the window, ms left}. */
const REQUEST = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}
`;

const KIND_LETTER: Record<SharedPlaceKind, string> = { connections: 'c', sessions: 's' };
/** A degraded limit is logged at most this often (each time is counted). */
const DEGRADED_LOG_INTERVAL_MS = 10_000;

export type ClusterLimitsParameters = {
  redis: Redis;
  /** The store's key prefix (`ath:`): the instances of one network. */
  prefix: string;
  instanceId: string;
  log: Logger;
  /** How long a place counts after its instance was last heard of (a crashed instance's places). Default 15 s. */
  leaseMs?: number;
  /** An admission Redis has not answered within this falls back to the per-instance limits. Default 250 ms. */
  timeoutMs?: number;
};

export class ClusterLimits implements SharedLimits {
  readonly #redis: Redis;
  readonly #base: string;
  readonly #aliveKey: string;
  readonly #me: string;
  readonly #log: Logger;
  readonly #leaseMs: number;
  readonly #timeoutMs: number;
  /** This instance's places, by kind and address key: what Redis should hold under `lim:<kind>:<me>`. */
  readonly #held: Record<SharedPlaceKind, Map<string, number>> = { connections: new Map(), sessions: new Map() };
  readonly #degradedListeners = new Set<(limit: string, why: string) => void>();
  readonly #lastLoggedMs = new Map<string, number>();
  readonly #renewer: NodeJS.Timeout;
  readonly #onReady: () => void;
  /** Redis may hold other counts than `#held` (a write failed, Redis restarted): rewrite them at the next renewal. */
  #dirty = false;
  #inFlight = 0;
  #renewing = false;
  #closed = false;

  constructor({ redis, prefix, instanceId, log, leaseMs = 15_000, timeoutMs = 250 }: ClusterLimitsParameters) {
    this.#redis = redis;
    this.#base = `${prefix}lim:`;
    this.#aliveKey = `${prefix}lim:alive`;
    this.#me = instanceId;
    this.#log = log.child({ mod: 'signaling/store/redis/limits', instance: instanceId });
    this.#leaseMs = leaseMs;
    this.#timeoutMs = timeoutMs;
    this.#renewer = setInterval(() => void this.#renew(), Math.max(50, Math.floor(leaseMs / 3)));
    this.#renewer.unref();
    // Reconnected (Redis restarted empty, or the link broke mid-write): write this instance's places back.
    this.#onReady = () => {
      this.#dirty = true;
      void this.#renew();
    };
    redis.on('ready', this.#onReady);
  }

  /** The places this instance holds for an address (its own connections or sessions). */
  heldHere(kind: SharedPlaceKind, addressKey: string): number {
    return this.#held[kind].get(addressKey) ?? 0;
  }

  acquire(
    kind: SharedPlaceKind,
    addressKey: string,
    max: number,
    rate?: RateSettings,
  ): SharedAdmission | Promise<SharedAdmission> {
    if (this.#closed) return { admitted: true, shared: false };
    this.#add(kind, addressKey, 1);
    if (this.#redis.status !== 'ready') {
      this.#dirty = true;
      this.#degraded(kind, `Redis is ${this.#redis.status}`);
      return { admitted: true, shared: false };
    }
    this.#inFlight += 1;
    const letter = KIND_LETTER[kind];
    const asked = this.#redis.eval(
      ACQUIRE,
      1,
      this.#aliveKey,
      this.#base,
      letter,
      this.#me,
      addressKey,
      max,
      this.#leaseMs,
      rate?.ratePerSec ?? 0,
      rate?.burst ?? 0,
    ) as Promise<[number, number, number]>;
    return withTimeout(asked, this.#timeoutMs)
      .then(([admitted, total, retryAfterMs]): SharedAdmission => {
        if (admitted === 1) return { admitted: true, shared: true };
        this.#add(kind, addressKey, -1);
        return { admitted: false, total, retryAfterMs };
      })
      .catch((error: unknown): SharedAdmission => {
        // The place stays counted here; Redis may or may not have it: rewritten at the next renewal.
        this.#dirty = true;
        this.#degraded(kind, error instanceof Error ? error.message : String(error));
        return { admitted: true, shared: false };
      })
      .finally(() => {
        this.#inFlight -= 1;
      });
  }

  release(kind: SharedPlaceKind, addressKey: string): void {
    const held = this.#held[kind].get(addressKey) ?? 0;
    if (held === 0) return;
    this.#add(kind, addressKey, -1);
    if (this.#closed) return;
    if (this.#redis.status !== 'ready') {
      this.#dirty = true;
      return;
    }
    this.#redis.eval(RELEASE, 0, this.#base, KIND_LETTER[kind], this.#me, addressKey).catch(() => {
      this.#dirty = true;
    });
  }

  forget(instanceId: string): void {
    if (this.#closed || instanceId === this.#me || this.#redis.status !== 'ready') return;
    this.#redis
      .multi()
      .zrem(this.#aliveKey, instanceId)
      .del(`${this.#base}c:${instanceId}`, `${this.#base}s:${instanceId}`)
      .exec()
      .catch((error: unknown) => this.#log.warn({ err: error, instanceId }, 'could not drop a lost instance’s places'));
  }

  async countContradiction(
    providerAddress: string,
    payerAddress: string,
    atMs: number,
    windowMs: number,
  ): Promise<number | undefined> {
    if (this.#closed) return undefined;
    if (this.#redis.status !== 'ready') {
      this.#degraded('contradictions', `Redis is ${this.#redis.status}`);
      return undefined;
    }
    try {
      const asked = this.#redis.eval(
        CONTRADICTION,
        1,
        `${this.#base}x:${providerAddress.toLowerCase()}`,
        payerAddress.toLowerCase(),
        Math.floor(atMs),
        Math.max(1, Math.floor(windowMs)),
      ) as Promise<number>;
      return Number(await withTimeout(asked, this.#timeoutMs * 4));
    } catch (error) {
      this.#degraded('contradictions', error instanceof Error ? error.message : String(error));
      return undefined;
    }
  }

  async countRequest(key: string, windowMs: number): Promise<{ current: number; ttlMs: number } | undefined> {
    if (this.#closed) return undefined;
    if (this.#redis.status !== 'ready') {
      this.#degraded('http', `Redis is ${this.#redis.status}`);
      return undefined;
    }
    try {
      const asked = this.#redis.eval(REQUEST, 1, `${this.#base}h:${key}`, Math.max(1, Math.floor(windowMs))) as Promise<
        [number, number]
      >;
      const [current, ttlMs] = await withTimeout(asked, this.#timeoutMs);
      return { current: Number(current), ttlMs: Number(ttlMs) };
    } catch (error) {
      this.#degraded('http', error instanceof Error ? error.message : String(error));
      return undefined;
    }
  }

  onDegraded(listener: (limit: string, why: string) => void): () => void {
    this.#degradedListeners.add(listener);
    return () => this.#degradedListeners.delete(listener);
  }

  /** Stops renewing and gives this instance's places back (a clean shutdown; a crash leaves them to the lease). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#renewer);
    this.#redis.off('ready', this.#onReady);
    if (this.#redis.status !== 'ready') return;
    this.#redis
      .multi()
      .zrem(this.#aliveKey, this.#me)
      .del(`${this.#base}c:${this.#me}`, `${this.#base}s:${this.#me}`)
      .exec()
      .catch(() => undefined);
  }

  #add(kind: SharedPlaceKind, addressKey: string, delta: number): void {
    const places = this.#held[kind];
    const next = (places.get(addressKey) ?? 0) + delta;
    if (next > 0) places.set(addressKey, next);
    else places.delete(addressKey);
  }

  #degraded(limit: string, why: string): void {
    for (const listener of this.#degradedListeners) listener(limit, why);
    const nowMs = Date.now();
    if (nowMs - (this.#lastLoggedMs.get(limit) ?? Number.NEGATIVE_INFINITY) < DEGRADED_LOG_INTERVAL_MS) return;
    this.#lastLoggedMs.set(limit, nowMs);
    this.#log.warn({ limit, why }, 'Redis unavailable: this limit is counted per instance until it answers again');
  }

  /** Keeps the lease; rewrites this instance's places when Redis may hold others (no admission in flight). */
  async #renew(): Promise<void> {
    if (this.#closed || this.#renewing || this.#redis.status !== 'ready') return;
    this.#renewing = true;
    try {
      if (this.#dirty && this.#inFlight === 0) {
        this.#dirty = false;
        const transaction = this.#redis.multi();
        for (const kind of ['connections', 'sessions'] as const) {
          const key = `${this.#base}${KIND_LETTER[kind]}:${this.#me}`;
          transaction.del(key);
          if (this.#held[kind].size > 0) transaction.hset(key, Object.fromEntries(this.#held[kind]));
        }
        await transaction.exec();
        this.#log.info(
          { connections: this.#held.connections.size, sessions: this.#held.sessions.size },
          'places written back to Redis',
        );
      }
      const [connections, sessions] = (await this.#redis.eval(
        RENEW,
        1,
        this.#aliveKey,
        this.#base,
        this.#me,
        this.#leaseMs,
      )) as [number, number];
      // Our places were dropped (we were taken for lost, or Redis was emptied): write them back next time.
      if ((connections === 0 && this.#held.connections.size > 0) || (sessions === 0 && this.#held.sessions.size > 0)) {
        this.#dirty = true;
      }
    } catch (error) {
      this.#dirty = true;
      this.#log.debug({ err: error }, 'lease renewal failed');
    } finally {
      this.#renewing = false;
    }
  }
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from Redis within ${timeoutMs} ms`)), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
