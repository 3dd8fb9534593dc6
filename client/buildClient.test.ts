import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestSignaling } from '../signaling/testing/startTestSignaling.js';
import { type BuildClientReturnType, buildClient } from './index.js';

let outDir: string;
let result: BuildClientReturnType;

before(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'ath-client-'));
  result = await buildClient({ outDir });
});
after(async () => {
  await rm(outDir, { recursive: true, force: true });
});

describe('buildClient', () => {
  test('writes the page, its script and the studio script', async () => {
    for (const file of ['index.html', 'assets/play.js', 'sdk/ath-play.js']) {
      assert.ok(result.files.includes(file), file);
      assert.ok((await stat(join(outDir, file))).size > 0, file);
    }
    const html = await readFile(join(outDir, 'index.html'), 'utf8');
    assert.match(html, /<ath-play\b/);
    assert.match(html, /src="\/assets\/play\.js"/);
  });

  test("the studio script names its version (the @ath-edge/player package's) on its first line, as served", async () => {
    const packageJson = join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json');
    const { version } = JSON.parse(await readFile(packageJson, 'utf8')) as { version: string };
    const script = await readFile(join(outDir, 'sdk/ath-play.js'), 'utf8');
    assert.ok(script.startsWith(`/*! @ath-edge/player ${version} `), script.slice(0, 80));
    // As signaling serves it.
    const server = await startTestSignaling({ clientDir: outDir });
    try {
      const response = await fetch(`${server.httpUrl}/sdk/ath-play.js`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /javascript/);
      assert.equal(await response.text(), script);
    } finally {
      await server.close();
    }
  });

  test('the play and provider pages link the shared stylesheet, which is written', async () => {
    assert.ok(result.files.includes('assets/site.css'));
    assert.match(await readFile(join(outDir, 'assets/site.css'), 'utf8'), /--accent:/);
    for (const page of ['index.html', 'providers/index.html']) {
      assert.match(
        await readFile(join(outDir, page), 'utf8'),
        /<link rel="stylesheet" href="\/assets\/site\.css" \/>/,
        page,
      );
    }
  });

  test('the bundles pull in no Node built-ins', async () => {
    const nodeModules = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    for (const [bundle, inputs] of Object.entries(result.inputs)) {
      for (const input of inputs) {
        assert.ok(!nodeModules.has(input) && !input.startsWith('node:'), `${bundle} includes ${input}`);
        assert.ok(
          !/node_modules\/(ws|pino|fastify|@fastify|uWebSockets|node-av|werift|@electric-sql|pg)\//.test(input),
          `${bundle} includes ${input}`,
        );
      }
    }
    for (const file of ['assets/play.js', 'sdk/ath-play.js']) {
      const code = await readFile(join(outDir, file), 'utf8');
      assert.ok(!/\brequire\(\s*["']/.test(code), `${file} calls require()`);
      assert.ok(!/["']node:[a-z]/.test(code), `${file} names a node: module`);
    }
  });

  test('the studio script is a classic script that defines <ath-play> by itself', async () => {
    const code = await readFile(join(outDir, 'sdk/ath-play.js'), 'utf8');
    assert.ok(!/^\s*(import|export)\s/m.test(code), 'no ES module syntax');
    assert.match(code, /customElements/);
    assert.match(code, /ath-play/);
  });
});
