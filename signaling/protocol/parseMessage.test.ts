import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAthError } from './AthError.js';
import { MAX_MESSAGE_BYTES, PEER_MESSAGES, SERVER_MESSAGES } from './messages.js';
import { parsePeerMessage, parseServerMessage } from './parseMessage.js';
import { PROTOCOL_VERSION } from './version.js';

const sessionId = `0x${'ab'.repeat(32)}`;

const rejects = (raw: string | Uint8Array, code: string) =>
  assert.throws(
    () => parsePeerMessage(raw),
    (error: unknown) => isAthError(error) && error.code === code,
  );

test('accepts a valid hello and play', () => {
  assert.deepEqual(
    parsePeerMessage(JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' })),
    {
      type: 'hello',
      protocolVersion: PROTOCOL_VERSION,
      role: 'player',
    },
  );
  const play = { type: 'play', game: 'neon-drift', codecs: ['VP8', 'H264'], maxPriceWeiPerSec: '1000000000000000' };
  assert.deepEqual(parsePeerMessage(new TextEncoder().encode(JSON.stringify(play))), play);
});

test('rejects malformed JSON, non-objects and missing type', () => {
  rejects('{"type":', 'ATH_ERR_BAD_MESSAGE');
  rejects('[1,2]', 'ATH_ERR_BAD_MESSAGE');
  rejects('"hello"', 'ATH_ERR_BAD_MESSAGE');
  rejects('{"role":"player"}', 'ATH_ERR_BAD_MESSAGE');
  rejects(new Uint8Array([0xff, 0xfe, 0x7b]), 'ATH_ERR_BAD_MESSAGE');
});

test('rejects unknown types, extra fields, wrong field types', () => {
  rejects('{"type":"teleport"}', 'ATH_ERR_UNKNOWN_TYPE');
  rejects(JSON.stringify({ type: 'quit', sessionId, extra: 1 }), 'ATH_ERR_BAD_MESSAGE');
  rejects(JSON.stringify({ type: 'quit', sessionId: 'not-an-id' }), 'ATH_ERR_BAD_MESSAGE');
  rejects(JSON.stringify({ type: 'play', game: 'x', codecs: ['H265'] }), 'ATH_ERR_BAD_MESSAGE');
  rejects(
    JSON.stringify({ type: 'play', game: 'x', codecs: ['H264'], maxPriceWeiPerSec: '-1' }),
    'ATH_ERR_BAD_MESSAGE',
  );
  rejects(
    JSON.stringify({ type: 'play', game: 'x', codecs: ['H264'], maxPriceWeiPerSec: 1e18 }),
    'ATH_ERR_BAD_MESSAGE',
  );
});

test('rejects oversized frames before parsing', () => {
  rejects(
    JSON.stringify({ type: 'answer', sessionId, sdp: 'v'.repeat(MAX_MESSAGE_BYTES) }),
    'ATH_ERR_MESSAGE_TOO_LARGE',
  );
  rejects(new Uint8Array(MAX_MESSAGE_BYTES + 1), 'ATH_ERR_MESSAGE_TOO_LARGE');
});

test('server and peer registries are separate: a peer cannot send `start-session`', () => {
  const start = { type: 'start-session', sessionId, slot: 0, game: 'g', codecs: ['H264'], resume: false };
  assert.deepEqual(parseServerMessage(JSON.stringify(start)), start);
  rejects(JSON.stringify(start), 'ATH_ERR_UNKNOWN_TYPE');
});

test('every registry entry is keyed by its own type literal', () => {
  for (const [type, schema] of [...Object.entries(PEER_MESSAGES), ...Object.entries(SERVER_MESSAGES)]) {
    assert.equal(schema.properties.type.const, type);
    assert.equal(schema.additionalProperties, false);
  }
});
