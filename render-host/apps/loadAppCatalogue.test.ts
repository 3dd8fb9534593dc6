/** The game catalogue: manifest validation, the provider's directory, availability and what a host serves. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import {
  appGameInfo,
  BUILTIN_APP_MANIFESTS,
  checkAppAvailability,
  findAppManifest,
  loadAppCatalogue,
  parseAppManifest,
  selectServedApps,
} from './index.js';

const log = pino({ level: 'silent' });

/** The smallest manifest a provider can write. */
const minimal = {
  id: 'my-game',
  title: 'My Game',
  description: 'A test entry',
  launch: { command: 'sh', args: ['-c', 'sleep 1'] },
  width: 640,
  height: 360,
  fps: 30,
  inputMode: 'absolute',
  audio: false,
  readiness: { kind: 'delay', delayMs: 100 },
};

describe('parseAppManifest', () => {
  test('fills the defaults of a minimal manifest', () => {
    const manifest = parseAppManifest(minimal, 'test');
    assert.deepEqual(manifest.launch.env, {});
    assert.equal(manifest.launch.nice, 10);
    assert.deepEqual(manifest.packages, []);
    assert.deepEqual(manifest.startKeys, []);
    assert.equal(manifest.requiresGpu, false);
    assert.equal(manifest.gamepad, undefined);
    const readiness = parseAppManifest({ ...minimal, readiness: { kind: 'non-black-frame' } }, 'test').readiness;
    assert.deepEqual(readiness, { kind: 'non-black-frame', minLitPercent: 0.05, timeoutMs: 20_000 });
  });

  test('rejects unknown fields, bad ids, unsafe key names and impossible sizes, naming the source and field', () => {
    const cases: [unknown, RegExp][] = [
      [{ ...minimal, extra: 1 }, /extra|propert/i],
      [{ ...minimal, id: 'Not An Id' }, /\/id/],
      [{ ...minimal, startKeys: ['Return; rm -rf /'] }, /\/startKeys\/0/],
      [{ ...minimal, width: 10 }, /\/width/],
      [{ ...minimal, inputMode: 'gyro' }, /\/inputMode/],
      [{ ...minimal, launch: { args: [] } }, /\/launch/],
      [{ ...minimal, packages: ['Not A Package'] }, /\/packages\/0/],
    ];
    for (const [data, details] of cases) {
      assert.throws(
        () => parseAppManifest(data, 'games/bad.json'),
        (error: Error & { code?: string; details?: string }) => {
          assert.equal(error.code, 'ATH_ERR_APP_MANIFEST');
          assert.match(error.message, /games\/bad\.json/);
          assert.match(error.details ?? '', details);
          return true;
        },
      );
    }
  });

  test('the built-in SuperTux entry is 1280×720 at 60 fps with audio, and what signaling lists is its GameInfo', () => {
    const supertux = findAppManifest(BUILTIN_APP_MANIFESTS, 'supertux');
    assert.deepEqual(appGameInfo(supertux), {
      id: 'supertux',
      title: 'SuperTux',
      description: supertux.description,
      width: 1280,
      height: 720,
      fps: 60,
      inputMode: 'absolute',
      audio: true,
    });
    assert.equal(supertux.requiresGpu, false);
    assert.ok(findAppManifest(BUILTIN_APP_MANIFESTS, 'openarena').requiresGpu, '3D games are marked GPU');
    assert.throws(() => findAppManifest(BUILTIN_APP_MANIFESTS, 'nope'), { code: 'ATH_ERR_UNKNOWN_APP' });
  });
});

describe('loadAppCatalogue', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ath-apps-catalogue-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('built-ins plus one game per JSON file; a file with a built-in id replaces it', async () => {
    await writeFile(join(dir, 'a-my-game.json'), JSON.stringify(minimal));
    await writeFile(join(dir, 'b-supertux.json'), JSON.stringify({ ...minimal, id: 'supertux', title: 'My SuperTux' }));
    await writeFile(join(dir, 'notes.txt'), 'not a manifest');
    const catalogue = await loadAppCatalogue({ directory: dir });
    assert.deepEqual(
      catalogue.map((manifest) => manifest.id),
      ['supertux', 'supertuxkart', 'openarena', 'my-game'],
    );
    assert.equal(findAppManifest(catalogue, 'supertux').title, 'My SuperTux');
    assert.deepEqual(
      (await loadAppCatalogue({ directory: dir, builtins: false })).map((manifest) => manifest.id),
      ['my-game', 'supertux'],
    );
  });

  test('broken JSON, an invalid manifest, a duplicate id or a missing directory fail at start-up, naming the file', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'ath-apps-bad-'));
    try {
      await writeFile(join(bad, 'broken.json'), '{ "id": ');
      await assert.rejects(loadAppCatalogue({ directory: bad }), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'ATH_ERR_APP_MANIFEST');
        assert.match(error.message, /broken\.json/);
        return true;
      });
      await rm(join(bad, 'broken.json'));
      await writeFile(join(bad, 'one.json'), JSON.stringify(minimal));
      await writeFile(join(bad, 'two.json'), JSON.stringify(minimal));
      await assert.rejects(loadAppCatalogue({ directory: bad }), /two\.json/);
      await writeFile(join(bad, 'two.json'), JSON.stringify({ ...minimal, id: 'other', fps: 0 }));
      await assert.rejects(loadAppCatalogue({ directory: bad }), { code: 'ATH_ERR_APP_MANIFEST' });
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
    await assert.rejects(loadAppCatalogue({ directory: join(dir, 'missing') }), { code: 'ATH_ERR_APP_MANIFEST' });
  });
});

describe('what a host serves', () => {
  test('checkAppAvailability names missing binaries and GPU needs', async () => {
    const missing = parseAppManifest(
      { ...minimal, id: 'ghost', launch: { command: 'no-such-game-binary' }, packages: ['ghost-game'] },
      'test',
    );
    const gpu = parseAppManifest({ ...minimal, id: 'three-d', requiresGpu: true }, 'test');
    const [ghost, threeD] = await checkAppAvailability({ catalogue: [missing, gpu] });
    assert.equal(ghost?.runnable, false);
    assert.equal(ghost?.missing[0], 'no-such-game-binary');
    assert.match(ghost?.reason ?? '', /ghost-game/);
    assert.equal(threeD?.runnable, false);
    assert.match(threeD?.reason ?? '', /GPU/);
    const [allowed] = await checkAppAvailability({ catalogue: [gpu], allowSoftwareGl: true });
    assert.equal(allowed?.runnable, allowed?.missing.length === 0);
  });

  test('selectServedApps: an unknown id is a configuration error; auto never picks GPU games on Xvfb', async () => {
    await assert.rejects(selectServedApps({ apps: ['supertux', 'nope'], log }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'ATH_ERR_UNKNOWN_APP');
      return true;
    });
    const auto = await selectServedApps({ apps: 'auto', log });
    assert.ok(auto.every((manifest) => !manifest.requiresGpu));
    const [supertux] = await checkAppAvailability({ catalogue: [findAppManifest(BUILTIN_APP_MANIFESTS, 'supertux')] });
    const listed = await selectServedApps({ apps: ['supertux', 'openarena'], log });
    assert.deepEqual(
      listed.map((manifest) => manifest.id),
      supertux?.runnable ? ['supertux'] : [],
    );
  });
});
