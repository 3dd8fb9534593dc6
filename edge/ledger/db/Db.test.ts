import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAthError } from '../../../signaling/protocol/index.js';
import { describeLedger } from '../testing/describeLedger.js';
import { sqlState, UNIQUE_VIOLATION } from './sqlState.js';

const UINT256_MAX = (1n << 256n) - 1n;

describeLedger('Db', (ctx) => {
  test('numeric(78,0) and int8 come back as exact decimal strings; timestamptz as Date; json parsed', async () => {
    const { rows } = await ctx.ledger.query(
      `select $1::numeric(78,0) as big, $2::bigint as i8, 7::int as i4, now() as ts, '{"a":1}'::jsonb as j,
              true as b, array['x','y']::text[] as arr, null::numeric as nothing`,
      [UINT256_MAX, 9_007_199_254_740_993n],
    );
    const row = rows[0] as Record<string, unknown>;
    assert.equal(row['big'], UINT256_MAX.toString());
    assert.equal(row['i8'], '9007199254740993');
    assert.equal(row['i4'], 7);
    assert.ok(row['ts'] instanceof Date);
    assert.deepEqual(row['j'], { a: 1 });
    assert.equal(row['b'], true);
    assert.deepEqual(row['arr'], ['x', 'y']);
    assert.equal(row['nothing'], null);
  });

  test('the wei domain rejects negatives and values beyond uint256', async () => {
    await assert.rejects(ctx.ledger.query('select $1::wei', ['-1']), (e) => isAthError(e, 'ATH_ERR_LEDGER_QUERY'));
    await assert.rejects(ctx.ledger.query('select ($1::numeric + 1)::wei', [UINT256_MAX]), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_QUERY'),
    );
  });

  test('a transaction commits on success and rolls back on a throw; nested calls join it', async () => {
    await ctx.ledger.exec('create table if not exists db_test_t (n int primary key)');
    await ctx.ledger.transaction(async (tx) => {
      await tx.query('insert into db_test_t values (1)');
      await tx.transaction((inner) => inner.query('insert into db_test_t values (2)'));
    });
    await assert.rejects(
      ctx.ledger.transaction(async (tx) => {
        await tx.query('insert into db_test_t values (3)');
        throw new Error('boom');
      }),
      /boom/,
    );
    const { rows } = await ctx.ledger.query('select n from db_test_t order by n');
    assert.deepEqual(rows, [{ n: 1 }, { n: 2 }]);
  });

  test('driver errors become ATH_ERR_LEDGER_QUERY with the SQLSTATE reachable', async () => {
    await ctx.ledger.exec('create table if not exists db_test_u (n int primary key)');
    await ctx.ledger.query('insert into db_test_u values (1) on conflict do nothing');
    const error = await ctx.ledger.query('insert into db_test_u values (1)').catch((e: unknown) => e);
    assert.ok(isAthError(error, 'ATH_ERR_LEDGER_QUERY'));
    assert.equal(sqlState(error), UNIQUE_VIOLATION);
    assert.match(error.details ?? '', /^23505/);
  });

  test('rowCount counts affected rows', async () => {
    await ctx.ledger.exec('create table if not exists db_test_c (n int)');
    await ctx.ledger.query('delete from db_test_c');
    const inserted = await ctx.ledger.query('insert into db_test_c select generate_series(1, 3)');
    assert.equal(inserted.rowCount, 3);
    const updated = await ctx.ledger.query('update db_test_c set n = n + 1 where n > 1');
    assert.equal(updated.rowCount, 2);
  });
});
