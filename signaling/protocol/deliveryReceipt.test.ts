import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { isAthError } from './AthError.js';
import { deliveryReceiptOf, deliveryReceiptSigner, signDeliveryReceipt } from './deliveryReceipt.js';
import { parsePeerMessage } from './parseMessage.js';

const sessionId = `0x${'ab'.repeat(32)}`;
const report = { sessionId, fpsMilli: 60_000, framesSent: 1_200, bitrateBps: 4_000_000 };

test('a host-report’s receipt recovers to the provider that signed it, and to nobody else once a figure changes', async () => {
  const provider = privateKeyToAccount(generatePrivateKey());
  const receipt = await signDeliveryReceipt({ account: provider, report, seq: 7, timestampMs: 1_700_000_000_123.9 });
  assert.deepEqual({ seq: receipt.seq, timestamp: receipt.timestamp }, { seq: '7', timestamp: '1700000000123' });
  const message = parsePeerMessage(JSON.stringify({ type: 'host-report', ...report, inputIdleMs: 0, receipt }));
  assert.equal(message.type, 'host-report');
  assert.ok(message.type === 'host-report' && message.receipt);
  const signed = deliveryReceiptOf(message, message.receipt);
  assert.equal(signed.receipt.framesSent, 1_200n);
  assert.equal(await deliveryReceiptSigner(signed), provider.address);
  // A host (or anyone relaying its report) that changes a signed figure no longer has its provider's signature.
  for (const changed of [
    { framesSent: 12_000 },
    { fpsMilli: 59_000 },
    { bitrateBps: 1 },
    { sessionId: `0x${'cd'.repeat(32)}` },
  ]) {
    const other = deliveryReceiptOf({ ...report, ...changed }, receipt);
    assert.notEqual(await deliveryReceiptSigner(other), provider.address, JSON.stringify(changed));
  }
  assert.equal(await deliveryReceiptSigner({ ...signed, signature: `0x${'00'.repeat(65)}` }), undefined);
});

test('a host-report with a malformed receipt is refused by the schema', () => {
  const signature = `0x${'11'.repeat(65)}`;
  for (const receipt of [
    { seq: '1', timestamp: '1', signature, extra: 1 },
    { seq: '-1', timestamp: '1', signature },
    { seq: '1', timestamp: '1', signature: '0x1234' },
    { seq: 1, timestamp: '1', signature },
    { seq: '1', signature },
  ]) {
    assert.throws(
      () => parsePeerMessage(JSON.stringify({ type: 'host-report', ...report, inputIdleMs: 0, receipt })),
      (error: unknown) => isAthError(error) && error.code === 'ATH_ERR_BAD_MESSAGE',
      JSON.stringify(receipt),
    );
  }
});
