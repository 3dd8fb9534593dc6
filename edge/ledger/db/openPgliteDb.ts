import { resolve } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { ledgerError } from '../errors.js';
import { type Db, type Queryable, type QueryResult, type SqlParam, toSqlParams } from './Db.js';
import { queryError } from './queryError.js';

const INT8_OID = 20;
const NUMERIC_OID = 1700;
const asText = (value: string): string => value;

/** Data directories with an open PGlite in this process: two instances on one directory would corrupt it. */
const openDataDirs = new Set<string>();

export type OpenPgliteDbParameters = {
  /** A directory for a persistent database; in memory when absent. */
  dataDir?: string;
};

/**
 * PGlite (Postgres in WASM) as a `Db`. It is a single connection: statements and transactions queue on
 * its mutex, so `FOR UPDATE SKIP LOCKED` never skips anything here. It costs hundreds of MB of RSS;
 * open one per process.
 */
export async function openPgliteDb({ dataDir }: OpenPgliteDbParameters = {}): Promise<Db> {
  const key = dataDir === undefined ? undefined : resolve(dataDir);
  if (key !== undefined && openDataDirs.has(key)) {
    throw ledgerError('ATH_ERR_LEDGER_ALREADY_OPEN', 'a ledger is already open on this data directory', {
      details: key,
    });
  }
  if (key !== undefined) openDataDirs.add(key);
  let pglite: PGlite;
  try {
    pglite = await PGlite.create({
      ...(key === undefined ? {} : { dataDir: key }),
      parsers: { [INT8_OID]: asText, [NUMERIC_OID]: asText },
    });
  } catch (error) {
    if (key !== undefined) openDataDirs.delete(key);
    throw ledgerError('ATH_ERR_LEDGER_OPEN', 'could not open the embedded PGlite database', {
      details: key ?? 'in memory',
      cause: error,
    });
  }

  let closed = false;
  const assertOpen = (): void => {
    if (closed) throw ledgerError('ATH_ERR_LEDGER_CLOSED', 'the ledger is closed');
  };

  const wrapTx = (tx: Transaction): Queryable => {
    const txQueryable: Queryable = {
      driver: 'pglite',
      query: (sql, params) => runQuery(tx, sql, params),
      exec: (sql) => runExec(tx, sql),
      transaction: (fn) => fn(txQueryable),
    };
    return txQueryable;
  };

  return {
    driver: 'pglite',
    get closed() {
      return closed;
    },
    async query(sql, params) {
      assertOpen();
      return runQuery(pglite, sql, params);
    },
    async exec(sql) {
      assertOpen();
      return runExec(pglite, sql);
    },
    async transaction(fn) {
      assertOpen();
      return pglite.transaction((tx) => fn(wrapTx(tx)));
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await pglite.close();
      } finally {
        if (key !== undefined) openDataDirs.delete(key);
      }
    },
  };
}

type PgliteLike = Pick<PGlite, 'query' | 'exec'>;

async function runQuery(
  target: PgliteLike,
  sql: string,
  params: readonly SqlParam[] | undefined,
): Promise<QueryResult> {
  try {
    const result = await target.query<unknown>(sql, toSqlParams(params));
    return { rows: result.rows, rowCount: result.rowCount ?? result.affectedRows ?? result.rows.length };
  } catch (error) {
    throw queryError(error, sql);
  }
}

async function runExec(target: PgliteLike, sql: string): Promise<void> {
  try {
    await target.exec(sql);
  } catch (error) {
    throw queryError(error, sql);
  }
}
