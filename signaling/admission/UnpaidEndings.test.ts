import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UnpaidEndings } from './UnpaidEndings.js';

test('unpaid endings: refused at max within the window, free again when the oldest leaves it; bounded', () => {
  const endings = new UnpaidEndings({ max: 3, windowMs: 1_000, maxTracked: 4 });
  const a = { addressKey: '10.0.0.1', playerId: 'p1' };
  endings.record(a, 0);
  endings.record(a, 100);
  assert.equal(endings.retryAfterMs(a, 200), 0, 'two endings: still served');
  endings.record(a, 200);
  assert.equal(endings.retryAfterMs(a, 300), 700, 'three: until the first leaves the window');
  assert.equal(endings.retryAfterMs({ addressKey: '10.0.0.1', playerId: 'other' }, 300), 700, 'by address');
  assert.equal(endings.retryAfterMs({ addressKey: '10.0.0.2', playerId: 'p1' }, 300), 700, 'by token');
  assert.equal(endings.retryAfterMs({ addressKey: '10.0.0.2', playerId: 'p2' }, 300), 0);
  assert.equal(endings.retryAfterMs(a, 1_000), 0, 'the first ending has left the window');
  for (let i = 0; i < 100; i += 1) endings.record({ addressKey: `10.1.0.${i}`, playerId: `q${i}` }, 2_000);
  assert.ok(endings.size <= 4, `${endings.size} keys remembered`);
});
