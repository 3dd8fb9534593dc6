import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { isAthError } from '../../signaling/protocol/index.js';
import { migrate } from './migrate.js';
import { MIGRATIONS } from './migrations/MIGRATIONS.js';
import { openLedger } from './openLedger.js';
import { type StartTestPostgresReturnType, startTestPostgres } from './testing/startTestPostgres.js';

const logger = pino({ level: 'silent' });

describe('openLedger on PGlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ath-ledger-open-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('applies the migrations once, records them, and reopens a data directory without reapplying', async () => {
    const dataDir = join(dir, 'db');
    const first = await openLedger({ dataDir });
    assert.equal(first.driver, 'pglite');
    // A new directory is seeded beside it from the pristine cluster and renamed in: nothing is left behind.
    assert.deepEqual(readdirSync(dir), ['db']);
    assert.equal(first.schemaVersion, MIGRATIONS.length);
    await first.query(`insert into accounts (address) values ('0x${'11'.repeat(20)}')`);
    // Same directory twice in one process would corrupt it.
    await assert.rejects(openLedger({ dataDir }), (e) => isAthError(e, 'ATH_ERR_LEDGER_ALREADY_OPEN'));
    await first.close();
    await first.close(); // idempotent
    await assert.rejects(first.query('select 1'), (e) => isAthError(e, 'ATH_ERR_LEDGER_CLOSED'));

    const second = await openLedger({ dataDir });
    const again = await migrate(second, { logger });
    assert.deepEqual(again.applied, []);
    const { rows } = await second.query('select version, name from ledger_migrations order by version');
    assert.deepEqual(
      rows,
      MIGRATIONS.map((m) => ({ version: m.version, name: m.name })),
    );
    const kept = await second.query('select count(*)::int as n from accounts');
    assert.deepEqual(kept.rows, [{ n: 1 }]);

    // An edited migration, or one from a newer release, stops the open.
    const edited = MIGRATIONS.map((m) => ({ ...m, sql: `${m.sql}\n-- edited` }));
    await assert.rejects(migrate(second, { logger, migrations: edited }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_MIGRATION_CHECKSUM'),
    );
    await assert.rejects(migrate(second, { logger, migrations: [] }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_SCHEMA_TOO_NEW'),
    );
    // A failing new migration rolls back entirely.
    const broken = [...MIGRATIONS, { version: 999, name: 'broken', sql: 'create table t999 (n int); select 1/0;' }];
    await assert.rejects(migrate(second, { logger, migrations: broken }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_MIGRATION'),
    );
    const t999 = await second.query(`select to_regclass('t999')::text as t`);
    assert.deepEqual(t999.rows, [{ t: null }]);
    await second.close();
  });
});

describe('openLedger on a PostgreSQL server', () => {
  let server: StartTestPostgresReturnType;
  before(async () => {
    server = await startTestPostgres();
  });
  after(() => server.close());

  test('three pools opening a fresh database at once (as three processes would) apply each migration once', async () => {
    const url = await server.createDatabase();
    const ledgers = await Promise.all([1, 2, 3].map(() => openLedger({ databaseUrl: url, maxConnections: 2 })));
    try {
      for (const ledger of ledgers) {
        assert.equal(ledger.driver, 'pg');
        assert.equal(ledger.schemaVersion, MIGRATIONS.length);
      }
      const { rows } = await ledgers[0]!.query('select version from ledger_migrations order by version');
      assert.deepEqual(
        rows,
        MIGRATIONS.map((m) => ({ version: m.version })),
      );
    } finally {
      await Promise.all(ledgers.map((ledger) => ledger.close()));
    }
  });

  test('databaseUrl wins over dataDir; an unreachable server is ATH_ERR_LEDGER_OPEN without the password', async () => {
    const url = await server.createDatabase();
    const ledger = await openLedger({ databaseUrl: url, dataDir: '/nonexistent/never-used' });
    assert.equal(ledger.driver, 'pg');
    await ledger.close();
    const error = await openLedger({ databaseUrl: 'postgres://u:secret@127.0.0.1:1/x' }).catch((e: unknown) => e);
    assert.ok(isAthError(error, 'ATH_ERR_LEDGER_OPEN'));
    assert.doesNotMatch(error.message, /secret/);
  });
});
