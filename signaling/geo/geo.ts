/**
 * Where a player probably is, before and between RTT measurements (issue 16): the browser's time zone gives
 * a first guess (its reference city), and the RTTs players of the same network prefix measured refine it.
 * Hosts are then preselected by distance from that guess, and an unmeasured host's RTT is estimated from
 * its distance — so the few hosts a player probes are near it, out of 100,000 on every continent.
 */
import { TIME_ZONE_LOCATIONS } from './timeZoneLocations.js';

export type GeoPoint = { lat: number; lon: number };

/** A player's approximate location and what it rests on. */
export type PlayerLocation = GeoPoint & { source: 'prefix' | 'timeZone' };

/** What the players of one network prefix measured, condensed: where they probably are. */
export type PrefixLocation = GeoPoint & {
  /** Probe rounds that went into it (later ones weigh less, so one odd round does not move it far). */
  samples: number;
  /** Lowest RTT seen from this prefix: the nearer the hosts it measured, the better the estimate. */
  bestRttMs: number;
  atMs: number;
};

const EARTH_RADIUS_KM = 6371;
const RAD = Math.PI / 180;

export function greatCircleKm(a: GeoPoint, b: GeoPoint): number {
  const dLat = (b.lat - a.lat) * RAD;
  const dLon = (b.lon - a.lon) * RAD;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * RAD) * Math.cos(b.lat * RAD) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * A round trip over fibre at ≈200,000 km/s, along a path ≈1.5 × the great circle, plus ≈5 ms of access
 * network: what an unmeasured host at this distance will probably measure.
 */
export function rttEstimateMs(distanceKm: number): number {
  return 5 + distanceKm * 0.015;
}

/** The reference city of an IANA time zone (`Europe/Berlin`), or undefined (UTC, Etc/…, unknown). */
export function timeZoneLocation(timeZone: string | undefined): GeoPoint | undefined {
  if (!timeZone) return undefined;
  const location = TIME_ZONE_LOCATIONS[timeZone];
  return location ? { lat: location[0], lon: location[1] } : undefined;
}

/**
 * The network prefix of an address, as players of one access network share it: IPv4 /24, IPv6 /48. Only
 * the prefix is kept, never the address.
 */
export function networkPrefixOf(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}$/i.exec(address);
  if (v4) return `${v4[1]}.${v4[2]}.${v4[3]}.0/24`;
  if (!address.includes(':')) return undefined;
  const [head = ''] = address.split('::');
  const groups = head.split(':').filter((group) => group.length > 0);
  if (!address.includes('::') && groups.length < 3) return undefined;
  while (groups.length < 3) groups.push('0');
  return `${groups
    .slice(0, 3)
    .map((group) => group.toLowerCase())
    .join(':')}::/48`;
}

/**
 * Where one probe round places its player: the hosts within 10 ms of the fastest one, weighted by 1/RTT²
 * (the nearest dominate). Undefined when nothing answered or even the fastest host is far (> 80 ms: it says
 * little about where the player is).
 */
export function locateFromProbes(
  probes: ReadonlyArray<GeoPoint & { rttMs: number }>,
): (GeoPoint & { bestRttMs: number }) | undefined {
  let best = Number.POSITIVE_INFINITY;
  for (const probe of probes) best = Math.min(best, probe.rttMs);
  if (!Number.isFinite(best) || best > 80) return undefined;
  let weight = 0;
  let x = 0;
  let y = 0;
  let z = 0;
  for (const probe of probes) {
    if (probe.rttMs > best + 10) continue;
    const w = 1 / Math.max(1, probe.rttMs) ** 2;
    // Averaged as unit vectors, so that ±180° longitude does not tear the mean apart.
    x += w * Math.cos(probe.lat * RAD) * Math.cos(probe.lon * RAD);
    y += w * Math.cos(probe.lat * RAD) * Math.sin(probe.lon * RAD);
    z += w * Math.sin(probe.lat * RAD);
    weight += w;
  }
  if (weight === 0) return undefined;
  return {
    lat: Math.atan2(z, Math.hypot(x, y)) / RAD,
    lon: Math.atan2(y, x) / RAD,
    bestRttMs: best,
  };
}

/** A prefix's estimate after one more probe round: moved toward the new one, less with every round. */
export function mergePrefixLocation(
  previous: PrefixLocation | undefined,
  round: GeoPoint & { bestRttMs: number },
  atMs: number,
): PrefixLocation {
  if (!previous) return { ...round, samples: 1, atMs };
  const share = 1 / Math.min(previous.samples + 1, 8);
  return {
    lat: previous.lat + (round.lat - previous.lat) * share,
    lon: previous.lon + wrapDegrees(round.lon - previous.lon) * share,
    samples: previous.samples + 1,
    bestRttMs: Math.min(previous.bestRttMs, round.bestRttMs),
    atMs,
  };
}

function wrapDegrees(delta: number): number {
  return ((((delta + 180) % 360) + 360) % 360) - 180;
}

/** The player's location: its prefix's when players there measured enough, else its time zone's city. */
export function locatePlayer(
  prefix: PrefixLocation | undefined,
  timeZone: string | undefined,
): PlayerLocation | undefined {
  if (prefix) return { lat: prefix.lat, lon: prefix.lon, source: 'prefix' };
  const zone = timeZoneLocation(timeZone);
  return zone ? { ...zone, source: 'timeZone' } : undefined;
}
