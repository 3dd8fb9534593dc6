#!/usr/bin/env node
// Regenerates timeZoneLocations.ts from the system's tzdata (Debian: /usr/share/zoneinfo): each IANA zone's
// reference location (zone.tab, zone1970.tab) and the old names browsers still report (links in tzdata.zi).
// `node signaling/geo/buildTimeZoneTable.mjs > signaling/geo/timeZoneLocations.ts`
import { readFileSync } from 'node:fs';

const dir = process.argv[2] ?? '/usr/share/zoneinfo';
const coordinate = (text, degreeDigits) => {
  const sign = text[0] === '-' ? -1 : 1;
  const digits = text.slice(1);
  const degrees = Number(digits.slice(0, degreeDigits));
  const minutes = Number(digits.slice(degreeDigits, degreeDigits + 2));
  const seconds = Number(digits.slice(degreeDigits + 2) || 0);
  return sign * (degrees + minutes / 60 + seconds / 3600);
};
const zones = new Map();
for (const file of ['zone.tab', 'zone1970.tab']) {
  for (const line of readFileSync(`${dir}/${file}`, 'utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const [, coords, zone] = line.split('\t');
    const match = /^([+-]\d+)([+-]\d+)$/.exec(coords ?? '');
    if (!match || !zone) continue;
    const lat = coordinate(match[1], 2);
    const lon = coordinate(match[2], 3);
    zones.set(zone, [Math.round(lat * 100) / 100, Math.round(lon * 100) / 100]);
  }
}
for (const line of readFileSync(`${dir}/tzdata.zi`, 'utf8').split('\n')) {
  const [kind, target, link] = line.split(' ');
  if (kind === 'L' && target && link && zones.has(target) && !zones.has(link)) zones.set(link, zones.get(target));
}
const entries = [...zones].sort(([a], [b]) => a.localeCompare(b));
console.log(`/**
 * Where each IANA time zone's reference city is (latitude, longitude in degrees): what a browser's time zone
 * (\`Intl.DateTimeFormat().resolvedOptions().timeZone\`) says about where its player is, before any RTT was
 * measured. Generated from tzdata (zone.tab, zone1970.tab and the links in tzdata.zi, public domain) by
 * \`node signaling/geo/buildTimeZoneTable.mjs\`; ${entries.length} zones.
 */
export const TIME_ZONE_LOCATIONS: Readonly<Record<string, readonly [lat: number, lon: number]>> = {`);
for (const [zone, [lat, lon]] of entries) console.log(`  '${zone}': [${lat}, ${lon}],`);
console.log('};');
