import { weiToString } from '../../signaling/protocol/index.js';

/** The JSON form of a ledger value: bigint → decimal string, Date → ISO 8601, absent → null. */
export type Jsonify<T> = T extends bigint
  ? string
  : T extends Date
    ? string
    : T extends undefined
      ? null
      : T extends readonly (infer U)[]
        ? Jsonify<U>[]
        : T extends object
          ? { -readonly [K in keyof T]-?: Jsonify<T[K]> }
          : T;

/**
 * JSON has no bigint: money and uint64 values leave as decimal strings, times as ISO strings, and an absent
 * value as null (so a response schema can require the field).
 */
export function toJson<T>(value: T): Jsonify<T> {
  return convert(value) as Jsonify<T>;
}

function convert(value: unknown): unknown {
  if (typeof value === 'bigint') return weiToString(value);
  if (value instanceof Date) return value.toISOString();
  if (value === undefined) return null;
  if (Array.isArray(value)) return value.map(convert);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, convert(v)]));
  }
  return value;
}
