import { type Address, type Hex, isAddress } from 'viem';
import { ledgerError } from './errors.js';

/**
 * Input checks for values callers hand to repositories. Addresses and hashes are stored and returned in
 * lowercase hex: compare them lowercase (or through viem's `isAddressEqual`).
 */
const UINT256_MAX = (1n << 256n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

export function normalizeAddress(value: string, field: string): Address {
  if (typeof value !== 'string' || !isAddress(value, { strict: true })) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', `${field} is not an address`, { details: String(value) });
  }
  return value.toLowerCase() as Address;
}

export function normalizeBytes32(value: string, field: string): Hex {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(value)) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', `${field} is not a 32-byte hex string`, { details: String(value) });
  }
  return value.toLowerCase() as Hex;
}

/** A signature (65 bytes, or longer for ERC-1271 / ERC-6492 smart-wallet signatures). */
export function normalizeSignature(value: string, field: string): Hex {
  if (typeof value !== 'string' || !/^0x([0-9a-fA-F]{2}){65,2048}$/.test(value)) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', `${field} is not a signature`, {
      details: String(value).slice(0, 20),
    });
  }
  return value.toLowerCase() as Hex;
}

export function assertWei(value: bigint, field: string): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > UINT256_MAX) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', `${field} is not a wei amount`, { details: String(value) });
  }
  return value;
}

export function assertUint64(value: bigint, field: string): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > UINT64_MAX) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', `${field} is not a uint64`, { details: String(value) });
  }
  return value;
}

/** A non-negative safe integer (tick index, seconds, limits). */
export function assertCount(value: number, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', `${field} is not an integer in 0..${max}`, {
      details: String(value),
    });
  }
  return value;
}

export function assertText(value: string, field: string, maxLength: number, pattern?: RegExp): string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > maxLength ||
    (pattern && !pattern.test(value))
  ) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', `${field} is not valid`, { details: String(value).slice(0, 80) });
  }
  return value;
}
