/**
 * `/api/openapi.json` of a signaling server assembled as `ath-edge signaling` assembles it (startEconomy's
 * routes: provider status, economy, studios, trust, on signaling's own player and session routes), on real
 * parts (anvil with the contracts, a PGlite ledger): every JSON route fastify serves under /api is in the
 * document, each with the schema of its success answer and, where it takes input, of its error answer; and the
 * route files read typed requests instead of casting them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { DEFAULT_SIGNALING_SETTINGS, type SignalingServer, startSignaling } from '../../signaling/index.js';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import { DEFAULT_EDGE_CONFIG } from '../config/EdgeConfig.js';
import { type Economy, startEconomy } from './startEconomy.js';

const REPO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

type JsonSchema = { type?: string; properties?: Record<string, unknown>; items?: unknown; anyOf?: unknown[] };
type Operation = {
  parameters?: unknown[];
  requestBody?: unknown;
  responses?: Record<string, { content?: Record<string, { schema?: JsonSchema }> }>;
};
type OpenApiDocument = { openapi: string; paths: Record<string, Record<string, Operation>> };

let chain: TestChain;
let economy: Economy;
let server: SignalingServer;
let dataDir: string;
let document: OpenApiDocument;

before(async () => {
  chain = await startTestChain();
  dataDir = mkdtempSync(join(tmpdir(), 'ath-openapi-'));
  const config = structuredClone(DEFAULT_EDGE_CONFIG);
  config.dataDir = dataDir;
  config.chain = {
    ...config.chain,
    network: 'anvil',
    rpcUrl: chain.anvil.rpcUrl,
    chainId: chain.anvil.chainId,
    tokenAddress: chain.tokenAddress,
    escrowAddress: chain.escrowAddress,
    stakingAddress: chain.stakingAddress,
  };
  economy = await startEconomy({ config, log });
  server = await startSignaling({
    settings: { ...DEFAULT_SIGNALING_SETTINGS, tokenSecret: randomBytes(32), heartbeatIntervalMs: 600_000 },
    log,
    stakes: economy.stakes,
    drains: economy.drains,
    payments: economy.payments,
    routes: economy.routes,
  });
  await economy.attach(server.hub, server.metrics);
  const response = await fetch(`${server.httpUrl}/api/openapi.json`);
  assert.equal(response.status, 200);
  document = (await response.json()) as OpenApiDocument;
});

after(async () => {
  await server?.close();
  await economy?.close();
  await chain?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** `/api/sessions/:id` → `/api/sessions/{id}`, as the document names paths. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/**
 * What fastify serves, from its route tree (`printRoutes`: a child line, one level deeper, continues its
 * parent's path): `METHOD path` for every route under /api.
 */
function servedApiRoutes(): string[] {
  const tree = server.http.printRoutes({ commonPrefix: false });
  const prefixes: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^(.*?)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const [, indent = '', segment = '', methods = ''] = match;
    const depth = Math.round(indent.length / 4);
    prefixes.length = depth;
    const url = `${prefixes[depth - 1] ?? ''}${segment}`;
    prefixes[depth] = url;
    if (!url.startsWith('/api/') || url === '/api/openapi.json') continue;
    for (const method of methods.split(/,\s*/).filter(Boolean)) {
      if (method !== 'HEAD' && method !== 'OPTIONS') routes.push(`${method} ${openApiPath(url)}`);
    }
  }
  return [...new Set(routes)].sort();
}

const jsonSchemaOf = (operation: Operation, status: (code: string) => boolean): JsonSchema | undefined =>
  Object.entries(operation.responses ?? {}).find(([code]) => status(code))?.[1].content?.['application/json']?.schema;

const isSchema = (schema: JsonSchema | undefined) =>
  schema !== undefined && (schema.properties !== undefined || schema.items !== undefined || schema.anyOf !== undefined);

describe('/api/openapi.json', () => {
  test('every /api route fastify serves is in the document, studios, economy, trust and providers included', () => {
    const served = servedApiRoutes();
    assert.ok(served.length >= 20, `routes served: ${served.join(', ')}`);
    const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    assert.deepEqual(
      served.filter((route) => !documented.includes(route)),
      [],
      'served but not described',
    );
    for (const route of [
      'POST /api/studios',
      'POST /api/play-tokens/terms',
      'POST /api/play-tokens',
      'GET /api/sessions/{id}/charges',
      'GET /api/accounts/{address}',
      'GET /api/providers/{address}',
      'GET /api/providers/{address}/earnings',
      'GET /api/checks/rounds',
      'GET /api/hosts',
      'GET /api/games',
      'POST /api/sessions',
    ]) {
      assert.ok(documented.includes(route), route);
    }
  });

  test('each operation names the schema of its success answer, and of its error answer when it takes input', () => {
    const problems: string[] = [];
    for (const [path, operations] of Object.entries(document.paths)) {
      if (!path.startsWith('/api/')) continue;
      for (const [method, operation] of Object.entries(operations)) {
        const name = `${method.toUpperCase()} ${path}`;
        if (!isSchema(jsonSchemaOf(operation, (code) => /^2\d\d$/.test(code)))) problems.push(`${name}: no 2xx schema`);
        const takesInput = (operation.parameters?.length ?? 0) > 0 || operation.requestBody !== undefined;
        const error = jsonSchemaOf(operation, (code) => /^4(\d\d|xx|XX)$/.test(code));
        if (takesInput && !error?.properties?.['code']) problems.push(`${name}: no 4xx {code, message} schema`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test('the route files read typed requests: no `request.body as …` casts', () => {
    const dirs = [join(REPO_DIR, 'edge', 'economy'), join(REPO_DIR, 'signaling', 'http', 'routes')];
    const casts = dirs.flatMap((dir) =>
      readdirSync(dir)
        .filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts'))
        .flatMap((name) =>
          readFileSync(join(dir, name), 'utf8')
            .split('\n')
            .map((line, index) => ({ where: `${name}:${index + 1}`, line }))
            .filter(({ line }) => /\brequest\.(body|params|query)\s+as\b/.test(line))
            .map(({ where }) => where),
        ),
    );
    assert.deepEqual(casts, []);
  });
});
