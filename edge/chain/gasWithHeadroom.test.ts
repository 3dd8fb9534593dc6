import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gasWithHeadroom } from './gasWithHeadroom.js';

test('gas headroom: at least 60,000, half the estimate, at most 500,000 (a big batch stays within a block)', () => {
  assert.equal(gasWithHeadroom(21_000n), 81_000n);
  assert.equal(gasWithHeadroom(400_000n), 600_000n);
  assert.equal(gasWithHeadroom(20_000_000n), 20_500_000n);
});
