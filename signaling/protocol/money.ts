import { Type } from '@sinclair/typebox';
import { AthError } from './AthError.js';

/**
 * ATH amounts are bigint wei everywhere. On the wire (JSON) they are decimal strings without sign,
 * exponent or leading zeros, at most 78 digits (fits uint256).
 */
export const WeiString = Type.String({ pattern: '^(0|[1-9][0-9]{0,77})$', description: 'ATH wei as a decimal string' });

/** Basis points (0..10000) as a decimal string, so it stays bigint too. */
export const BpsString = Type.String({ pattern: '^(0|[1-9][0-9]{0,4})$', description: 'basis points, 0..10000' });

export const ATH_DECIMALS = 18;
export const WEI_PER_ATH = 10n ** 18n;
export const BPS_DENOMINATOR = 10_000n;
const UINT256_MAX = (1n << 256n) - 1n;

export function weiToString(wei: bigint): string {
  if (wei < 0n || wei > UINT256_MAX) {
    throw new AthError({
      code: 'ATH_ERR_BAD_AMOUNT',
      shortMessage: 'amount out of uint256 range',
      details: String(wei),
    });
  }
  return wei.toString(10);
}

export function weiFromString(value: string): bigint {
  if (!/^(0|[1-9][0-9]{0,77})$/.test(value)) {
    throw new AthError({ code: 'ATH_ERR_BAD_AMOUNT', shortMessage: 'not a wei decimal string', details: value });
  }
  const wei = BigInt(value);
  if (wei > UINT256_MAX) {
    throw new AthError({ code: 'ATH_ERR_BAD_AMOUNT', shortMessage: 'amount out of uint256 range', details: value });
  }
  return wei;
}

/** Applies basis points the way the contracts do: floor(amount * bps / 10000). */
export function applyBps(amountWei: bigint, bps: bigint): bigint {
  return (amountWei * bps) / BPS_DENOMINATOR;
}

/** Wei as ATH with thousands separators and up to 6 decimals, for people (exact enough to read, not to settle). */
export function formatAth(wei: string | bigint): string {
  const value = BigInt(wei);
  const whole = (value / WEI_PER_ATH).toString();
  const fraction = (value % WEI_PER_ATH).toString().padStart(ATH_DECIMALS, '0').slice(0, 6).replace(/0+$/, '');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${grouped}${fraction ? `.${fraction}` : ''} ATH`;
}

/**
 * A price in wei per second as ATH per hour, rounded to the micro-ATH (a price set per hour and stored per second
 * loses a few wei: 10 ATH/h is 2,777,777,777,777,777 wei/s, which is 9.99999999999999 ATH/h).
 */
export function formatAthPerHour(weiPerSec: string | bigint): string {
  const micro = 10n ** 12n;
  return `${formatAth(((BigInt(weiPerSec) * 3600n + micro / 2n) / micro) * micro)} per hour`;
}
