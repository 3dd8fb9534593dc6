import pg from 'pg';
import type { Logger } from 'pino';
import { ledgerError } from '../errors.js';
import { type Db, type Queryable, type QueryResult, type SqlParam, toSqlParams } from './Db.js';
import { queryError } from './queryError.js';

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** int8 and numeric as decimal strings (pg's default too, made explicit); everything else as pg parses it. */
const typeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID || oid === NUMERIC_OID
      ? (value: string) => value
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

export type OpenPgDbParameters = {
  /** `postgres://user@host:port/db` */
  databaseUrl: string;
  /** Pool size; default 10. */
  maxConnections?: number;
  logger: Logger;
};

/** A PostgreSQL server through a `pg` pool, as a `Db`. Checks the connection before returning. */
export async function openPgDb({ databaseUrl, maxConnections = 10, logger }: OpenPgDbParameters): Promise<Db> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: maxConnections, types: typeParsers });
  // An idle client losing its server emits on the pool; without a listener that would crash the process.
  pool.on('error', (error) => logger.error({ err: error }, 'idle ledger connection failed'));
  try {
    await pool.query('select 1');
  } catch (error) {
    await pool.end().catch((endError: unknown) => logger.warn({ err: endError }, 'closing the failed pool failed'));
    throw ledgerError('ATH_ERR_LEDGER_OPEN', 'could not connect to the ledger database', {
      details: redactUrl(databaseUrl),
      cause: error,
    });
  }

  let closed = false;
  const assertOpen = (): void => {
    if (closed) throw ledgerError('ATH_ERR_LEDGER_CLOSED', 'the ledger is closed');
  };

  return {
    driver: 'pg',
    get closed() {
      return closed;
    },
    async query(sql, params) {
      assertOpen();
      return runQuery(pool, sql, params);
    },
    async exec(sql) {
      assertOpen();
      await runQuery(pool, sql, undefined);
    },
    async transaction(fn) {
      assertOpen();
      const client = await pool.connect().catch((error: unknown) => {
        throw ledgerError('ATH_ERR_LEDGER_OPEN', 'could not get a ledger connection', { cause: error });
      });
      const tx: Queryable = {
        driver: 'pg',
        query: (sql, params) => runQuery(client, sql, params),
        exec: async (sql) => {
          await runQuery(client, sql, undefined);
        },
        transaction: (inner) => inner(tx),
      };
      let broken: unknown;
      try {
        await runQuery(client, 'begin', undefined);
        const result = await fn(tx);
        await runQuery(client, 'commit', undefined);
        return result;
      } catch (error) {
        try {
          await client.query('rollback');
        } catch (rollbackError) {
          // The connection is unusable: release it as broken so the pool discards it.
          broken = rollbackError;
        }
        throw error;
      } finally {
        client.release(broken instanceof Error ? broken : undefined);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

type PgQueryTarget = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

async function runQuery(
  target: PgQueryTarget,
  sql: string,
  params: readonly SqlParam[] | undefined,
): Promise<QueryResult> {
  try {
    const result = await (target as pg.Pool).query<Record<string, unknown>>(sql, toSqlParams(params));
    // A multi-statement text returns an array of results; only exec() sends those and ignores rows.
    if (Array.isArray(result)) return { rows: [], rowCount: 0 };
    return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
  } catch (error) {
    throw queryError(error, sql);
  }
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'an unparseable DATABASE_URL';
  }
}
