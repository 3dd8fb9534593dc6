import type { Hex } from 'viem';
import type { SessionAuth, Usage } from '../../signaling/protocol/index.js';

/** What `SessionEscrow.redeem`/`redeemBatch` take for one session. */
export type Redemption = {
  auth: SessionAuth;
  authSignature: Hex;
  cumulativeAmount: bigint;
  deliveredSeconds: bigint;
  usageSignature: Hex;
};

export type ToRedemptionParameters = {
  auth: SessionAuth;
  authSignature: Hex;
  usage: Usage;
  usageSignature: Hex;
  /** The meter submits its own vouchers: the escrow does not re-check its signature, so leave it out of calldata. */
  submittedByMeter?: boolean;
};

export function toRedemption({
  auth,
  authSignature,
  usage,
  usageSignature,
  submittedByMeter = false,
}: ToRedemptionParameters): Redemption {
  return {
    auth,
    authSignature,
    cumulativeAmount: usage.cumulativeAmount,
    deliveredSeconds: usage.deliveredSeconds,
    usageSignature: submittedByMeter ? '0x' : usageSignature,
  };
}

/** Bytes of one item of `SessionEscrow.redeemPacked` (see the contract for the layout). */
export const PACKED_ITEM_BYTES = 175;
const MAX_UINT80 = (1n << 80n) - 1n;
const MAX_UINT32 = (1n << 32n) - 1n;

function fixed(value: bigint, bytes: number): string {
  return value.toString(16).padStart(bytes * 2, '0');
}

/** Whether a voucher fits the packed layout (amounts in 80 bits, times in 32, a 65-byte ECDSA signature). */
export function packable({
  auth,
  usage,
  authSignature,
}: Pick<ToRedemptionParameters, 'auth' | 'usage' | 'authSignature'>): boolean {
  return (
    auth.maxAmount <= MAX_UINT80 &&
    auth.pricePerSecond <= MAX_UINT80 &&
    usage.cumulativeAmount <= MAX_UINT80 &&
    auth.expiry <= MAX_UINT32 &&
    usage.deliveredSeconds <= MAX_UINT32 &&
    authSignature.length === 2 + 130
  );
}

/** The meter's compact calldata for `redeemPacked`: payers with plain-key (ECDSA) signatures only. */
export function packRedemptions(
  items: ReadonlyArray<Pick<ToRedemptionParameters, 'auth' | 'usage' | 'authSignature'>>,
): Hex {
  let out = '0x';
  for (const { auth, usage, authSignature } of items) {
    if (!packable({ auth, usage, authSignature }))
      throw new Error(`voucher for ${auth.sessionId} does not fit the packed layout`);
    out +=
      auth.sessionId.slice(2) +
      auth.player.slice(2).toLowerCase() +
      auth.provider.slice(2).toLowerCase() +
      fixed(auth.maxAmount, 10) +
      fixed(auth.pricePerSecond, 10) +
      fixed(auth.expiry, 4) +
      fixed(usage.cumulativeAmount, 10) +
      fixed(usage.deliveredSeconds, 4) +
      authSignature.slice(2);
  }
  return out as Hex;
}
