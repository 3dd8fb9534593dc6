import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allowedOriginOf, gameFromPath } from './embedTarget.js';

test('allowedOriginOf takes only an exact http(s) origin (no path, no placeholder, no wildcard)', () => {
  assert.equal(allowedOriginOf('https://studio.example'), 'https://studio.example');
  assert.equal(allowedOriginOf('http://127.0.0.1:8080'), 'http://127.0.0.1:8080');
  assert.equal(allowedOriginOf('https://studio.example/page'), undefined);
  assert.equal(allowedOriginOf('%ATH_ALLOWED_ORIGIN%'), undefined);
  assert.equal(allowedOriginOf('*'), undefined);
  assert.equal(allowedOriginOf(''), undefined);
  assert.equal(allowedOriginOf(null), undefined);
  assert.equal(allowedOriginOf('javascript:alert(1)'), undefined);
});

test('gameFromPath reads /embed/<game>', () => {
  assert.equal(gameFromPath('/embed/neon-drift'), 'neon-drift');
  assert.equal(gameFromPath('/embed/neon-drift/'), 'neon-drift');
  assert.equal(gameFromPath('/embed/Neon'), undefined);
  assert.equal(gameFromPath('/embed/'), undefined);
  assert.equal(gameFromPath('/other/neon-drift'), undefined);
});
