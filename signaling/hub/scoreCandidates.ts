/**
 * How the indexer ranks render hosts for a player. Lower score is better. Each term is normalised to 0..1
 * and weighted; the weights live in one object so operators can tune them and every decision can be shown
 * term by term (`GET /api/sessions/:id`).
 *
 * Defaults: RTT dominates (0.6; measured by the player's browser to each candidate's probe endpoint,
 * capped at `rttCeilingMs`), then load (0.15), price (0.1, relative to the dearest candidate), the
 * container's quality score from checkers (0.1; 0.5 = neutral until checkers report) and stake (0.05,
 * relative to the largest stake among candidates).
 */
import type { HostRecord } from '../store/HostRegistry.js';
import { bucketFloor, type RankedHosts, type RankingScale, staticScore } from '../store/RankedHosts.js';

export type ScoringWeights = {
  rtt: number;
  load: number;
  price: number;
  quality: number;
  stake: number;
  /** RTT at or above this counts as the worst RTT term (1.0). */
  rttCeilingMs: number;
  /** RTT assumed for a host the player has not measured yet. */
  unknownRttMs: number;
};

export const DEFAULT_SCORING_WEIGHTS: ScoringWeights = {
  rtt: 0.6,
  load: 0.15,
  price: 0.1,
  quality: 0.1,
  stake: 0.05,
  rttCeilingMs: 200,
  unknownRttMs: 120,
};

export type ScoreTerms = { rtt: number; load: number; price: number; quality: number; stake: number };

export type CandidateScore = {
  hostId: string;
  region: string;
  /** Measured RTT, or null when the score used `unknownRttMs`. */
  rttMs: number | null;
  load: number;
  priceWeiPerSec: bigint;
  qualityScore: number;
  stakeWei: bigint;
  terms: ScoreTerms;
  score: number;
};

export type RankCandidatesParameters = {
  hosts: Iterable<HostRecord>;
  /** The scale for the price and stake terms: the dearest price and largest stake among the game's hosts. */
  maxPriceWei: bigint;
  maxStakeWei: bigint;
  /** Only hosts passing this are ranked (up, serving the game, free slot, within the player's price). */
  eligible: (host: HostRecord) => boolean;
  rttMsByHost: ReadonlyMap<string, number>;
  /**
   * The RTT to assume for a host the player has not measured (from its distance to the player, or what the
   * player measured to another host in the same place); `unknownRttMs` when absent or undefined.
   */
  estimateRttMs?: (host: HostRecord) => number | undefined;
  weights: ScoringWeights;
  /** How many of the best to return. */
  limit: number;
  /**
   * The same hosts in order (those that can take a session, by `staticScore` under `scale`), to read the best
   * few instead of scoring all of `hosts`: the result is the same. `rttFloorMs` must be at most the RTT the
   * ranking gives any of them (measured or estimated). Ignored when the scale has a negative weight.
   */
  ranked?: { hosts: RankedHosts | undefined; scale: RankingScale; rttFloorMs: number };
};

/**
 * Ratio of two non-negative bigints as a number in 0..1, to float64's precision (18 digits of the quotient, then
 * one rounding). Six digits were kept before: two hosts the pick ranks as equal (its float ratios) could then be
 * shown with scores 5e-8 apart, the second better than the first (RankedHosts.test, seed 1067991693).
 */
function ratio(part: bigint, whole: bigint): number {
  if (whole <= 0n) return 0;
  return Number((part * RATIO_ONE) / whole) / 1e18;
}

const RATIO_ONE = 10n ** 18n;

function termsOf(
  host: HostRecord,
  rttMs: number,
  maxPrice: bigint,
  maxStake: bigint,
  weights: ScoringWeights,
): ScoreTerms {
  return {
    rtt: Math.min(rttMs, weights.rttCeilingMs) / weights.rttCeilingMs,
    load: Math.min(1, Math.max(0, host.load)),
    price: ratio(host.priceWeiPerSec, maxPrice),
    quality: 1 - Math.min(1, Math.max(0, host.qualityScore)),
    stake: maxStake > 0n ? 1 - ratio(host.stakeWei, maxStake) : 0,
  };
}

