import type { Hex } from 'viem';
import { bytesToHex, hexToBytes } from 'viem';
import { type Eip712Domain, signDigest, typedDigests } from '../../signaling/crypto/fastTypedData.js';
import type { SessionAuth, Usage } from '../../signaling/protocol/index.js';

export type VoucherSigner = {
  sign(usage: Usage): Hex;
  /** The SessionAuth's EIP-712 digest in the escrow's domain: the `authHash` a voucher for it names. */
  authHash(auth: SessionAuth): Hex;
};

/** The meter's signer for `Usage` vouchers in the escrow's domain (WASM ECDSA, digest precomputed domain). */
export function createVoucherSigner({ privateKey, domain }: { privateKey: Hex; domain: Eip712Domain }): VoucherSigner {
  const key = hexToBytes(privateKey);
  const digests = typedDigests(domain);
  return {
    sign: (usage) => signDigest(key, digests.usage(usage)),
    authHash: (auth) => bytesToHex(digests.sessionAuth(auth)),
  };
}

/** What a session owes after `deliveredSeconds` of verified delivery at a fixed price. */
export function cumulativeChargeWei({
  deliveredSeconds,
  priceWeiPerSec,
}: {
  deliveredSeconds: bigint;
  priceWeiPerSec: bigint;
}): bigint {
  return deliveredSeconds * priceWeiPerSec;
}
