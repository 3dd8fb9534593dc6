import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { availability, describeGame } from './gameTiles.js';

describe('game tiles', () => {
  test('availability', () => {
    assert.deepEqual(availability({ hostsUp: 0, freeSlots: 0 }), { text: 'Offline', kind: 'offline' });
    assert.equal(availability({ hostsUp: 1, freeSlots: 0 }).kind, 'busy');
    assert.equal(availability({ hostsUp: 2, freeSlots: 1 }).text, '1 free slot');
    assert.equal(availability({ hostsUp: 2, freeSlots: 3 }).text, '3 free slots');
  });

  test('description line', () => {
    const base = { id: 'g', title: 'G', description: '', width: 1280, height: 720, fps: 60, hostsUp: 1, freeSlots: 1 };
    assert.equal(
      describeGame({ ...base, inputMode: 'absolute', audio: true }),
      '1280×720 · 60 fps · keyboard · mouse · gamepad · sound',
    );
    assert.equal(describeGame({ ...base, inputMode: 'relative', audio: false }), '1280×720 · 60 fps · mouse look');
  });
});
