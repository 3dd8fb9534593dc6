/**
 * HTTP admission control: a burst of player-token requests from one address meets 429s with Retry-After,
 * while another address is still served. Through `inject()` with the caller's address set.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestChain, type TestChain } from '../../edge/chain/testing/startTestChain.js';
import { DEFAULT_ADMISSION_SETTINGS } from '../admission/AdmissionSettings.js';
import { startTestSignaling, type TestSignaling } from '../testing/startTestSignaling.js';

let chain: TestChain;
let server: TestSignaling;
before(async () => {
  chain = await startTestChain();
  // The product's limits, not the raised ones tests of other things run with.
  server = await startTestSignaling({ chain, admission: DEFAULT_ADMISSION_SETTINGS });
});
after(async () => {
  await server.close();
  await chain.close();
});

test('a burst of 300 player-token requests from one address meets 429s with Retry-After', async () => {
  const answers = await Promise.all(
    Array.from({ length: 300 }, () =>
      server.http.inject({ method: 'POST', url: '/api/session', remoteAddress: '203.0.113.7' }),
    ),
  );
  const served = answers.filter((a) => a.statusCode === 200).length;
  const limited = answers.filter((a) => a.statusCode === 429);
  assert.ok(limited.length > 0, `${served} of 300 were served, none refused`);
  assert.ok(served < 100, `${served} of 300 were served`);
  const first = limited[0];
  assert.ok(first);
  assert.equal(first.json().code, 'ATH_ERR_RATE_LIMITED');
  assert.ok(Number(first.headers['retry-after']) > 0, 'Retry-After in seconds');
  // Another address is not held to the first one's budget.
  const other = await server.http.inject({ method: 'POST', url: '/api/session', remoteAddress: '198.51.100.9' });
  assert.equal(other.statusCode, 200);
});

test('every route is limited per address, not only token minting', async () => {
  const answers = await Promise.all(
    Array.from({ length: 2_000 }, () =>
      server.http.inject({ method: 'GET', url: '/api/games', remoteAddress: '203.0.113.8' }),
    ),
  );
  const limited = answers.filter((a) => a.statusCode === 429);
  assert.ok(limited.length > 0, 'GET /api/games was never limited');
  assert.equal(limited[0]?.json().code, 'ATH_ERR_RATE_LIMITED');
});
