import pino, { type Logger } from 'pino';
import type { Db } from './db/Db.js';
import { openPgDb, redactUrl } from './db/openPgDb.js';
import { openPgliteDb } from './db/openPgliteDb.js';
import { migrate } from './migrate.js';

/** An open, migrated ledger database. Repositories take it (or a transaction from it) as their first argument. */
export type Ledger = Db & { readonly schemaVersion: number };

export type OpenLedgerParameters = {
  /** A PostgreSQL server (`postgres://…`). When set, it wins over `dataDir`. */
  databaseUrl?: string;
  /** PGlite data directory; in memory when neither this nor `databaseUrl` is set. */
  dataDir?: string;
  /** Server pool size; default 10. */
  maxConnections?: number;
  logger?: Logger;
};

/**
 * Opens the ledger: PGlite embedded by default, a Postgres server through `pg` when `databaseUrl` is given;
 * then applies pending migrations (safe when several processes open one server at once). Close it when done.
 */
export async function openLedger({
  databaseUrl,
  dataDir,
  maxConnections,
  logger,
}: OpenLedgerParameters = {}): Promise<Ledger> {
  const log = (logger ?? pino({ level: 'silent' })).child({ mod: 'edge/ledger' });
  const db =
    databaseUrl !== undefined && databaseUrl !== ''
      ? await openPgDb({ databaseUrl, logger: log, ...(maxConnections === undefined ? {} : { maxConnections }) })
      : await openPgliteDb({ logger: log, ...(dataDir === undefined ? {} : { dataDir }) });
  let schemaVersion: number;
  try {
    ({ schemaVersion } = await migrate(db, { logger: log }));
  } catch (error) {
    await db
      .close()
      .catch((closeError: unknown) => log.warn({ err: closeError }, 'closing after a failed migration failed'));
    throw error;
  }
  log.info(
    {
      driver: db.driver,
      schemaVersion,
      target: db.driver === 'pg' ? redactUrl(databaseUrl ?? '') : (dataDir ?? 'memory'),
    },
    'ledger open',
  );
  return {
    driver: db.driver,
    schemaVersion,
    get closed() {
      return db.closed;
    },
    query: (sql, params) => db.query(sql, params),
    exec: (sql) => db.exec(sql),
    transaction: (fn) => db.transaction(fn),
    close: () => db.close(),
  };
}
