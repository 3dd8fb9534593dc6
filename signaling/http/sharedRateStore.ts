/**
 * The HTTP API's rate limits (@fastify/rate-limit) counted for the whole network when several signaling instances
 * share one store: each request is counted in Redis under the route and the address's keyed hash (never the
 * address), in a fixed window. When Redis does not answer, this instance's own count decides (the limit holds per
 * instance; `SharedLimits.onDegraded` counts it), so a Redis outage never refuses or frees everyone.
 */
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { SharedLimits } from '../store/SignalingStore.js';

type RateState = { current: number; ttl: number };
type Callback = (error: Error | null, state?: RateState) => void;
/** What the plugin passes (its merged route parameters: `routeInfo` names the route). */
type StoreOptions = { routeInfo?: { method?: string; url?: string } };

/** A `store` class for @fastify/rate-limit (it constructs one, and one `child` per route with its own limits). */
export function sharedRateStore(limits: SharedLimits, maxTracked: number): FastifyRateLimitStoreCtor {
  return class SharedRateStore implements FastifyRateLimitStore {
    readonly #route: string;
    /** This instance's counts (the fallback), least recently touched first; at most `maxTracked`. */
    readonly #local = new Map<string, { count: number; endsAtMs: number }>();

    constructor(options: object) {
      const route = (options as StoreOptions).routeInfo;
      this.#route = route?.url ? `${route.method ?? ''}${route.url}-` : 'all-';
    }

    incr(key: string, callback: Callback, timeWindow: number): void {
      const local = this.#countHere(key, timeWindow);
      void limits.countRequest(`${this.#route}${key}`, timeWindow).then((shared) => {
        callback(null, shared ? { current: shared.current, ttl: shared.ttlMs } : local);
      });
    }

    child(options: object): FastifyRateLimitStore {
      return new SharedRateStore(options);
    }

    #countHere(key: string, windowMs: number): RateState {
      const nowMs = Date.now();
      let entry = this.#local.get(key);
      if (!entry || entry.endsAtMs <= nowMs) entry = { count: 0, endsAtMs: nowMs + windowMs };
      entry.count += 1;
      this.#local.delete(key);
      this.#local.set(key, entry);
      if (this.#local.size > maxTracked) {
        const oldest = this.#local.keys().next().value;
        if (oldest !== undefined) this.#local.delete(oldest);
      }
      return { current: entry.count, ttl: entry.endsAtMs - nowMs };
    }
  };
}
