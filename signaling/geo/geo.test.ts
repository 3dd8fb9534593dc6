import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  greatCircleKm,
  locateFromProbes,
  locatePlayer,
  mergePrefixLocation,
  networkPrefixOf,
  rttEstimateMs,
  timeZoneLocation,
} from './geo.js';

describe('geo', () => {
  test('great-circle distances', () => {
    const frankfurt = { lat: 50.11, lon: 8.68 };
    const newYork = { lat: 40.71, lon: -74.01 };
    assert.ok(Math.abs(greatCircleKm(frankfurt, newYork) - 6_200) < 60);
    assert.ok(greatCircleKm({ lat: 0, lon: 179.5 }, { lat: 0, lon: -179.5 }) < 112, 'across the antimeridian');
    assert.ok(rttEstimateMs(0) > 0 && rttEstimateMs(6_200) > 80);
  });

  test('time zones name places; UTC and unknown names do not', () => {
    assert.deepEqual(timeZoneLocation('Europe/Berlin'), { lat: 52.5, lon: 13.37 });
    assert.ok(timeZoneLocation('Asia/Calcutta'), 'the old names browsers still report');
    assert.equal(timeZoneLocation('UTC'), undefined);
    assert.equal(timeZoneLocation('Mars/Olympus_Mons'), undefined);
    assert.equal(timeZoneLocation(undefined), undefined);
  });

  test('network prefixes keep /24 and /48, never the address', () => {
    assert.equal(networkPrefixOf('203.0.113.77'), '203.0.113.0/24');
    assert.equal(networkPrefixOf('::ffff:198.51.100.9'), '198.51.100.0/24');
    assert.equal(networkPrefixOf('2001:db8:abcd:12::1'), '2001:db8:abcd::/48');
    assert.equal(networkPrefixOf('2001:db8::1'), '2001:db8:0::/48');
    assert.equal(networkPrefixOf('not an address'), undefined);
    assert.equal(networkPrefixOf(undefined), undefined);
  });

  test('a probe round places its player near the fastest hosts; a learnt prefix beats the time zone', () => {
    const round = locateFromProbes([
      { lat: 50.11, lon: 8.68, rttMs: 8 },
      { lat: 48.86, lon: 2.35, rttMs: 14 },
      { lat: 40.71, lon: -74.01, rttMs: 95 },
    ]);
    assert.ok(round);
    assert.ok(greatCircleKm(round, { lat: 50.11, lon: 8.68 }) < 250, 'near Frankfurt, pulled a little to Paris');
    assert.equal(locateFromProbes([{ lat: 0, lon: 0, rttMs: 150 }]), undefined, 'far hosts say little');
    const learnt = mergePrefixLocation(undefined, round, 1);
    const again = mergePrefixLocation(learnt, { lat: 52.5, lon: 13.37, bestRttMs: 5 }, 2);
    assert.equal(again.samples, 2);
    assert.ok(
      greatCircleKm(again, learnt) > 0 &&
        greatCircleKm(again, learnt) < greatCircleKm(learnt, { lat: 52.5, lon: 13.37 }),
    );
    assert.equal(locatePlayer(again, 'America/New_York')?.source, 'prefix');
    assert.equal(locatePlayer(undefined, 'America/New_York')?.source, 'timeZone');
    assert.equal(locatePlayer(undefined, 'UTC'), undefined);
  });
});
