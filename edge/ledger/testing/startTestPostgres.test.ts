import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { isAthError } from '../../../signaling/protocol/index.js';
import { startTestPostgres } from './startTestPostgres.js';

test('startTestPostgres serves loopback SQL, creates databases, and stops cleanly (twice is fine)', async () => {
  const server = await startTestPostgres();
  try {
    assert.match(server.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    const url = await server.createDatabase('helper_check');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ db: string }>('select current_database() as db');
    await client.end();
    assert.equal(rows[0]?.db, 'helper_check');
  } finally {
    await server.close();
    await server.close();
  }
  const client = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 2000 });
  await assert.rejects(client.connect());
});

test('without the server binaries it says how to install them', async () => {
  await assert.rejects(
    startTestPostgres({ binDir: '/nonexistent' }),
    (e) => isAthError(e, 'ATH_ERR_LEDGER_TEST_POSTGRES') && /apt-get install postgresql/.test(e.message),
  );
});
