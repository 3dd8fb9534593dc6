import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BitrateController } from './BitrateController.js';

const bounds = { minBitrateBps: 500_000, startBitrateBps: 4_000_000, maxBitrateBps: 8_000_000 };

describe('BitrateController', () => {
  test('probes up while everything sent gets through, never past the maximum', () => {
    const targets: number[] = [];
    const c = new BitrateController({ ...bounds, onTarget: (bps) => targets.push(bps) });
    for (let s = 0; s < 30; s++) c.onEstimate(c.targetBps * 0.6, c.targetBps * 0.6, s * 1000);
    assert.equal(c.targetBps, 8_000_000);
    assert.ok(targets.length > 3 && targets.every((t, i) => i === 0 || t >= (targets[i - 1] ?? 0)));
  });

  test('a quiet scene (sending little, all delivered) does not drag the target down', () => {
    const c = new BitrateController(bounds);
    for (let s = 0; s < 10; s++) c.onEstimate(300_000, 310_000, s * 1000);
    assert.ok(c.targetBps >= bounds.startBitrateBps);
  });

  test('cuts to just under the delivered rate when the receiver gets clearly less than we send', () => {
    const c = new BitrateController(bounds);
    c.onEstimate(2_000_000, 4_000_000, 900);
    assert.equal(c.targetBps, 4_000_000, 'one short report is not enough');
    c.onEstimate(2_000_000, 4_000_000, 1000);
    assert.equal(c.targetBps, 1_700_000);
    // Held for 2 s after a cut, then probing resumes.
    c.onEstimate(1_700_000, 1_700_000, 2500);
    assert.equal(c.targetBps, 1_700_000);
    c.onEstimate(1_700_000, 1_700_000, 3500);
    assert.ok(c.targetBps > 1_700_000);
  });

  test('loss and congestion cut, bounded below by the minimum', () => {
    const c = new BitrateController(bounds);
    for (let i = 0; i < 40; i++) c.onCongestion(true, i * 300);
    assert.equal(c.targetBps, bounds.minBitrateBps);
    const d = new BitrateController(bounds);
    d.onLoss(0.3, 0);
    assert.equal(d.targetBps, 3_400_000);
    d.onEstimate(3_000_000, 3_000_000, 5000);
    assert.ok(d.targetBps < 3_400_000, 'still lossy: keep cutting');
  });

  test('rejects inconsistent bounds', () => {
    assert.throws(() => new BitrateController({ minBitrateBps: 5, startBitrateBps: 1, maxBitrateBps: 10 }), {
      code: 'ATH_ERR_SESSION_PARAMETERS',
    });
  });
});
