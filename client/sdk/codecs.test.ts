import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { codecFromMimeType, codecPreferencesFor, decodableCodecs, insistedCodec, orderCodecs } from './codecs.js';

// What Debian's Chromium reports (trimmed).
const CHROMIUM = [
  { mimeType: 'video/VP8' },
  { mimeType: 'video/rtx' },
  { mimeType: 'video/VP9', sdpFmtpLine: 'profile-id=0' },
  { mimeType: 'video/H264', sdpFmtpLine: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f' },
  { mimeType: 'video/H264', sdpFmtpLine: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' },
  { mimeType: 'video/H264', sdpFmtpLine: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640034' },
  { mimeType: 'video/AV1' },
  { mimeType: 'video/red' },
  { mimeType: 'video/ulpfec' },
];

describe('codec preference', () => {
  test('Chromium decodes both; H.264 first by default', () => {
    assert.deepEqual(decodableCodecs(CHROMIUM), ['H264', 'VP8']);
    assert.deepEqual(orderCodecs(decodableCodecs(CHROMIUM), 'auto'), ['H264', 'VP8']);
    assert.deepEqual(orderCodecs(decodableCodecs(CHROMIUM), 'h264'), ['H264', 'VP8']);
  });

  test('`codec=vp8` puts VP8 first', () => {
    assert.deepEqual(orderCodecs(['H264', 'VP8'], 'vp8'), ['VP8', 'H264']);
    assert.equal(insistedCodec('vp8'), 'VP8');
    assert.equal(insistedCodec('auto'), undefined);
  });

  test('a preference the browser cannot decode falls back to what it can', () => {
    assert.deepEqual(orderCodecs(['H264'], 'vp8'), ['H264']);
    assert.deepEqual(orderCodecs(['VP8'], 'h264'), ['VP8']);
  });

  test('only high-profile H.264, or nothing at all: nothing to ask for', () => {
    assert.deepEqual(
      decodableCodecs([{ mimeType: 'video/H264', sdpFmtpLine: 'packetization-mode=1;profile-level-id=640c1f' }]),
      [],
    );
    assert.deepEqual(decodableCodecs(null), []);
    assert.deepEqual(decodableCodecs([{ mimeType: 'video/AV1' }]), []);
    assert.deepEqual(decodableCodecs([{ mimeType: 'video/H264' }]), ['H264']);
  });

  test('setCodecPreferences order: the wanted codec first, repair formats kept', () => {
    const vp8 = codecPreferencesFor(CHROMIUM, 'VP8').map((c) => c.mimeType);
    assert.equal(vp8[0], 'video/VP8');
    assert.equal(vp8.length, CHROMIUM.length);
    assert.ok(vp8.includes('video/rtx') && vp8.includes('video/red'));
    const h264 = codecPreferencesFor(CHROMIUM, 'H264');
    assert.match(h264[0]?.sdpFmtpLine ?? '', /42001f/);
    assert.match(h264[1]?.sdpFmtpLine ?? '', /42e01f/);
    assert.match(h264[2]?.sdpFmtpLine ?? '', /640034/);
    assert.equal(h264[3]?.mimeType, 'video/VP8');
  });

  test('codec names from stats mime types', () => {
    assert.equal(codecFromMimeType('video/H264'), 'H264');
    assert.equal(codecFromMimeType('video/VP8'), 'VP8');
    assert.equal(codecFromMimeType('video/AV1'), undefined);
    assert.equal(codecFromMimeType(undefined), undefined);
  });
});
