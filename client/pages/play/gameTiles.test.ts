import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gameArtSvg } from './gameArt.js';
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

  test('a picture for every game: a scene for the catalogue, a stable generated one otherwise, escaped', () => {
    const drift = gameArtSvg({ id: 'neon-drift', title: 'Neon Drift' });
    assert.match(drift, /^<svg [^>]*aria-label="Neon Drift cover art"/);
    assert.notEqual(drift, gameArtSvg({ id: 'supertux', title: 'SuperTux' }));
    const odd = gameArtSvg({ id: 'my-game', title: '<b>Evil</b> & "Co"' });
    assert.equal(odd, gameArtSvg({ id: 'my-game', title: '<b>Evil</b> & "Co"' }), 'stable');
    assert.notEqual(odd, gameArtSvg({ id: 'other-game', title: '<b>Evil</b> & "Co"' }), 'colours follow the id');
    assert.doesNotMatch(odd, /<b>/, 'title text never becomes markup');
    assert.match(odd, />BC<\/text>/, 'its initials (letters only)');
    assert.match(gameArtSvg({ id: 'x', title: 'Ü' }), />Ü<\/text>/);
  });
});
