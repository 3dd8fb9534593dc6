import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWorkerCommand, parseWorkerEvent } from './workerMessages.js';

test('worker messages are validated at the boundary: unknown types and extra fields are rejected', () => {
  assert.deepEqual(parseWorkerCommand({ type: 'answer', id: 1, sdp: 'v=0' }), { type: 'answer', id: 1, sdp: 'v=0' });
  const input = parseWorkerCommand({ type: 'input', bytes: new Uint8Array([1, 2]) });
  assert.equal(input.type, 'input');
  for (const bad of [
    { type: 'answer', id: 1, sdp: 'v=0', extra: true },
    { type: 'nope', id: 1 },
    { type: 'input', bytes: 'AQI=' },
    { type: 'close', id: 1, reason: 'bored' },
    null,
  ]) {
    assert.throws(() => parseWorkerCommand(bad), { code: 'ATH_ERR_WORKER_MESSAGE' });
  }
  assert.equal(parseWorkerEvent({ type: 'ended', reason: 'player-left', message: 'bye' }).type, 'ended');
  assert.throws(() => parseWorkerEvent({ type: 'reply', id: 2, ok: false, code: 'nope', message: '' }), {
    code: 'ATH_ERR_WORKER_MESSAGE',
  });
});
