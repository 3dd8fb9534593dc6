import { type StaticDecode, type TSchema, Type } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import type { Address, Hex } from 'viem';
import { ledgerError } from './errors.js';

/**
 * Column schemas for rows read from the database: each validates what the driver returned (decimal strings
 * for numeric/int8, Date for timestamptz) and decodes it to the domain value (bigint wei, number, Address).
 * Repositories alias columns to camelCase in SQL, so a row schema *is* the domain type (`StaticDecode`).
 */
const WEI_PATTERN = '^(0|[1-9][0-9]{0,77})$';

/** numeric(78,0) ↔ bigint wei. */
export const WeiColumn = Type.Transform(Type.String({ pattern: WEI_PATTERN }))
  .Decode((value) => BigInt(value))
  .Encode((value: bigint) => value.toString(10));

/** numeric(20,0) ↔ bigint for uint64 values (round, expiry, timestamps in seconds, block numbers). */
export const Uint64Column = Type.Transform(Type.String({ pattern: '^(0|[1-9][0-9]{0,19})$' }))
  .Decode((value) => BigInt(value))
  .Encode((value: bigint) => value.toString(10));

/** int8 that always fits a JS number (counts, seconds, ids below 2^53). */
export const SafeIntColumn = Type.Transform(Type.String({ pattern: '^-?(0|[1-9][0-9]{0,14})$' }))
  .Decode((value) => Number(value))
  .Encode((value: number) => String(value));

/** int8 row ids as bigint. */
export const IdColumn = Type.Transform(Type.String({ pattern: '^[1-9][0-9]{0,18}$' }))
  .Decode((value) => BigInt(value))
  .Encode((value: bigint) => value.toString(10));

export const AddressColumn = Type.Unsafe<Address>(Type.String({ pattern: '^0x[0-9a-f]{40}$' }));
export const Bytes32Column = Type.Unsafe<Hex>(Type.String({ pattern: '^0x[0-9a-f]{64}$' }));
export const HexColumn = Type.Unsafe<Hex>(Type.String({ pattern: '^0x[0-9a-f]*$' }));

export function Nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}

/** A closed row object: unknown columns are rejected (a query selecting more than its schema is a bug). */
export function Row<T extends Parameters<typeof Type.Object>[0]>(properties: T) {
  return Type.Object(properties, { additionalProperties: false });
}

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checkerFor<T extends TSchema>(schema: T): TypeCheck<T> {
  let checker = compiled.get(schema);
  if (checker === undefined) {
    checker = TypeCompiler.Compile(schema);
    compiled.set(schema, checker);
  }
  return checker as TypeCheck<T>;
}

/** Validates and decodes one row; throws ATH_ERR_LEDGER_BAD_ROW naming the first bad column. */
export function decodeRow<T extends TSchema>(schema: T, row: unknown): StaticDecode<T> {
  const checker = checkerFor(schema);
  if (!checker.Check(row)) {
    const first = checker.Errors(row).First();
    throw ledgerError('ATH_ERR_LEDGER_BAD_ROW', 'a ledger row does not match its schema', {
      details: first ? `${first.path || '/'}: ${first.message}` : 'unknown mismatch',
    });
  }
  return checker.Decode(row);
}

export function decodeRows<T extends TSchema>(schema: T, rows: readonly unknown[]): StaticDecode<T>[] {
  return rows.map((row) => decodeRow(schema, row));
}

/** Exactly one row, or ATH_ERR_LEDGER_BAD_ROW (e.g. an INSERT … RETURNING that returned nothing). */
export function decodeOne<T extends TSchema>(schema: T, rows: readonly unknown[]): StaticDecode<T> {
  if (rows.length !== 1) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_ROW', 'expected exactly one row', { details: `got ${rows.length}` });
  }
  return decodeRow(schema, rows[0]);
}

/** Zero or one row. */
export function decodeOptional<T extends TSchema>(schema: T, rows: readonly unknown[]): StaticDecode<T> | undefined {
  if (rows.length > 1) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_ROW', 'expected at most one row', { details: `got ${rows.length}` });
  }
  return rows.length === 0 ? undefined : decodeRow(schema, rows[0]);
}
