/**
 * The one database surface the ledger uses, implemented by PGlite (embedded) and `pg` (a server).
 * Both adapters return the same JS values for the same SQL: `numeric` and `int8` as decimal strings
 * (never a JS number), `timestamptz` as `Date`, `json`/`jsonb` parsed, `bool` as boolean, `int4` as number.
 * Parameters: bigint is sent as its decimal string, Date as ISO-8601; pass JSON as a string.
 */
export type SqlParam = string | number | bigint | boolean | null | Date | readonly string[];

export type QueryResult = { rows: unknown[]; rowCount: number };

export type DbDriver = 'pglite' | 'pg';

export type Queryable = {
  readonly driver: DbDriver;
  /** One statement, `$1…` parameters. */
  query(sql: string, params?: readonly SqlParam[]): Promise<QueryResult>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Runs `fn` in one transaction (READ COMMITTED), committing when it resolves, rolling back when it throws.
   * Called on a transaction it joins that transaction. `fn` must only touch the database: it may run again
   * never, but it must not wait on the network while holding row locks.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
};

export type Db = Queryable & {
  readonly closed: boolean;
  /** Idempotent. */
  close(): Promise<void>;
};

/** Normalizes parameters the same way for both drivers. */
export function toSqlParams(params: readonly SqlParam[] | undefined): unknown[] {
  if (params === undefined) return [];
  return params.map((p) => {
    if (typeof p === 'bigint') return p.toString(10);
    if (p instanceof Date) return p.toISOString();
    return p;
  });
}
