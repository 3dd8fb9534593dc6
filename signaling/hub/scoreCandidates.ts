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
import type { HostRecord } from './HostRegistry.js';

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
  /** Only hosts passing this are ranked (up, serving the game, free slot, within the player's price). */
  eligible: (host: HostRecord) => boolean;
  rttMsByHost: ReadonlyMap<string, number>;
  weights: ScoringWeights;
  /** How many of the best to return. */
  limit: number;
};

/** Ratio of two non-negative bigints as a number in 0..1, without losing precision on wei amounts. */
function ratio(part: bigint, whole: bigint): number {
  if (whole <= 0n) return 0;
  return Number((part * 1_000_000n) / whole) / 1_000_000;
}

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
 * The `limit` best eligible hosts, best first. Two passes and no allocation per host, so a pick over
 * 10,000 hosts stays well under a millisecond: one pass for the price and stake maxima, one to score and
 * keep the top few in a small sorted array.
 */
export function rankCandidates({
  hosts,
  eligible,
  rttMsByHost,
  weights,
  limit,
}: RankCandidatesParameters): CandidateScore[] {
  const pool: HostRecord[] = [];
  let maxPrice = 0n;
  let maxStake = 0n;
  for (const host of hosts) {
    if (!eligible(host)) continue;
    pool.push(host);
    if (host.priceWeiPerSec > maxPrice) maxPrice = host.priceWeiPerSec;
    if (host.stakeWei > maxStake) maxStake = host.stakeWei;
  }
  const top: Array<{ host: HostRecord; score: number }> = [];
  for (const host of pool) {
    const rttMs = rttMsByHost.get(host.hostId) ?? weights.unknownRttMs;
    const score = weigh(termsOf(host, rttMs, maxPrice, maxStake, weights), weights);
    if (top.length === limit && score >= (top[top.length - 1]?.score ?? Number.POSITIVE_INFINITY)) continue;
    let at = top.length;
    while (at > 0 && (top[at - 1]?.score ?? 0) > score) at--;
    top.splice(at, 0, { host, score });
    if (top.length > limit) top.pop();
  }
  return top.map(({ host, score }) => {
    const measured = rttMsByHost.get(host.hostId);
    return {
      hostId: host.hostId,
      region: host.region.country,
      rttMs: measured ?? null,
      load: host.load,
      priceWeiPerSec: host.priceWeiPerSec,
      qualityScore: host.qualityScore,
      stakeWei: host.stakeWei,
      terms: termsOf(host, measured ?? weights.unknownRttMs, maxPrice, maxStake, weights),
      score,
    };
  });
}
