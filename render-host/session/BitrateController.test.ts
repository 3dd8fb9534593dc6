import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BitrateController } from './BitrateController.js';
import type { DeliveryReport } from './DeliveryMonitor.js';

const bounds = { minBitrateBps: 500_000, startBitrateBps: 4_000_000, maxBitrateBps: 8_000_000 };
const clear = (deliveredBps?: number): DeliveryReport => ({
  queueDelayMs: 2,
  lossFraction: 0,
  deliveredBps,
  packets: 20,
});

describe('BitrateController', () => {
  test('probes up while no queue builds, never past the maximum', () => {
    const targets: number[] = [];
    const c = new BitrateController({ ...bounds, onTarget: (bps) => targets.push(bps) });
    for (let ms = 0; ms < 30_000; ms += 100) c.onDelivery(clear(c.targetBps * 0.6), ms);
    assert.equal(c.targetBps, 8_000_000);
    assert.ok(targets.length > 3 && targets.every((t, i) => i === 0 || t >= (targets[i - 1] ?? 0)));
  });

  test('a quiet scene (sending little, all delivered) does not drag the target down', () => {
    const c = new BitrateController(bounds);
    for (let ms = 0; ms < 10_000; ms += 100) c.onDelivery(clear(300_000), ms);
    assert.ok(c.targetBps >= bounds.startBitrateBps);
  });

  test('a building queue cuts to 85 % of what got through, then holds before probing again', () => {
    const c = new BitrateController(bounds);
    c.onDelivery({ queueDelayMs: 120, lossFraction: 0, deliveredBps: 2_000_000, packets: 30 }, 1000);
    assert.equal(c.targetBps, 1_700_000);
    c.onDelivery({ queueDelayMs: 120, lossFraction: 0, deliveredBps: 1_900_000, packets: 30 }, 1200);
    assert.equal(c.targetBps, 1_700_000, 'one cut per half second');
    c.onDelivery({ queueDelayMs: 30, lossFraction: 0, deliveredBps: 1_700_000, packets: 30 }, 2000);
    assert.equal(c.targetBps, 1_700_000, 'a draining queue: keep');
    c.onDelivery(clear(1_700_000), 2500);
    assert.equal(c.targetBps, 1_700_000, 'held for 2 s after a cut');
    c.onDelivery(clear(1_700_000), 3100);
    assert.ok(c.targetBps > 1_700_000);
  });

  test('a limit that went away: back from a cut to the start rate within 5 s of the last cut plus a few', () => {
    const c = new BitrateController(bounds);
    // 3 Mbit/s link: a queue builds, the target is cut.
    c.onDelivery({ queueDelayMs: 120, lossFraction: 0.01, deliveredBps: 2_900_000, packets: 30 }, 0);
    assert.equal(c.targetBps, 2_470_000);
    // The limit lifts at once: nothing pushes back any more.
    let backAtMs: number | undefined;
    for (let ms = 100; ms < 10_000; ms += 100) {
      c.onDelivery(clear(c.targetBps * 0.9), ms);
      if (backAtMs === undefined && c.targetBps >= bounds.startBitrateBps) backAtMs = ms;
    }
    assert.ok(backAtMs !== undefined && backAtMs <= 6_000, `back at ${backAtMs} ms`);
  });

  test('a limit that stays is approached gently after a cut (8 % a second), not overrun', () => {
    const c = new BitrateController(bounds);
    c.onDelivery({ queueDelayMs: 120, lossFraction: 0, deliveredBps: 2_900_000, packets: 30 }, 0);
    for (let ms = 100; ms <= 3_900; ms += 100) c.onDelivery(clear(c.targetBps * 0.9), ms);
    assert.ok(c.targetBps <= 2_470_000 * 1.08 ** 2 + 10_000, `${c.targetBps}`);
  });

  test('loss cuts, bounded below by the minimum', () => {
    const c = new BitrateController(bounds);
    for (let ms = 0; ms < 20_000; ms += 500) {
      c.onDelivery({ queueDelayMs: 0, lossFraction: 0.3, deliveredBps: undefined, packets: 10 }, ms);
    }
    assert.equal(c.targetBps, bounds.minBitrateBps);
  });

  test('rejects inconsistent bounds', () => {
    assert.throws(() => new BitrateController({ minBitrateBps: 5, startBitrateBps: 1, maxBitrateBps: 10 }), {
      code: 'ATH_ERR_SESSION_PARAMETERS',
    });
  });
});
