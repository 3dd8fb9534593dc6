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
  // The product's limits, with 127.0.0.1 as the reverse proxy in front.
  server = await startTestSignaling({
    chain,
    admission: { ...DEFAULT_ADMISSION_SETTINGS, trustedProxies: ['127.0.0.1'] },
  });
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

test('the HTTP limit counts the client behind a trusted proxy, ignores X-Forwarded-For from others, and IPv6 by /64', async () => {
  const burst = (request: (i: number) => { remoteAddress: string; headers?: Record<string, string> }) =>
    Promise.all(
      Array.from({ length: 100 }, (_, i) => server.http.inject({ method: 'POST', url: '/api/session', ...request(i) })),
    ).then((answers) => answers.filter((a) => a.statusCode === 429).length);
  // One client through the proxy (a fake entry of its own left of the proxy's) is limited...
  assert.ok(
    (await burst((i) => ({
      remoteAddress: '127.0.0.1',
      headers: { 'x-forwarded-for': `10.0.0.${i}, 203.0.113.50` },
    }))) > 0,
  );
  // ... while another client through the same proxy is served.
  const other = await server.http.inject({
    method: 'POST',
    url: '/api/session',
    remoteAddress: '127.0.0.1',
    headers: { 'x-forwarded-for': '203.0.113.51' },
  });
  assert.equal(other.statusCode, 200, 'the proxy is not one shared address');
  // A direct caller writing a new X-Forwarded-For each time is still one address.
  assert.ok(
    (await burst((i) => ({ remoteAddress: '198.51.100.20', headers: { 'x-forwarded-for': `192.0.2.${i}` } }))) > 0,
  );
  // Every address of one IPv6 /64 shares one budget.
  assert.ok((await burst((i) => ({ remoteAddress: `2001:db8:7:7::${(i + 1).toString(16)}` }))) > 0);
});
