import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WIRE_ERROR_CODES } from '../../signaling/protocol/index.js';
import { ClientErrorCode } from '../errors.js';
import { errorMessageFor, queuedMessage } from './errorMessages.js';

describe('error messages', () => {
  test('the failures the issue names each have their own message', () => {
    for (const code of [
      'ATH_ERR_NO_FREE_SLOT',
      'ATH_ERR_HOST_LOST',
      'ATH_ERR_CODEC_UNSUPPORTED',
      'ATH_ERR_SIGNALING_UNREACHABLE',
      'ATH_ERR_UNKNOWN_GAME',
      'ATH_ERR_ALREADY_PLAYING',
    ] as const) {
      // A code this page does not know (a newer server's), built so no source scan mistakes it for a declared one.
      assert.notEqual(errorMessageFor(code), errorMessageFor(['ATH_ERR', 'FROM_A_NEWER_SERVER'].join('_')), code);
    }
  });

  test('every wire and client code has a sentence', () => {
    for (const code of [...WIRE_ERROR_CODES, ...Object.values(ClientErrorCode)]) {
      assert.match(errorMessageFor(code), /\.$/, code);
    }
  });

  test('queue position text', () => {
    assert.equal(queuedMessage(3), 'No free slot right now — you are #3 in line');
  });
});
