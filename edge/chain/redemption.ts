import type { Hex } from 'viem';
import type { SessionAuth, Usage } from '../../signaling/protocol/index.js';

/** What `SessionEscrow.redeem`/`redeemBatch` take for one session. */
export type Redemption = {
  auth: SessionAuth;
  authSignature: Hex;
  cumulativeAmount: bigint;
  deliveredSeconds: bigint;
  usageSignature: Hex;
  /** The session's final voucher (honoured from the meter only): the redeem releases the rest of its reserve. */
  close: boolean;
};

/** The amounts of a Usage voucher (its session id and authorization digest come with the auth). */
export type UsageAmounts = Pick<Usage, 'cumulativeAmount' | 'deliveredSeconds'>;

export type ToRedemptionParameters = {
  auth: SessionAuth;
  authSignature: Hex;
  usage: UsageAmounts;
  usageSignature: Hex;
  /** The meter submits its own vouchers: the escrow does not re-check its signature, so leave it out of calldata. */
  submittedByMeter?: boolean;
  close?: boolean;
};

export function toRedemption({
  auth,
  authSignature,
  usage,
  usageSignature,
  submittedByMeter = false,
  close = false,
}: ToRedemptionParameters): Redemption {
  return {
    auth,
    authSignature,
    cumulativeAmount: usage.cumulativeAmount,
    deliveredSeconds: usage.deliveredSeconds,
    usageSignature: submittedByMeter ? '0x' : usageSignature,
    close,
  };
}

/** Bytes of one item of `SessionEscrow.redeemPacked` without / with the payer's signature (see the contract). */
export const PACKED_HEAD_BYTES = 111;
export const PACKED_ITEM_BYTES = PACKED_HEAD_BYTES + 65;
const MAX_UINT80 = (1n << 80n) - 1n;
const MAX_UINT32 = (1n << 32n) - 1n;
const FLAG_CLOSE = 1;
const FLAG_SIGNATURE = 2;

function fixed(value: bigint, bytes: number): string {
  return value.toString(16).padStart(bytes * 2, '0');
}

export type PackableItem = {
  auth: SessionAuth;
  usage: UsageAmounts;
  authSignature: Hex;
  /** The session is registered on chain already: its authorization's signature is left out (its tag is checked). */
  registered?: boolean;
  close?: boolean;
};

/** Whether a voucher fits the packed layout (amounts in 80 bits, times in 32, a 65-byte ECDSA signature). */
export function packable({ auth, usage, authSignature, registered = false }: PackableItem): boolean {
  return (
    auth.maxAmount <= MAX_UINT80 &&
    auth.pricePerSecond <= MAX_UINT80 &&
    usage.cumulativeAmount <= MAX_UINT80 &&
    auth.expiry <= MAX_UINT32 &&
    usage.deliveredSeconds <= MAX_UINT32 &&
    (registered || authSignature.length === 2 + 130)
  );
}

/** The meter's compact calldata for `redeemPacked`: payers with plain-key (ECDSA) signatures only. */
export function packRedemptions(items: ReadonlyArray<PackableItem>): Hex {
  let out = '0x';
  for (const item of items) {
    const { auth, usage, authSignature, registered = false, close = false } = item;
    if (!packable(item)) throw new Error(`voucher for ${auth.sessionId} does not fit the packed layout`);
    const flags = (close ? FLAG_CLOSE : 0) | (registered ? 0 : FLAG_SIGNATURE);
    out +=
      auth.sessionId.slice(2) +
      auth.player.slice(2).toLowerCase() +
      auth.provider.slice(2).toLowerCase() +
      fixed(auth.maxAmount, 10) +
      fixed(auth.pricePerSecond, 10) +
      fixed(auth.expiry, 4) +
      fixed(usage.cumulativeAmount, 10) +
      fixed(usage.deliveredSeconds, 4) +
      fixed(BigInt(flags), 1) +
      (registered ? '' : authSignature.slice(2));
  }
  return out as Hex;
}
