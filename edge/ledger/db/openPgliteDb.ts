import { resolve } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Logger } from 'pino';
import { ledgerError } from '../errors.js';
import { type Db, type Queryable, type QueryResult, type SqlParam, toSqlParams } from './Db.js';
import { initPgliteInWorker, isInitializedDataDir, pristineDumpCache } from './initPgliteInWorker.js';
import { queryError } from './queryError.js';

const INT8_OID = 20;
const NUMERIC_OID = 1700;
const asText = (value: string): string => value;

/** Data directories with an open PGlite in this process: two instances on one directory would corrupt it. */
const openDataDirs = new Set<string>();

/** The ledger is small: 16 MB of shared buffers instead of 128 MB saves ≈110 MB of WASM heap. */
const POSTGRESQL_CONF = ['shared_buffers=16MB'];

export type OpenPgliteDbParameters = {
  /** A directory for a persistent database; in memory when absent. */
  dataDir?: string;
  logger: Logger;
};

/**
 * PGlite (Postgres in WASM) as a `Db`. It is a single connection: statements and transactions queue on
 * its mutex, so `FOR UPDATE SKIP LOCKED` never skips anything here. It costs hundreds of MB of RSS;
 * open one per process.
 */
export async function openPgliteDb({ dataDir, logger }: OpenPgliteDbParameters): Promise<Db> {
  const key = dataDir === undefined ? undefined : resolve(dataDir);
  if (key !== undefined && openDataDirs.has(key)) {
    throw ledgerError('ATH_ERR_LEDGER_ALREADY_OPEN', 'a ledger is already open on this data directory', {
      details: key,
    });
  }
  if (key !== undefined) openDataDirs.add(key);
  let pglite: PGlite;
  try {
    const create = (loadDataDir: Blob | undefined): Promise<PGlite> =>
      PGlite.create({
        ...(key === undefined ? {} : { dataDir: key }),
        ...(loadDataDir === undefined ? {} : { loadDataDir }),
        postgresqlconf: POSTGRESQL_CONF,
        parsers: { [INT8_OID]: asText, [NUMERIC_OID]: asText },
      });
    // The cache is an optimization: any trouble with it is logged and skipped.
    const skipCache = (what: string) => (error: unknown) => {
      logger.warn({ err: error }, `PGlite cluster cache: ${what} failed`);
      return undefined;
    };
    const cache = key === undefined ? await pristineDumpCache().catch(skipCache('opening')) : undefined;
    const cached = await cache?.read().catch(skipCache('reading'));
    if (cached !== undefined) {
      try {
        pglite = await create(cached);
      } catch (error) {
        skipCache('loading')(error);
        await cache?.discard().catch(skipCache('discarding'));
        pglite = await create(await initializeOffThread({ key, logger }));
      }
    } else {
      const initialized = key !== undefined && isInitializedDataDir(key);
      const dump = initialized ? undefined : await initializeOffThread({ key, logger });
      if (dump !== undefined) await cache?.write(dump).catch(skipCache('writing'));
      pglite = await create(dump);
    }
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

/**
 * initdb in a worker thread (see initPgliteInWorker); returns the in-memory dump to load, if any. If the worker
 * fails, PGlite initializes in this thread instead: only memory is at stake.
 */
async function initializeOffThread({
  key,
  logger,
}: {
  key: string | undefined;
  logger: Logger;
}): Promise<Blob | undefined> {
  try {
    return (await initPgliteInWorker(key ?? null)).dump;
  } catch (error) {
    logger.warn({ err: error }, 'PGlite init worker failed; initializing in the main thread (≈0.5 GB more RSS)');
    return undefined;
  }
}
