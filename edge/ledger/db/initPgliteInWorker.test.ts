import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { initPgliteInWorker, isInitializedDataDir, pristineDumpCache } from './initPgliteInWorker.js';

test('initPgliteInWorker initializes a data directory in a worker thread, or returns an in-memory dump', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ath-ledger-init-'));
  try {
    const dataDir = join(dir, 'pg');
    assert.equal(isInitializedDataDir(dataDir), false);
    const onDisk = await initPgliteInWorker(dataDir);
    assert.equal(onDisk.dump, undefined);
    assert.equal(isInitializedDataDir(dataDir), true);
    const inMemory = await initPgliteInWorker(null);
    assert.ok(inMemory.dump instanceof Blob && inMemory.dump.size > 1_000_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the pristine-cluster cache round-trips a dump and refuses a directory others can write', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ath-ledger-cache-'));
  try {
    const cache = await pristineDumpCache({ dir: join(dir, 'private') });
    assert.ok(cache);
    assert.equal(await cache.read(), undefined);
    await cache.write(new Blob([new Uint8Array([1, 2, 3])]));
    const read = await cache.read();
    assert.deepEqual(new Uint8Array(await read!.arrayBuffer()), new Uint8Array([1, 2, 3]));
    await cache.discard();
    assert.equal(await cache.read(), undefined);
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    assert.equal(await pristineDumpCache({ dir: shared }), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
