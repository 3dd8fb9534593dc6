import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_SCORING_WEIGHTS, rankCandidates, type ScoringWeights } from '../hub/scoreCandidates.js';
import type { PeerMessageOf } from '../protocol/index.js';
import { HostRegistry } from './HostRegistry.js';
import { canTakeSession } from './RankedHosts.js';

const GAMES = ['g1', 'g2'];
const PLACES = [
  { lat: 50.1, lon: 8.7 },
  { lat: 50.9, lon: 8.2 },
  { lat: 40.7, lon: -74 },
  { lat: -33.9, lon: 151.2 },
];

function registration(n: number, place: number, priceWei: bigint, games: string[]): PeerMessageOf<'register'> {
  const { lat, lon } = PLACES[place % PLACES.length] ?? { lat: 0, lon: 0 };
  return {
    type: 'register',
    hostId: `h${n}`,
    providerAddress: `0x${'ab'.repeat(20)}`,
    signature: `0x${'00'.repeat(65)}`,
    region: { country: 'XX', lat: lat + (n % 7) / 100, lon: lon + (n % 5) / 100 },
    gpu: 'test',
    encoder: 'x264',
    games: games.map((id) => ({
      id,
      title: id,
      description: '',
      width: 1280,
      height: 720,
      fps: 60,
      inputMode: 'absolute' as const,
      audio: false,
    })),
    slots: 1 + (n % 3),
    priceWeiPerSec: priceWei.toString(),
    endpoints: { probeUrl: 'ws://127.0.0.1:1/probe', metricsUrl: 'http://127.0.0.1:1/metrics' },
  };
}

const op = fc.oneof(
  fc.record({
    kind: fc.constant('register' as const),
    n: fc.integer({ min: 0, max: 50 }),
    place: fc.integer({ min: 0, max: 3 }),
    priceWei: fc.bigInt({ min: 1n, max: 10n ** 16n }),
    both: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('remove' as const), n: fc.integer({ min: 0, max: 50 }) }),
  fc.record({
    kind: fc.constant('scale' as const),
    priceWei: fc.bigInt({ min: 10n ** 16n, max: 10n ** 18n }),
    stakeWei: fc.bigInt({ min: 10n ** 21n, max: 10n ** 23n }),
  }),
  fc.record({
    kind: fc.constant('load' as const),
    n: fc.integer({ min: 0, max: 50 }),
    load: fc.double({ min: -0.2, max: 1.2, noNaN: true }),
  }),
  fc.record({
    kind: fc.constant('quality' as const),
    n: fc.integer({ min: 0, max: 50 }),
    quality: fc.double({ min: 0, max: 1, noNaN: true }),
  }),
  fc.record({
    kind: fc.constant('stake' as const),
    n: fc.integer({ min: 0, max: 50 }),
    stakeWei: fc.bigInt({ min: 0n, max: 10n ** 21n - 1n }),
  }),
  fc.record({
    kind: fc.constant('state' as const),
    n: fc.integer({ min: 0, max: 50 }),
    state: fc.constantFrom('up' as const, 'down' as const, 'draining' as const),
    drained: fc.boolean(),
    connected: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('lease' as const), n: fc.integer({ min: 0, max: 50 }), slot: fc.nat(1) }),
  fc.record({ kind: fc.constant('release' as const), n: fc.integer({ min: 0, max: 50 }), slot: fc.nat(1) }),
  fc.record({ kind: fc.constant('releaseAll' as const), n: fc.integer({ min: 0, max: 50 }) }),
  fc.record({
    kind: fc.constant('rank' as const),
    game: fc.constantFrom(...GAMES),
    point: fc.record({
      lat: fc.double({ min: -60, max: 60, noNaN: true }),
      lon: fc.double({ min: -179, max: 179, noNaN: true }),
    }),
    limit: fc.integer({ min: 1, max: 8 }),
    measured: fc.array(fc.tuple(fc.integer({ min: 0, max: 80 }), fc.double({ min: 1, max: 300, noNaN: true })), {
      maxLength: 4,
    }),
    maxPrice: fc.option(fc.bigInt({ min: 1n, max: 10n ** 16n })),
  }),
);

/** The same number of picks with the same scores, each to 1e-12 (far below any difference between two hosts' terms). */
function assertSameScores(actual: number[], expected: number[]): void {
  assert.equal(actual.length, expected.length, `${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`);
  actual.forEach((score, i) => {
    const other = expected[i] as number;
    assert.ok(Math.abs(score - other) <= 1e-12, `pick ${i}: ${score} vs ${other} (${JSON.stringify(expected)})`);
  });
}

