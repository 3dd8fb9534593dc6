/**
 * The economy's routes as typed plugins with response schemas, on real parts: anvil with the contracts, an
 * in-memory PGlite ledger holding a metered, settled session, signaling's own fastify. Each answer matches its
 * schema in signaling/protocol and carries everything the ledger returned (a response schema drops the fields it
 * does not name: a field added to the ledger and not to the schema fails here); bad input gets typed errors; the
 * OpenAPI document describes the routes with their answers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { AccountBody, FaucetBody, ProviderEarningsBody, SessionChargesBody } from '../../signaling/protocol/index.js';
import { startTestSignaling, type TestSignaling } from '../../signaling/testing/startTestSignaling.js';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import {
  accountSummary,
  claimSettlementBatch,
  enqueueSettlement,
  type Ledger,
  markBatchConfirmed,
  markBatchSent,
  openLedger,
  providerEarnings,
  recordStake,
  recordUsageTick,
  recordVoucher,
  sessionCharges,
} from '../ledger/index.js';
import {
  fakeSignature,
  randomAddress,
  randomBytes32,
  seedSession,
  TEST_FEE_SPLIT,
} from '../ledger/testing/fixtures.js';
import { economyRoutes, publicCharges } from './economyRoutes.js';
import { toJson } from './toJson.js';

let chain: TestChain;
let ledger: Ledger;
let server: TestSignaling;
const payer = randomAddress();
const provider = randomAddress();
let settledId: `0x${string}`;

before(async () => {
  chain = await startTestChain();
  ledger = await openLedger({});
  const settled = await seedSession(ledger, { payer, provider, priceWeiPerSec: 13n, maxWei: 1000n });
  settledId = settled.sessionId;
  await seedSession(ledger, { payer, provider, priceWeiPerSec: 7n, maxWei: 500n });
  for (let i = 0; i < 2; i++) await recordUsageTick(ledger, { sessionId: settledId, tickIndex: i, deliveredSec: 5 });
  await recordVoucher(ledger, {
    usage: { sessionId: settledId, cumulativeAmount: 130n, deliveredSeconds: 10n },
    meterAddress: randomAddress(),
    signature: fakeSignature(),
  });
  await enqueueSettlement(ledger, { sessionId: settledId });
  const batch = await claimSettlementBatch(ledger, { workerId: 'w' });
  assert.ok(batch);
  const txHash = randomBytes32();
  await markBatchSent(ledger, { batchId: batch.batchId, txHash });
  await markBatchConfirmed(ledger, { batchId: batch.batchId, feeSplit: TEST_FEE_SPLIT, txHash });
  await recordStake(ledger, { operatorAddress: provider, role: 'provider', amountWei: 10n ** 21n });

  server = await startTestSignaling({
    chain,
    heartbeatIntervalMs: 600_000,
    routes: [
      economyRoutes({
        ledger,
        chain: {
          network: 'anvil',
          rpcUrl: chain.anvil.rpcUrl,
          chainId: chain.anvil.chainId,
          tokenAddress: chain.tokenAddress,
          escrowAddress: chain.escrowAddress,
          stakingAddress: chain.stakingAddress,
        },
        publicClient: chain.publicClient,
        faucet: { walletClient: chain.walletFor(chain.admin), athWei: 10n ** 18n, ethWei: 10n ** 16n },
      }),
    ],
  });
});

after(async () => {
  await server?.close();
  await ledger?.close();
  await chain?.close();
});

async function call(method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) {
  const response = await server.http.inject({ method, url, ...(payload === undefined ? {} : { payload }) });
  return { status: response.statusCode, json: response.json() as Record<string, unknown> };
}

function assertMatches(schema: TSchema, body: unknown, what: string): void {
  const first = Value.Errors(schema, body).First();
  assert.equal(first, undefined, `${what}: ${first?.path} ${first?.message}`);
}

describe('economy routes', () => {
  test('GET /api/sessions/:id/charges: the schema, and every amount the ledger has — no signature', async () => {
    const { status, json } = await call('GET', `/api/sessions/${settledId}/charges`);
    assert.equal(status, 200, JSON.stringify(json));
    assertMatches(SessionChargesBody, json, 'charges');
    const charges = await sessionCharges(ledger, settledId);
    assert.ok(charges);
    assert.deepEqual(json, toJson(publicCharges(charges)));
    assert.doesNotMatch(JSON.stringify(json), /signature|0x[0-9a-f]{130}/i, 'no signature leaves');
    assert.equal(json['chargedWei'], '130');
    assert.equal((json['settlements'] as Array<{ state: string }>)[0]?.state, 'confirmed');
  });

  test('GET /api/accounts/:address: chain balances plus the ledger summary', async () => {
    const { status, json } = await call('GET', `/api/accounts/${payer}`);
    assert.equal(status, 200, JSON.stringify(json));
    assertMatches(AccountBody, json, 'account');
    assert.deepEqual(json['ledger'], toJson(await accountSummary(ledger, payer)));
    assert.equal(json['tokenWei'], '0');
    const unknown = await call('GET', `/api/accounts/${randomAddress()}`);
    assert.equal(unknown.status, 200);
    assert.equal(unknown.json['ledger'], null, 'a wallet the ledger does not know');
  });

  test('GET /api/providers/:address/earnings: the ledger’s earnings and the escrow’s withdrawable', async () => {
    const { status, json } = await call('GET', `/api/providers/${provider}/earnings`);
    assert.equal(status, 200, JSON.stringify(json));
    assertMatches(ProviderEarningsBody, json, 'earnings');
    assert.deepEqual(
      json,
      toJson({ ...(await providerEarnings(ledger, { providerAddress: provider })), withdrawableWei: 0n }),
    );
    assert.equal(json['earnedWei'], '104', '130 settled minus the 20 % fee');
  });

  test('POST /api/faucet gives test ATH and gas and answers in its schema', async () => {
    const wallet = randomAddress();
    const { status, json } = await call('POST', '/api/faucet', { address: wallet });
    assert.equal(status, 200, JSON.stringify(json));
    assertMatches(FaucetBody, json, 'faucet');
    const after = await call('GET', `/api/accounts/${wallet}`);
    assert.equal(after.json['tokenWei'], String(10n ** 18n));
  });

  test('bad input: typed errors in the error schema, and the server keeps serving', async () => {
    const cases: Array<
      [method: 'GET' | 'POST', url: string, payload: Record<string, unknown> | undefined, status: number, code: string]
    > = [
      ['GET', `/api/sessions/${randomBytes32()}/charges`, undefined, 404, 'ATH_ERR_SESSION_NOT_FOUND'],
      ['GET', '/api/sessions/0x1234/charges', undefined, 400, 'ATH_ERR_BAD_REQUEST'],
      ['GET', '/api/accounts/not-an-address', undefined, 400, 'ATH_ERR_BAD_REQUEST'],
      ['POST', '/api/faucet', { address: randomAddress(), extra: 1 }, 400, 'ATH_ERR_BAD_REQUEST'],
      ['POST', '/api/faucet', { address: randomAddress(), athWei: '1e18' }, 400, 'ATH_ERR_BAD_REQUEST'],
      [
        'POST',
        '/api/faucet',
        { address: randomAddress(), athWei: (10n ** 24n).toString() },
        400,
        'ATH_ERR_BAD_MESSAGE',
      ],
    ];
    for (const [method, url, payload, status, code] of cases) {
      const response = await call(method, url, payload);
      assert.equal(response.status, status, `${method} ${url}: ${JSON.stringify(response.json)}`);
      assert.equal(response.json['code'], code, url);
      assert.equal(typeof response.json['message'], 'string');
      assert.deepEqual(Object.keys(response.json).sort(), ['code', 'message']);
    }
    assert.equal((await call('GET', `/api/sessions/${settledId}/charges`)).status, 200);
  });

  test('/api/openapi.json describes the economy routes and their answers', async () => {
    const { status, json } = await call('GET', '/api/openapi.json');
    assert.equal(status, 200);
    const paths = json['paths'] as Record<string, Record<string, { responses: Record<string, unknown> }>>;
    const answer = (path: string, method: string, code: string) => {
      const response = paths[path]?.[method]?.responses[code] as
        | { content?: { 'application/json'?: { schema?: { properties?: Record<string, unknown> } } } }
        | undefined;
      return response?.content?.['application/json']?.schema?.properties;
    };
    assert.ok(answer('/api/sessions/{id}/charges', 'get', '200')?.['settlements'], 'charges');
    assert.ok(answer('/api/accounts/{address}', 'get', '200')?.['escrow'], 'accounts');
    assert.ok(answer('/api/providers/{address}/earnings', 'get', '200')?.['withdrawableWei'], 'earnings');
    assert.ok(answer('/api/faucet', 'post', '200')?.['athTx'], 'faucet');
    assert.ok(answer('/api/chain', 'get', '200')?.['escrowAddress'], 'chain');
    assert.ok(
      answer('/api/sessions/{id}/charges', 'get', '4XX')?.['code'] ??
        answer('/api/sessions/{id}/charges', 'get', '4xx')?.['code'],
    );
  });
});
