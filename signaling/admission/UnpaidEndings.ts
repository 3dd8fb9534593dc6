/**
 * Sessions that ended before their payment was accepted, counted per client address and per player token.
 * A leased session streams at once and the player has `authTimeoutMs` to authorize payment; a player who never
 * does gets that much free play per Play. After `unpaidEndings.max` such endings within `windowMs`, from one
 * address or one token, Play is refused until the oldest of them leaves the window.
 *
 * Bounded: each key keeps at most `max` timestamps, and at most `maxTracked` keys are remembered (the least
 * recently touched is forgotten first — a little leniency for it beats unbounded memory).
 */
export type UnpaidEndingsSettings = {
  /** Unpaid endings within `windowMs` after which Play is refused. */
  max: number;
  windowMs: number;
  /** Addresses and tokens remembered at most (together). */
  maxTracked: number;
};

export type UnpaidEndingsKeys = { addressKey: string; playerId: string };

export class UnpaidEndings {
  readonly #settings: UnpaidEndingsSettings;
  /** Key → end times (ms, oldest first, at most `max`); Map order is least recently touched first. */
  readonly #endings = new Map<string, number[]>();

  constructor(settings: UnpaidEndingsSettings) {
    this.#settings = settings;
  }

  get size(): number {
    return this.#endings.size;
  }

  /** A session of this address and token ended unpaid at `nowMs`. */
  record({ addressKey, playerId }: UnpaidEndingsKeys, nowMs: number): void {
    for (const key of keysOf(addressKey, playerId)) {
      const times = this.#live(key, nowMs) ?? [];
      times.push(nowMs);
      if (times.length > this.#settings.max) times.splice(0, times.length - this.#settings.max);
      this.#endings.delete(key);
      this.#endings.set(key, times);
      while (this.#endings.size > this.#settings.maxTracked) {
        const oldest = this.#endings.keys().next().value;
        if (oldest === undefined) break;
        this.#endings.delete(oldest);
      }
    }
  }

  /** 0 = Play may go on; else the milliseconds until the address and the token are under the limit again. */
  retryAfterMs({ addressKey, playerId }: UnpaidEndingsKeys, nowMs: number): number {
    let waitMs = 0;
    for (const key of keysOf(addressKey, playerId)) {
      const times = this.#live(key, nowMs);
      if (!times || times.length < this.#settings.max) continue;
      // The ending that must leave the window for the count to fall below `max`.
      const blocking = times[times.length - this.#settings.max] ?? nowMs;
      waitMs = Math.max(waitMs, Math.max(1, Math.ceil(blocking + this.#settings.windowMs - nowMs)));
    }
    return waitMs;
  }

  /** The key's end times still within the window (forgotten when none is). */
  #live(key: string, nowMs: number): number[] | undefined {
    const times = this.#endings.get(key);
    if (!times) return undefined;
    const since = nowMs - this.#settings.windowMs;
    let drop = 0;
    while (drop < times.length && (times[drop] ?? 0) <= since) drop += 1;
    if (drop > 0) times.splice(0, drop);
    if (times.length === 0) {
      this.#endings.delete(key);
      return undefined;
    }
    return times;
  }
}

function keysOf(addressKey: string, playerId: string): [string, string] {
  return [`ip:${addressKey}`, `player:${playerId}`];
}
