/**
 * A render-host session streaming to Chromium over a link shaped to 3 Mbit/s with 1 % loss (two network
 * namespaces and a veth pair made by the test, removed after it, also on failure): the encoder's target must
 * come down to what the link carries, the picture must keep moving, and after the limit lifts the target must
 * climb back. Bounds are behaviour with generous margins, not timing: this 2-core box is shared; the figures
 * (freeze, recovery time) are in `npm run bench:stream -- --shape 3mbit`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runShapedStream } from './testing/runShapedStream.js';
import { canShapeLinks } from './testing/shapedLink.js';

const SHAPE = { rateKbit: 3000, lossPct: 1, limitPackets: 100 };

describe('congestion: a 3 Mbit/s link with 1 % loss', { skip: !canShapeLinks() && 'needs root, ip and tc' }, () => {
  test('the bitrate adapts, the picture keeps moving, and the rate climbs back when the limit lifts', async () => {
    const { phases } = await runShapedStream([
      { name: 'open', seconds: 5, shape: null },
      { name: 'shaped', seconds: 15, shape: SHAPE },
      { name: 'lifted', seconds: 10, shape: null },
    ]);
    const [open, shaped, lifted] = phases;
    assert.ok(open && shaped && lifted);
    const summary = JSON.stringify(phases.map(({ perSecond: _, ...p }) => p));
    // Adapted: the encoder's target went below the link's rate.
    assert.ok(shaped.targetBpsMin < SHAPE.rateKbit * 1000, `target stayed above the link: ${summary}`);
    // Kept moving: frames presented all along (no multi-second freeze) and every second of the last 10 s.
    assert.ok(shaped.maxFreezeMs < 2_000, `froze: ${summary}`);
    assert.ok(
      shaped.perSecond.slice(-10).every((s) => s.frames > 0),
      `a second without a frame: ${summary}`,
    );
    // Recovered: once the limit lifts the target climbs back above what the shaped link allowed.
    assert.ok(lifted.targetBpsLast > shaped.targetBpsMin, `no recovery: ${summary}`);
    assert.ok(lifted.perSecond.slice(-3).every((s) => s.frames > 0));
  });
});
