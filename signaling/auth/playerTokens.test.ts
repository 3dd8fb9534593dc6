import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAthError } from '../protocol/index.js';
import { issuePlayerToken, verifyPlayerToken } from './playerTokens.js';

const secret = new Uint8Array(32).fill(7);

test('a token verifies and carries its player id', () => {
  const { token, claims } = issuePlayerToken({ secret, ttlSec: 60 });
  assert.deepEqual(verifyPlayerToken(secret, token), claims);
});

test('tampered, foreign-key, malformed and expired tokens are refused with typed errors', () => {
  const { token } = issuePlayerToken({ secret, ttlSec: 60, nowMs: 1_000_000 });
  const [payload, signature] = token.split('.');
  const forged = `${Buffer.from(JSON.stringify({ sub: `p-${'0'.repeat(24)}`, exp: 9e9 })).toString('base64url')}.${signature}`;
  for (const bad of [forged, `${payload}.`, 'x', `${token}.x`, 'a'.repeat(600)]) {
    assert.throws(
      () => verifyPlayerToken(secret, bad, 1_000_000),
      (e: unknown) => isAthError(e, 'ATH_ERR_UNAUTHORIZED'),
    );
  }
  assert.throws(
    () => verifyPlayerToken(new Uint8Array(32).fill(8), token, 1_000_000),
    (e: unknown) => isAthError(e, 'ATH_ERR_UNAUTHORIZED'),
  );
  assert.throws(
    () => verifyPlayerToken(secret, token, 1_000_000 + 61_000),
    (e: unknown) => isAthError(e, 'ATH_ERR_TOKEN_EXPIRED'),
  );
});
