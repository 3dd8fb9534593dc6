/**
 * Signing and verifying our EIP-712 vouchers fast. viem's `verifyTypedData` recovers a public key in pure
 * JS (≈450/s here); we know who must have signed — the meter, a player whose key we recovered once — so we
 * verify against that key with libsecp256k1 compiled to WASM (tiny-secp256k1), over a digest computed with
 * a precomputed domain separator. A signature is checked once: verified digests are remembered.
 *
 * Exactly the contracts' rules (OpenZeppelin ECDSA): 65 bytes r‖s‖v, v 27 or 28 (never 0/1), s in the lower
 * half of the curve order (no malleable twin). A signature the chain would not honour is never accepted here.
 */
import { secp256k1 } from '@noble/curves/secp256k1';
import * as ecc from 'tiny-secp256k1';
import { type Address, bytesToHex, getAddress, type Hex, hexToBytes, keccak256 } from 'viem';
import {
  type CheckReport,
  checkReportTypes,
  type SessionAuth,
  sessionAuthTypes,
  type Usage,
  usageTypes,
} from '../protocol/index.js';
import { domainSeparator, structHasher, typedDataDigest } from './typedDataHasher.js';

export type Eip712Domain = { name: string; version: string; chainId: number; verifyingContract: Address };

const hashUsageStruct = structHasher('Usage', usageTypes.Usage);
const hashSessionAuthStruct = structHasher('SessionAuth', sessionAuthTypes.SessionAuth);
const hashCheckReportStruct = structHasher('CheckReport', checkReportTypes.CheckReport);

const HALF_N = secp256k1.CURVE.n >> 1n;

export type TypedDigests = {
  usage(usage: Usage): Uint8Array;
  sessionAuth(auth: SessionAuth): Uint8Array;
  checkReport(report: CheckReport): Uint8Array;
};

/** Digest functions for one domain (the separator is computed here, once). */
export function typedDigests(domain: Eip712Domain): TypedDigests {
  const separator = domainSeparator(domain);
  return {
    usage: (usage) => typedDataDigest(separator, hashUsageStruct(usage)),
    sessionAuth: (auth) => typedDataDigest(separator, hashSessionAuthStruct(auth)),
    checkReport: (report) => typedDataDigest(separator, hashCheckReportStruct(report)),
  };
}

/** Signs a digest with a raw private key; returns the 65-byte r‖s‖v signature Ethereum expects. */
export function signDigest(privateKey: Uint8Array, digest: Uint8Array): Hex {
  const { signature, recoveryId } = ecc.signRecoverable(digest, privateKey);
  const out = new Uint8Array(65);
  out.set(signature, 0);
  out[64] = 27 + recoveryId;
  return bytesToHex(out);
}

function addressOfPublicKey(uncompressed: Uint8Array): Address {
  return getAddress(`0x${keccak256(uncompressed.subarray(1)).slice(-40)}`);
}

/**
 * Verifies signatures by known signers. `expected` is the address that must have signed; its public key is
 * recovered once (pure JS) and cached, after which each check is a WASM verify.
 */
export class SignatureVerifier {
  readonly #publicKeys = new Map<string, Uint8Array>();
  readonly #verified = new Set<string>();
  readonly #maxRemembered: number;

  constructor({ maxRemembered = 100_000 }: { maxRemembered?: number } = {}) {
    this.#maxRemembered = maxRemembered;
  }

  /** Lets the verifier skip recovery for a signer whose public key is already known (e.g. the meter). */
  addPublicKey(publicKey: Hex): void {
    const bytes = hexToBytes(publicKey);
    this.#publicKeys.set(addressOfPublicKey(bytes).toLowerCase(), bytes);
  }

  /**
   * Recovers the signer (pure JS, ≈500/s) — for signatures from outside whose recovery byte the chain will
   * use as given, like a player's SessionAuth. Also caches the key for later fast checks.
   */
  verifyStrict(expected: Address, digest: Uint8Array, signature: Hex): boolean {
    this.#publicKeys.delete(expected.toLowerCase());
    return this.verify(expected, digest, signature);
  }

  /**
   * Verifies against the signer's known public key (WASM, a few thousand per second): the signature must recover
   * to it with its own recovery byte, exactly as the chain's ecrecover would — a signature that is valid math for
   * the key but carries the other v recovers another address on chain (a checker could slip such a report into
   * slash evidence and make it revert). The first signature of a signer is recovered in pure JS and its key kept.
   */
  verify(expected: Address, digest: Uint8Array, signature: Hex): boolean {
    const sig = hexToBytes(signature);
    if (sig.length !== 65) return false;
    const v = sig[64] ?? 0;
    if (v !== 27 && v !== 28) return false;
    const compact = sig.subarray(0, 64);
    const s = BigInt(bytesToHex(sig.subarray(32, 64)));
    if (s === 0n || s > HALF_N) return false;
    const address = expected.toLowerCase();
    const key = `${address}${bytesToHex(digest)}${signature.slice(2)}`;
    if (this.#verified.has(key)) return true;
    let publicKey = this.#publicKeys.get(address);
    if (publicKey) {
      let recovered: Uint8Array | null;
      try {
        recovered = ecc.recover(digest, compact, v === 27 ? 0 : 1, false);
      } catch {
        return false;
      }
      if (!recovered || bytesToHex(recovered) !== bytesToHex(publicKey)) return false;
    } else {
      const recovery = v - 27;
      try {
        const recovered = secp256k1.Signature.fromCompact(compact)
          .addRecoveryBit(recovery)
          .recoverPublicKey(digest)
          .toRawBytes(false);
        if (addressOfPublicKey(recovered).toLowerCase() !== address) return false;
        publicKey = recovered;
        this.#publicKeys.set(address, publicKey);
      } catch {
        return false;
      }
    }
    if (this.#verified.size >= this.#maxRemembered) this.#verified.clear();
    this.#verified.add(key);
    return true;
  }
}
