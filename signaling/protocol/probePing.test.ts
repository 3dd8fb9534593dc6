import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyInput } from './input/inputMessages.js';
import { decodeProbePing, decodeProbePong, encodeProbePing, encodeProbePong, PROBE_PING_BYTES } from './probePing.js';

test('a probe ping and its pong round-trip id and sender clock', () => {
  const ping = encodeProbePing(7, 1234.5);
  assert.equal(ping.byteLength, PROBE_PING_BYTES);
  assert.equal(ping[0], 16);
  assert.deepEqual(decodeProbePing(ping), { id: 7, sentAtMs: 1234.5 });
  assert.equal(decodeProbePong(ping), undefined);
  const pong = encodeProbePong(7, 1234.5);
  assert.equal(pong[0], 17);
  assert.deepEqual(decodeProbePong(pong), { id: 7, sentAtMs: 1234.5 });
});

test('foreign and malformed bytes are not pongs', () => {
  assert.equal(decodeProbePong(new KeyInput(1, 4, true).serialize()), undefined);
  assert.equal(decodeProbePong(new Uint8Array([17, 0, 0])), undefined);
  assert.equal(decodeProbePong(new Uint8Array([99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), undefined);
});
