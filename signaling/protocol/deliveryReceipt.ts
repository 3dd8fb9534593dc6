/**
 * Delivery receipts (issue 14): every `host-report` of a live session carries the render host's signed claim of
 * what it sent that session so far — cumulative frames, the encoder's frame rate and bitrate — signed (EIP-712)
 * with its provider key, the key that registered it. What the host tells signaling about one session becomes
 * evidence anyone can check against the provider's address: when the player's own decoder counts far fewer
 * frames over a disputed stretch while the checkers find the host's probes fine, the signed claims are what
 * shows the host said one thing and delivered another (edge/metering/Meter.ts).
 *
 * The domain names no chain: a receipt is never redeemed, and its session id (random bytes32) is unique.
 */
import { type Static, Type } from '@sinclair/typebox';
import { type Address, type Hex, type LocalAccount, recoverTypedDataAddress } from 'viem';
import { TYPED_DATA_VERSION } from './typedData.js';

export const DELIVERY_DOMAIN_NAME = 'AthDelivery';

export const deliveryDomain = { name: DELIVERY_DOMAIN_NAME, version: TYPED_DATA_VERSION } as const;

export const deliveryReceiptTypes = {
  DeliveryReceipt: [
    { name: 'sessionId', type: 'bytes32' },
    { name: 'seq', type: 'uint64' },
    { name: 'framesSent', type: 'uint64' },
    { name: 'fpsMilli', type: 'uint32' },
    { name: 'bitrateBps', type: 'uint32' },
    { name: 'timestamp', type: 'uint64' },
  ],
} as const;

/** What the host signs: cumulative frames sent to the session, its frame rate and bitrate now, its clock (unix ms). */
export type DeliveryReceipt = {
  sessionId: Hex;
  seq: bigint;
  framesSent: bigint;
  fpsMilli: number;
  bitrateBps: number;
  timestamp: bigint;
};

const Uint64Decimal = Type.String({ pattern: '^(0|[1-9][0-9]{0,19})$' });

/** A receipt as `host-report` carries it: the report's own `framesSent`, `fpsMilli` and `bitrateBps` are signed too. */
export const DeliveryReceiptWire = Type.Object(
  {
    seq: Uint64Decimal,
    /** The host's clock, unix ms. */
    timestamp: Uint64Decimal,
    signature: Type.String({ pattern: '^0x[0-9a-fA-F]{130}$' }),
  },
  { additionalProperties: false },
);
export type DeliveryReceiptWireRecord = Static<typeof DeliveryReceiptWire>;

/** A receipt with its signature, as signaling keeps it (evidence). */
export type SignedDeliveryReceipt = { receipt: DeliveryReceipt; signature: Hex };

/** The fields of a `host-report` a receipt signs. */
export type ReceiptReportFields = {
  sessionId: string;
  framesSent: number;
  fpsMilli: number;
  bitrateBps: number;
};

/** The signed struct of a `host-report` (its fields plus the receipt's). */
export function deliveryReceiptOf(report: ReceiptReportFields, wire: DeliveryReceiptWireRecord): SignedDeliveryReceipt {
  return {
    receipt: {
      sessionId: report.sessionId as Hex,
      seq: BigInt(wire.seq),
      framesSent: BigInt(report.framesSent),
      fpsMilli: report.fpsMilli,
      bitrateBps: Math.min(report.bitrateBps, 0xffffffff),
      timestamp: BigInt(wire.timestamp),
    },
    signature: wire.signature as Hex,
  };
}

export type SignDeliveryReceiptParameters = {
  account: LocalAccount;
  report: ReceiptReportFields;
  seq: number;
  timestampMs: number;
};

/** The render host's side: the receipt field of a `host-report`, signed with its provider key. */
export async function signDeliveryReceipt({
  account,
  report,
  seq,
  timestampMs,
}: SignDeliveryReceiptParameters): Promise<DeliveryReceiptWireRecord> {
  const unsigned = { seq: String(seq), timestamp: String(Math.floor(timestampMs)) };
  const { receipt } = deliveryReceiptOf(report, { ...unsigned, signature: `0x${'0'.repeat(130)}` });
  const signature = await account.signTypedData({
    domain: deliveryDomain,
    types: deliveryReceiptTypes,
    primaryType: 'DeliveryReceipt',
    message: receipt,
  });
  return { ...unsigned, signature };
}

/** Who signed a receipt (undefined when the signature does not recover). */
export async function deliveryReceiptSigner({
  receipt,
  signature,
}: SignedDeliveryReceipt): Promise<Address | undefined> {
  try {
    return await recoverTypedDataAddress({
      domain: deliveryDomain,
      types: deliveryReceiptTypes,
      primaryType: 'DeliveryReceipt',
      message: receipt,
      signature,
    });
  } catch {
    return undefined;
  }
}
