import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_PLAY_SETTINGS, type PlaySettingName, parsePlaySettings } from './PlaySettings.js';

const SERVER = 'http://127.0.0.1:8080';

function parse(attributes: Partial<Record<PlaySettingName, string>>, query = '') {
  return parsePlaySettings({
    attribute: (name) => attributes[name] ?? null,
    urlParams: new URLSearchParams(query),
    defaultServer: SERVER,
  });
}

describe('PlaySettings', () => {
  test('defaults', () => {
    assert.deepEqual(parse({}), { ...DEFAULT_PLAY_SETTINGS, server: SERVER });
  });

  test('URL parameters fill what attributes leave out; attributes win', () => {
    const fromUrl = parse({}, 'game=neon-drift&codec=VP8&muted&stats=1&quality=low');
    assert.equal(fromUrl.game, 'neon-drift');
    assert.equal(fromUrl.codec, 'vp8');
    assert.equal(fromUrl.muted, true);
    assert.equal(fromUrl.stats, true);
    assert.equal(fromUrl.quality, 'low');
    const both = parse({ game: 'other-game', codec: 'h264', muted: 'false' }, 'game=neon-drift&codec=vp8&muted=1');
    assert.equal(both.game, 'other-game');
    assert.equal(both.codec, 'h264');
    assert.equal(both.muted, false);
  });

  test('the price ceiling: ATH per hour from the attribute, never from the URL (a link must not raise it)', () => {
    assert.equal(parse({ 'max-price': '2.5' }).maxPriceWeiPerSec, (25n * 10n ** 17n) / 3600n);
    assert.equal(parse({}, 'max-price=1000').maxPriceWeiPerSec, DEFAULT_PLAY_SETTINGS.maxPriceWeiPerSec);
    assert.equal(parse({ 'max-price': '-1' }).maxPriceWeiPerSec, DEFAULT_PLAY_SETTINGS.maxPriceWeiPerSec);
    assert.equal(parse({ 'max-price': '0' }).maxPriceWeiPerSec, DEFAULT_PLAY_SETTINGS.maxPriceWeiPerSec);
  });

  test('token and server never come from the URL', () => {
    const s = parse({}, 'token=abc.def&server=http://evil.example');
    assert.equal(s.token, undefined);
    assert.equal(s.server, SERVER);
    const t = parse({ token: 'abc.def', server: 'https://edge.example/base/' });
    assert.equal(t.token, 'abc.def');
    assert.equal(t.server, 'https://edge.example/base');
  });

  test('invalid values fall back to defaults', () => {
    const s = parse({ game: 'Bad Game!', codec: 'av1', quality: 'ultra', server: 'javascript:alert(1)' });
    assert.equal(s.game, undefined);
    assert.equal(s.codec, 'auto');
    assert.equal(s.quality, 'auto');
    assert.equal(s.server, SERVER);
    assert.equal(parse({ token: 'has spaces' }).token, undefined);
  });

  test('boolean attributes: present is true, explicit false/0/off/no is false', () => {
    assert.equal(parse({ muted: '' }).muted, true);
    assert.equal(parse({ diagnostics: 'off' }).diagnostics, false);
    assert.equal(parse({ stats: 'no' }).stats, false);
  });
});
