import assert from 'node:assert/strict';
import { test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1';
import { bytesToHex, type Hex, hexToBytes } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { type CheckReport, checkerDomain, checkReportTypes, type PeerMessageOf } from '../protocol/index.js';
import { CheckReportVerifier } from './CheckReportVerifier.js';

const domain = { chainId: 31337, verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' } as const;

async function signed(
  key: Hex,
  report: CheckReport,
): Promise<{ wire: PeerMessageOf<'check-report'>['report']; signature: Hex }> {
  const signature = await privateKeyToAccount(key).signTypedData({
    domain: checkerDomain(domain),
    types: checkReportTypes,
    primaryType: 'CheckReport',
    message: report,
  });
  return { wire: { ...report, round: String(report.round), timestamp: String(report.timestamp) }, signature };
}

test('a CheckReport verifies for its checker only, and not once a field or the domain changes', async () => {
  const key = generatePrivateKey();
  const checker = privateKeyToAccount(key);
  const other = privateKeyToAccount(generatePrivateKey());
  const report: CheckReport = {
    container: 'host-1',
    checker: checker.address,
    round: 3n,
    rttMicros: 2_500,
    fpsMilli: 59_900,
    lossPpm: 0,
    ok: true,
    timestamp: 1_800_000_000n,
  };
  const { wire, signature } = await signed(key, report);
  const verifier = new CheckReportVerifier(domain);
  assert.equal(verifier.verify(checker.address, wire, signature), true);
  assert.equal(verifier.verify(checker.address, wire, signature), true, 'again, from the cached key');
  assert.equal(new CheckReportVerifier(domain).verify(other.address, wire, signature), false, 'another checker');
  assert.equal(verifier.verify(checker.address, { ...wire, ok: false }, signature), false, 'verdict flipped');
  assert.equal(verifier.verify(checker.address, { ...wire, fpsMilli: 60_000 }, signature), false, 'fps changed');
  assert.equal(verifier.verify(checker.address, { ...wire, round: '4' }, signature), false, 'other round');
  const elsewhere = new CheckReportVerifier({ ...domain, chainId: 42161 });
  assert.equal(elsewhere.verify(checker.address, wire, signature), false, 'other chain');

  // The same signature with s flipped to the high half (valid for ECDSA, refused on chain) is refused.
  const bytes = hexToBytes(signature);
  const s = BigInt(bytesToHex(bytes.subarray(32, 64)));
  const malleable = new Uint8Array(bytes);
  malleable.set(hexToBytes(`0x${(secp256k1.CURVE.n - s).toString(16).padStart(64, '0')}`), 32);
  malleable[64] = (bytes[64] ?? 27) === 27 ? 28 : 27;
  assert.equal(verifier.verify(checker.address, wire, bytesToHex(malleable)), false, 'high-s');
  assert.equal(verifier.verify(checker.address, wire, '0x1234'), false, 'not a signature');
});
