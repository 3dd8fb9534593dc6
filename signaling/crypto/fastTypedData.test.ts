import assert from 'node:assert/strict';
import { test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1';
import { bytesToHex, type Hex, hashTypedData, hexToBytes } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  type CheckReport,
  checkerDomain,
  checkReportTypes,
  type SessionAuth,
  sessionAuthTypes,
  sessionEscrowDomain,
  type Usage,
  usageTypes,
} from '../protocol/index.js';
import { SignatureVerifier, signDigest, typedDigests } from './fastTypedData.js';

const escrow = sessionEscrowDomain({ chainId: 42161, verifyingContract: '0x1111111111111111111111111111111111111111' });
const checker = checkerDomain({ chainId: 42161, verifyingContract: '0x2222222222222222222222222222222222222222' });
const usage: Usage = {
  sessionId: `0x${'ab'.repeat(32)}`,
  authHash: `0x${'cd'.repeat(32)}`,
  cumulativeAmount: 123_456_789_000_000_000n,
  deliveredSeconds: 45n,
};
const auth: SessionAuth = {
  sessionId: `0x${'cd'.repeat(32)}`,
  player: '0x3333333333333333333333333333333333333333',
  provider: '0x4444444444444444444444444444444444444444',
  maxAmount: 10n ** 19n,
  pricePerSecond: 277_777_777_777_777n,
  expiry: 1_900_000_000n,
};
const report: CheckReport = {
  container: 'host-é-1',
  checker: '0x5555555555555555555555555555555555555555',
  round: 9n,
  rttMicros: 4321,
  fpsMilli: 59_940,
  lossPpm: 7,
  ok: false,
  timestamp: 1_800_000_123n,
};

test('digests equal viem’s hashTypedData for all three structs', () => {
  const e = typedDigests(escrow);
  const c = typedDigests(checker);
  assert.equal(
    bytesToHex(e.usage(usage)),
    hashTypedData({ domain: escrow, types: usageTypes, primaryType: 'Usage', message: usage }),
  );
  assert.equal(
    bytesToHex(e.sessionAuth(auth)),
    hashTypedData({ domain: escrow, types: sessionAuthTypes, primaryType: 'SessionAuth', message: auth }),
  );
  assert.equal(
    bytesToHex(c.checkReport(report)),
    hashTypedData({ domain: checker, types: checkReportTypes, primaryType: 'CheckReport', message: report }),
  );
});

test('the fast path accepts what viem signs and refuses wrong signers, tampered fields and high-s', async () => {
  const key = generatePrivateKey();
  const meter = privateKeyToAccount(key);
  const other = privateKeyToAccount(generatePrivateKey());
  const digests = typedDigests(escrow);
  const signature = await meter.signTypedData({
    domain: escrow,
    types: usageTypes,
    primaryType: 'Usage',
    message: usage,
  });
  // Our WASM signer produces the same signature as viem (RFC 6979 deterministic nonces).
  assert.equal(signDigest(hexToBytes(key), digests.usage(usage)), signature);

  const verifier = new SignatureVerifier();
  assert.equal(verifier.verify(meter.address, digests.usage(usage), signature), true);
  assert.equal(verifier.verify(meter.address, digests.usage(usage), signature), true, 'remembered');
  assert.equal(verifier.verify(other.address, digests.usage(usage), signature), false, 'wrong signer');
  const tampered = { ...usage, cumulativeAmount: usage.cumulativeAmount + 1n };
  assert.equal(verifier.verify(meter.address, digests.usage(tampered), signature), false, 'tampered field');
  // The same signature with s replaced by n − s (and v flipped) is valid math but malleable: refused.
  const bytes = hexToBytes(signature);
  const s = BigInt(bytesToHex(bytes.subarray(32, 64)));
  const highS = secp256k1.CURVE.n - s;
  const malleable = new Uint8Array(bytes);
  malleable.set(hexToBytes(`0x${highS.toString(16).padStart(64, '0')}`), 32);
  malleable[64] = (bytes[64] ?? 27) === 27 ? 28 : 27;
  assert.equal(verifier.verify(meter.address, digests.usage(usage), bytesToHex(malleable) as Hex), false, 'high-s');
  // A fresh verifier (no cached key) recovers strictly.
  assert.equal(new SignatureVerifier().verifyStrict(meter.address, digests.usage(usage), signature), true);
  assert.equal(new SignatureVerifier().verifyStrict(other.address, digests.usage(usage), signature), false);
  // v = 0/1 (the recovery id without the 27), or any other v, the chain's ecrecover refuses: so do we, cached or not.
  for (const v of [(bytes[64] ?? 27) - 27, 29]) {
    const odd = new Uint8Array(bytes);
    odd[64] = v;
    assert.equal(verifier.verify(meter.address, digests.usage(usage), bytesToHex(odd) as Hex), false, `v=${odd[64]}`);
    assert.equal(
      new SignatureVerifier().verifyStrict(meter.address, digests.usage(usage), bytesToHex(odd) as Hex),
      false,
      `v=${odd[64]}, strict`,
    );
  }
  // The other recovery byte (27 ↔ 28) is valid math for the cached key, but ecrecover would name another address.
  const flipped = new Uint8Array(bytes);
  flipped[64] = (bytes[64] ?? 27) === 27 ? 28 : 27;
  assert.equal(verifier.verify(meter.address, digests.usage(usage), bytesToHex(flipped) as Hex), false, 'flipped v');
  // Not 65 bytes (a 64-byte EIP-2098 compact signature, or trailing garbage): refused.
  assert.equal(verifier.verify(meter.address, digests.usage(usage), bytesToHex(bytes.subarray(0, 64)) as Hex), false);
  assert.equal(verifier.verify(meter.address, digests.usage(usage), `${signature}00` as Hex), false);
});
