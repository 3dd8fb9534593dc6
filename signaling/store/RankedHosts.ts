/**
 * Hosts kept in order of the part of their score that does not depend on the player (load, price, quality,
 * stake: `staticScore`), so that a pick reads the best few instead of scoring every host of a place.
 *
 * The order is a bucket index: `RANK_BUCKETS` buckets of equal width over the static score's range, best
 * first. A host changes bucket in O(1) when its load, quality, stake or price changes, and leaves the index
 * while it cannot take a session (no free slot, not up, drained, disconnected). A pick walks the buckets in
 * order and stops once its `limit` best are better than the next bucket's lowest possible score (that
 * bucket's floor plus the lowest RTT term the pick can give): the result is the exact top `limit`, the same
 * as scoring every host, after looking at a few dozen hosts instead of thousands.
 *
 * The scale (weights, the game's dearest price and largest stake) is part of every bucket: when it changes
 * (a new dearest host, other weights) the game's index is rebuilt once, at the next pick.
 */
import type { HostRecord } from './HostRegistry.js';

/** Buckets per index: at 2,000 hosts in a place, ≈16 hosts a bucket when scores spread evenly. */
export const RANK_BUCKETS = 128;

/** The weights of the terms a host's static score is made of (a subset of the hub's `ScoringWeights`). */
export type StaticWeights = { load: number; price: number; quality: number; stake: number };

/** Everything a static score depends on besides the host itself. */
export type RankingScale = StaticWeights & {
  maxPriceF: number;
  maxStakeF: number;
  /** Width of one bucket (the static score's range over `RANK_BUCKETS`). */
  bucketWidth: number;
  /** False when a weight is negative: bucket floors are then no bound, and picks score every host. */
  ordered: boolean;
};

export function rankingScaleOf(weights: StaticWeights, maxPriceF: number, maxStakeF: number): RankingScale {
  const range = weights.load + weights.price + weights.quality + weights.stake;
  const ordered = weights.load >= 0 && weights.price >= 0 && weights.quality >= 0 && weights.stake >= 0;
  return {
    load: weights.load,
    price: weights.price,
    quality: weights.quality,
    stake: weights.stake,
    maxPriceF,
    maxStakeF,
    bucketWidth: range > 0 ? range / RANK_BUCKETS : 1,
    ordered,
  };
}

export function sameScale(a: RankingScale, b: RankingScale): boolean {
  return (
    a.load === b.load &&
    a.price === b.price &&
    a.quality === b.quality &&
    a.stake === b.stake &&
    a.maxPriceF === b.maxPriceF &&
    a.maxStakeF === b.maxStakeF
  );
}

/** The host's score without its RTT term (lower is better), as the pick computes it. */
export function staticScore(host: HostRecord, scale: RankingScale): number {
  const load = host.load < 0 ? 0 : Math.min(host.load, 1);
  const quality = host.qualityScore < 0 ? 0 : Math.min(host.qualityScore, 1);
  return (
    scale.load * load +
    scale.price * (scale.maxPriceF > 0 ? host.priceF / scale.maxPriceF : 0) +
    scale.quality * (1 - quality) +
    scale.stake * (scale.maxStakeF > 0 ? 1 - host.stakeF / scale.maxStakeF : 0)
  );
}

/** Whether a host can take a session at all (every pick's first condition): only these are indexed. */
export function canTakeSession(host: HostRecord): boolean {
  return host.freeSlots > 0 && host.state === 'up' && !host.drained && host.peerId !== undefined;
}

export function bucketOf(score: number, scale: RankingScale): number {
  const bucket = Math.floor(score / scale.bucketWidth);
  return bucket < 0 ? 0 : bucket >= RANK_BUCKETS ? RANK_BUCKETS - 1 : bucket;
}

/**
 * The lowest static score a host in `bucket` can have. `bucketOf` floors `score / width`, so a score in bucket
 * i is at least i × width up to rounding: a relative hair is taken off to keep it a bound.
 */
export function bucketFloor(bucket: number, scale: RankingScale): number {
  return bucket * scale.bucketWidth * (1 - 1e-9) - 1e-12;
}

/** One index: a place's hosts of one game, or all of a game's hosts. */
export class RankedHosts {
  /** Best first; a bucket's set is made when a host first lands in it. */
  readonly buckets: Array<Set<HostRecord> | undefined> = new Array<Set<HostRecord> | undefined>(RANK_BUCKETS);
  readonly #bucketOf = new Map<HostRecord, number>();

  get size(): number {
    return this.#bucketOf.size;
  }

  /** Puts the host in `bucket`, or takes it out (undefined). */
  set(host: HostRecord, bucket: number | undefined): void {
    const current = this.#bucketOf.get(host);
    if (current === bucket) return;
    if (current !== undefined) this.buckets[current]?.delete(host);
    if (bucket === undefined) {
      this.#bucketOf.delete(host);
      return;
    }
    let set = this.buckets[bucket];
    if (!set) {
      set = new Set();
      this.buckets[bucket] = set;
    }
    set.add(host);
    this.#bucketOf.set(host, bucket);
  }

  clear(): void {
    for (const set of this.buckets) set?.clear();
    this.#bucketOf.clear();
  }
}
