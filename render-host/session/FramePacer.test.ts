import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FramePacer, type FrameTick } from './FramePacer.js';

test('ticks in order; a blocked event loop reports the missed ticks in one callback', async () => {
  const ticks: FrameTick[] = [];
  let blocked = false;
  const done = new Promise<void>((resolve) => {
    const pacer = new FramePacer({
      fps: 100,
      onTick: (tick) => {
        ticks.push(tick);
        if (tick.index >= 3 && !blocked) {
          blocked = true;
          const until = performance.now() + 60;
          while (performance.now() < until) {
            // Simulates a long frame: 60 ms at 100 fps spans at least five periods.
          }
        }
        if (ticks.length >= 8) {
          pacer.stop();
          resolve();
        }
      },
    });
    pacer.start();
  });
  await done;
  const indices = ticks.map((t) => t.index);
  assert.deepEqual(
    indices,
    [...indices].sort((a, b) => a - b),
  );
  assert.equal(new Set(indices).size, indices.length, 'no tick twice');
  const missed = ticks.reduce((sum, t) => sum + t.missed, 0);
  assert.ok(missed >= 4, `the blocked period is reported as missed ticks (${missed})`);
  for (const [i, tick] of ticks.entries()) {
    if (i > 0) assert.equal(tick.index, (ticks[i - 1]?.index ?? 0) + 1 + tick.missed, 'index accounts for missed');
  }
});
