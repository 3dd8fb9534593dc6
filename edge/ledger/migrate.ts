import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Queryable } from './db/Db.js';
import { ledgerError } from './errors.js';
import { MIGRATIONS } from './migrations/MIGRATIONS.js';
import type { Migration } from './migrations/Migration.js';
import { decodeRows, Row } from './rows.js';

/** pg_advisory_xact_lock key for schema changes: 'athledgr' as 8 bytes. */
const MIGRATION_LOCK_KEY = 0x6174686c65646772n;

const AppliedRow = Row({ version: Type.Integer({ minimum: 1 }), checksum: Type.String() });

export type MigrateParameters = {
  logger: Logger;
  /** Defaults to every known migration. */
  migrations?: readonly Migration[];
};

export type MigrateReturnType = { schemaVersion: number; applied: number[] };

export function migrationChecksum(migration: Migration): string {
  return createHash('sha256').update(migration.sql).digest('hex');
}

/**
 * Brings the schema up to date in one transaction under an advisory lock, so two processes opening the same
 * server database at once apply each migration exactly once (the second waits, then finds them applied).
 * Applied migrations are recorded with a checksum; an edited one, or one the code does not know, stops the open.
 */
export async function migrate(
  db: Queryable,
  { logger, migrations = MIGRATIONS }: MigrateParameters,
): Promise<MigrateReturnType> {
  return db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.exec(`create table if not exists ledger_migrations (
      version integer primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`);
    const applied = decodeRows(
      AppliedRow,
      (await tx.query('select version, checksum from ledger_migrations order by version')).rows,
    );
    const known = new Map(migrations.map((m) => [m.version, m]));
    for (const row of applied) {
      const migration = known.get(row.version);
      if (migration === undefined) {
        throw ledgerError('ATH_ERR_LEDGER_SCHEMA_TOO_NEW', 'the ledger database was migrated by a newer ath-edge', {
          details: `unknown migration ${row.version}`,
        });
      }
      if (migrationChecksum(migration) !== row.checksum) {
        throw ledgerError('ATH_ERR_LEDGER_MIGRATION_CHECKSUM', 'an applied ledger migration was edited', {
          details: `migration ${migration.version} (${migration.name})`,
        });
      }
    }
    const done = new Set(applied.map((row) => row.version));
    const newlyApplied: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(migration.version)) continue;
      try {
        await tx.exec(migration.sql);
      } catch (error) {
        throw ledgerError('ATH_ERR_LEDGER_MIGRATION', 'applying a ledger migration failed', {
          details: `migration ${migration.version} (${migration.name})`,
          cause: error,
        });
      }
      await tx.query('insert into ledger_migrations (version, name, checksum) values ($1, $2, $3)', [
        migration.version,
        migration.name,
        migrationChecksum(migration),
      ]);
      newlyApplied.push(migration.version);
      logger.info({ version: migration.version, name: migration.name }, 'ledger migration applied');
    }
    const schemaVersion = Math.max(0, ...applied.map((row) => row.version), ...newlyApplied);
    return { schemaVersion, applied: newlyApplied };
  });
}