const pickProperty = fc.property(
  fc.array(fc.tuple(fc.bigInt({ min: 1n, max: 10n ** 16n }), fc.double({ min: 0, max: 1, noNaN: true })), {
    minLength: 40,
    maxLength: 80,
  }),
  fc.array(op, { minLength: 100, maxLength: 200 }),
  // One set of weights per run (other weights rebuild the order, which would hide a lapse in keeping it).
  fc.constantFrom<ScoringWeights>(DEFAULT_SCORING_WEIGHTS, {
    ...DEFAULT_SCORING_WEIGHTS,
    rtt: 0.2,
    load: 0.4,
    price: 0.3,
  }),
  (start, ops, weights) => {
    const hosts = new HostRegistry();
    // A network to start from: every host up with a free slot, spread over the places.
    start.forEach(([priceWei, load], n) => {
      hosts.register({
        message: registration(n, n % 2, priceWei, n % 3 ? GAMES : GAMES.slice(0, 1)),
        peerId: `peer-${n}`,
        nowMs: 0,
      });
      hosts.heartbeat(`h${n}`, load, 0);
    });
    // The dearest and most staked host, changed only by `scale` ops: most changes keep the game's scale, so
    // the order must follow them host by host (a scale change rebuilds it, which would hide a lapse).
    hosts.register({ message: registration(99, 3, 10n ** 17n, GAMES), peerId: 'peer-99', nowMs: 0 });
    hosts.setStake('h99', 10n ** 22n);
    let ranks = 0;
    for (const o of ops) {
      const hostId = `h${'n' in o ? o.n : 99}`;
      switch (o.kind) {
        case 'register':
          hosts.register({
            message: registration(o.n, o.place, o.priceWei, o.both ? GAMES : GAMES.slice(0, 1)),
            peerId: `peer-${o.n}`,
            nowMs: 0,
          });
          break;
        case 'remove':
          hosts.remove(hostId);
          break;
        case 'scale':
          hosts.register({ message: registration(99, 3, o.priceWei, GAMES), peerId: 'peer-99', nowMs: 0 });
          hosts.setStake('h99', o.stakeWei);
          break;
        case 'load':
          hosts.heartbeat(hostId, o.load, 0);
          break;
        case 'quality':
          hosts.update(hostId, { qualityScore: o.quality });
          break;
        case 'stake':
          hosts.setStake(hostId, o.stakeWei);
          break;
        case 'state':
          hosts.update(hostId, {
            state: o.state,
            drained: o.drained,
            peerId: o.connected ? `peer-${o.n}` : undefined,
          });
          break;
        case 'lease':
          hosts.tryLease(hostId, o.slot, `s-${o.n}-${o.slot}`);
          break;
        case 'release':
          hosts.release(hostId, o.slot, `s-${o.n}-${o.slot}`);
          break;
        case 'releaseAll':
          hosts.releaseAll(hostId);
          break;
        case 'rank': {
          ranks += 1;
          const rttMsByHost = new Map(o.measured.map(([n, rttMs]) => [`h${n}`, rttMs] as const));
          const floorMs = Math.min(...rttMsByHost.values());
          const scale = hosts.rankingScale(o.game, weights);
          const base = {
            ...hosts.maxima(o.game),
            eligible: (host: Parameters<typeof canTakeSession>[0]) =>
              canTakeSession(host) && (o.maxPrice === null || host.priceWeiPerSec <= o.maxPrice),
            rttMsByHost,
            weights: weights,
            limit: o.limit,
          };
          // Scores, not ids: hosts of equal score may come in either order — and a tie in the pick's float
          // sums can show as scores an ulp or so apart (the shown score adds the same terms in another order).
          const ids = (list: ReturnType<typeof rankCandidates>) => list.map((c) => c.score);
          // Every host of the game, with no location.
          assertSameScores(
            ids(
              rankCandidates({
                hosts: hosts.hostsServing(o.game),
                ...base,
                ranked: {
                  hosts: hosts.rankedHosts(o.game),
                  scale,
                  rttFloorMs: Math.min(weights.unknownRttMs, floorMs),
                },
              }),
            ),
            ids(rankCandidates({ hosts: hosts.hostsServing(o.game), ...base })),
          );
          // Place by place, an estimated RTT for each.
          for (const { cell, distanceKm } of hosts.nearestCells(o.game, o.point, 3)) {
            const estimateRttMs = () => 5 + distanceKm * 0.015;
            assertSameScores(
              ids(
                rankCandidates({
                  hosts: cell.hosts,
                  ...base,
                  estimateRttMs,
                  ranked: { hosts: cell.ranked, scale, rttFloorMs: Math.min(estimateRttMs(), floorMs) },
                }),
              ),
              ids(rankCandidates({ hosts: cell.hosts, ...base, estimateRttMs })),
            );
          }
          break;
        }
      }
    }
    return ranks >= 0;
  },
);

describe('RankedHosts', () => {
  test('a pick reading hosts in order finds exactly what scoring every host finds, under any changes', () => {
    fc.assert(pickProperty, { numRuns: 200 });
  });

  test('two hosts the pick ties show the same score (seed 1067991693: stakes 1e21 − 20 and 0 wei)', () => {
    // Found by the test above in a full run: the shown stake term, truncated to 1e-6, split a tie by 5e-8.
    fc.assert(pickProperty, { seed: 1067991693, numRuns: 10 });
  });

  test('nearestCells: the nearest places in order, as sorting every cell by great-circle distance', () => {
    const hosts = new HostRegistry();
    for (let n = 0; n < 400; n++) {
      const message = registration(n, 0, 1000n, GAMES.slice(0, 1));
      message.region = { country: 'XX', lat: ((n * 37) % 170) - 85 + 0.5, lon: ((n * 101) % 358) - 179 + 0.5 };
      hosts.register({ message, peerId: `peer-${n}`, nowMs: 0 });
    }
    for (const point of [
      { lat: 50, lon: 8 },
      { lat: -33, lon: 151 },
      { lat: 0, lon: 179.9 },
      { lat: 89, lon: 0 },
    ]) {
      const all = hosts.nearestCells('g1', point, 10_000);
      const sorted = [...all].sort((a, b) => a.distanceKm - b.distanceKm);
      assert.deepEqual(
        all.map((c) => c.distanceKm),
        sorted.map((c) => c.distanceKm),
      );
      assert.deepEqual(
        hosts.nearestCells('g1', point, 12).map((c) => c.distanceKm),
        sorted.slice(0, 12).map((c) => c.distanceKm),
      );
    }
  });
});
