import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAthError } from '../../signaling/protocol/index.js';
import { DEFAULT_EDGE_CONFIG } from './EdgeConfig.js';
import { type ConfigSetting, loadEdgeConfig } from './loadEdgeConfig.js';

/** One command-line setting, as the CLI hands it over (edge/cli/configFlags.ts; parsing is tested there). */
const set = (path: string, value: string): ConfigSetting => ({ path, value, source: '--set' });

test('defaults load and are frozen', () => {
  const config = loadEdgeConfig();
  assert.deepEqual(config, DEFAULT_EDGE_CONFIG);
  assert.ok(Object.isFrozen(config.renderHost.encoder));
});

test('file ← env ← command line, later layers win, strings coerced by the schema', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ath-config-'));
  const file = join(dir, 'edge.json');
  writeFileSync(file, JSON.stringify({ renderHost: { slots: 4, priceWeiPerSec: '5' }, signaling: { httpPort: 9000 } }));
  const config = loadEdgeConfig({
    configFile: file,
    settings: [set('renderHost.slots', '6'), set('renderHost.region', '{"country":"JP","lat":35.7,"lon":139.7}')],
    env: {
      ATH_EDGE_SIGNALING__HTTP_PORT: '9100',
      ATH_EDGE_RENDER_HOST__PRICE_WEI_PER_SEC: '77',
      ATH_EDGE_LOG_LEVEL: 'warn',
    },
  });
  assert.equal(config.renderHost.slots, 6);
  assert.equal(config.signaling.httpPort, 9100);
  assert.equal(config.renderHost.priceWeiPerSec, '77');
  assert.equal(config.logLevel, 'warn');
  assert.equal(config.renderHost.region.country, 'JP');
  assert.equal(config.renderHost.encoder.maxBitrateBps, DEFAULT_EDGE_CONFIG.renderHost.encoder.maxBitrateBps);
});

test('bad settings are typed errors naming the setting', () => {
  const bad: Array<Parameters<typeof loadEdgeConfig>[0]> = [
    { settings: [set('renderHost.slots', '0')] },
    { settings: [set('renderHost.nope', '1')] },
    { settings: [set('bogus', 'x')] },
    { settings: [set('renderHost.priceWeiPerSec', '-5')] },
    { env: { ATH_EDGE_SIGNALING__HTTP_PORT: 'eighty' } },
    { settings: [set('renderHost.priceWeiPerSec', '1.5e18')] },
  ];
  for (const parameters of bad) {
    assert.throws(
      () => loadEdgeConfig(parameters),
      (error: unknown) => isAthError(error, 'ATH_ERR_CONFIG'),
      JSON.stringify(parameters),
    );
  }
});

test('renderHost.apps takes the word `auto` or a JSON list from flags and env; anything else is refused', () => {
  assert.equal(loadEdgeConfig({ settings: [set('renderHost.apps', 'auto')] }).renderHost.apps, 'auto');
  assert.deepEqual(loadEdgeConfig({ settings: [set('renderHost.apps', '["supertux"]')] }).renderHost.apps, [
    'supertux',
  ]);
  assert.deepEqual(
    loadEdgeConfig({ env: { ATH_EDGE_RENDER_HOST__APPS: '["supertux","openarena"]' } }).renderHost.apps,
    ['supertux', 'openarena'],
  );
  assert.equal(loadEdgeConfig().renderHost.apps, undefined, 'off by default: built-in games only');
  assert.throws(() => loadEdgeConfig({ settings: [set('renderHost.apps', 'sometimes')] }), { code: 'ATH_ERR_CONFIG' });
});
