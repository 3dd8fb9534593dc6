/**
 * EIP-712 digests of our three structs without viem's generic machinery: the type strings come from the
 * protocol's definitions (`signaling/protocol/typedData.ts`), the domain separator is computed once, and
 * each digest is three keccaks over fixed-size words. A test checks every digest against viem's.
 */
import { keccak_256 } from '@noble/hashes/sha3';
import { hexToBytes } from 'viem';

type Field = { readonly name: string; readonly type: string };
type StructValue = Record<string, string | bigint | number | boolean>;

const encoder = new TextEncoder();

function word(value: bigint): Uint8Array {
  const out = new Uint8Array(32);
  let v = value;
  for (let i = 31; i >= 0 && v > 0n; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function encodeField(type: string, value: string | bigint | number | boolean): Uint8Array {
  if (type === 'string') return keccak_256(encoder.encode(String(value)));
  if (type === 'bool') return word(value ? 1n : 0n);
  if (type === 'address') {
    const bytes = hexToBytes(String(value) as `0x${string}`);
    const out = new Uint8Array(32);
    out.set(bytes, 32 - bytes.length);
    return out;
  }
  if (type === 'bytes32') return hexToBytes(String(value) as `0x${string}`);
  if (/^uint\d+$/.test(type)) return word(BigInt(value));
  throw new Error(`unsupported EIP-712 type ${type}`);
}

export function encodeTypeString(name: string, fields: readonly Field[]): string {
  return `${name}(${fields.map((f) => `${f.type} ${f.name}`).join(',')})`;
}

/** hashStruct(value) for one flat struct type (ours have no nested structs). */
export function structHasher(name: string, fields: readonly Field[]): (value: StructValue) => Uint8Array {
  const typeHash = keccak_256(encoder.encode(encodeTypeString(name, fields)));
  return (value) => {
    const buffer = new Uint8Array(32 * (fields.length + 1));
    buffer.set(typeHash, 0);
    fields.forEach((field, i) => {
      const v = value[field.name];
      if (v === undefined) throw new Error(`missing ${name}.${field.name}`);
      buffer.set(encodeField(field.type, v), 32 * (i + 1));
    });
    return keccak_256(buffer);
  };
}

const DOMAIN_FIELDS = [
  { name: 'name', type: 'string' },
  { name: 'version', type: 'string' },
  { name: 'chainId', type: 'uint256' },
  { name: 'verifyingContract', type: 'address' },
] as const;

export function domainSeparator(domain: {
  name: string;
  version: string;
  chainId: number;
  verifyingContract: string;
}): Uint8Array {
  return structHasher('EIP712Domain', DOMAIN_FIELDS)(domain);
}

/** keccak256(0x1901 ‖ domainSeparator ‖ structHash). */
export function typedDataDigest(separator: Uint8Array, structHash: Uint8Array): Uint8Array {
  const buffer = new Uint8Array(66);
  buffer[0] = 0x19;
  buffer[1] = 0x01;
  buffer.set(separator, 2);
  buffer.set(structHash, 34);
  return keccak_256(buffer);
}