function weigh(terms: ScoreTerms, weights: ScoringWeights): number {
  return (
    weights.rtt * terms.rtt +
    weights.load * terms.load +
    weights.price * terms.price +
    weights.quality * terms.quality +
    weights.stake * terms.stake
  );
}

/**
 * The `limit` best eligible hosts, best first. Given the hosts in order (`ranked`), it reads buckets of them
 * best first and stops once nothing further can enter the top (a few dozen hosts looked at, whatever the
 * place holds); else it is one lean pass over `hosts`. Prices and stakes enter a score only as ratios to the
 * game's maxima, where float64's 15 significant digits are plenty, and the top few are kept in a small sorted
 * array. The exact terms of the winners are recomputed with bigint ratios for the explanation.
 */
export function rankCandidates({
  hosts,
  maxPriceWei,
  maxStakeWei,
  eligible,
  rttMsByHost,
  estimateRttMs,
  weights,
  limit,
  ranked,
}: RankCandidatesParameters): CandidateScore[] {
  const scale: RankingScale = ranked?.scale ?? {
    load: weights.load,
    price: weights.price,
    quality: weights.quality,
    stake: weights.stake,
    maxPriceF: Number(maxPriceWei),
    maxStakeF: Number(maxStakeWei),
    bucketWidth: 1,
    ordered: false,
  };
  const topHosts: HostRecord[] = [];
  const topScores: number[] = [];
  const hasRtt = rttMsByHost.size > 0;
  const unknownRttTerm = Math.min(weights.unknownRttMs, weights.rttCeilingMs) / weights.rttCeilingMs;
  const consider = (host: HostRecord) => {
    if (!eligible(host)) return;
    const measured = hasRtt ? rttMsByHost.get(host.hostId) : undefined;
    const assumed = measured ?? estimateRttMs?.(host);
    const rttTerm =
      assumed === undefined ? unknownRttTerm : Math.min(assumed, weights.rttCeilingMs) / weights.rttCeilingMs;
    const score = weights.rtt * rttTerm + staticScore(host, scale);
    if (topScores.length === limit && score >= (topScores[limit - 1] ?? Number.POSITIVE_INFINITY)) return;
    let at = topScores.length;
    while (at > 0 && (topScores[at - 1] ?? 0) > score) at--;
    topScores.splice(at, 0, score);
    topHosts.splice(at, 0, host);
    if (topScores.length > limit) {
      topScores.pop();
      topHosts.pop();
    }
  };
  if (ranked?.scale.ordered && ranked.hosts && weights.rtt >= 0) {
    // Best bucket first; stop once the `limit` best beat anything the next bucket could hold.
    const rttFloorTerm =
      weights.rtt * (Math.min(Math.max(0, ranked.rttFloorMs), weights.rttCeilingMs) / weights.rttCeilingMs);
    const buckets = ranked.hosts.buckets;
    for (let bucket = 0; bucket < buckets.length; bucket++) {
      if (
        topScores.length === limit &&
        rttFloorTerm + bucketFloor(bucket, ranked.scale) >= (topScores[limit - 1] as number)
      ) {
        break;
      }
      const set = buckets[bucket];
      if (set) for (const host of set) consider(host);
    }
  } else {
    for (const host of hosts) consider(host);
  }
  return topHosts.map((host) => {
    const measured = rttMsByHost.get(host.hostId);
    const assumed = measured ?? estimateRttMs?.(host) ?? weights.unknownRttMs;
    const terms = termsOf(host, assumed, maxPriceWei, maxStakeWei, weights);
    return {
      hostId: host.hostId,
      region: host.region.country,
      rttMs: measured ?? null,
      load: host.load,
      priceWeiPerSec: host.priceWeiPerSec,
      qualityScore: host.qualityScore,
      stakeWei: host.stakeWei,
      terms,
      score: weigh(terms, weights),
    };
  });
}
