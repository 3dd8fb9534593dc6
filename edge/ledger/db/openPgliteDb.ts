import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Logger } from 'pino';
import { ledgerError } from '../errors.js';
import { type Db, type Queryable, type QueryResult, type SqlParam, toSqlParams } from './Db.js';
import {
  initPgliteInWorker,
  isInitializedDataDir,
  type PristineDumpCache,
  pristineDumpCache,
} from './initPgliteInWorker.js';
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
    const cache = await pristineDumpCache().catch(skipCache('opening'));
    if (key !== undefined && cache !== undefined && !isInitializedDataDir(key)) {
      await seedDataDir(key, cache).catch(skipCache('seeding a new data directory'));
    }
    const cached = key === undefined ? await cache?.read().catch(skipCache('reading')) : undefined;
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
 * A new data directory gets the pristine cluster in-memory ledgers load (initdb's output is the same for every
 * directory; it is made once, in a worker, when not cached yet): ≈2 s instead of initdb's ≈4 s on a quiet 2-core box
 * and ≈20 s on a loaded one (it was most of `ath-edge signaling`'s start on a fresh data directory, every e2e stack's
 * included). Loaded into a sibling directory and renamed into place, so that a failure never leaves a half-written
 * cluster where the ledger lives; a directory that exists must be empty (else nothing is done, and initdb runs as
 * before).
 */
async function seedDataDir(key: string, cache: PristineDumpCache): Promise<void> {
  const existing = await stat(key).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (existing && (!existing.isDirectory() || (await readdir(key)).length > 0)) return;
  let dump = await cache.read();
  if (dump === undefined) {
    dump = (await initPgliteInWorker(null)).dump;
    if (dump === undefined) return;
    await cache.write(dump);
  }
  const seeding = `${key}.seeding-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(dirname(key), { recursive: true });
  try {
    const seeded = await PGlite.create({ dataDir: seeding, loadDataDir: dump, postgresqlconf: POSTGRESQL_CONF });
    await seeded.close();
    // (An empty directory the caller made keeps its mode.)
    if (existing) await chmod(seeding, existing.mode & 0o7777);
    await rmdir(key).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await rename(seeding, key);
  } finally {
    await rm(seeding, { recursive: true, force: true });
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
