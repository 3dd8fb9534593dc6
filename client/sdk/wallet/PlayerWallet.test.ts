/**
 * The player's burner wallet signs a SessionAuth only for terms within the player's price ceiling (issue 13: "the
 * player's burner wallet signs whatever price arrives" — a hostile or compromised signaling server could hand it a
 * host at any price and the escrow would honour the signature). Real keys and real EIP-712 signatures.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Hex, recoverTypedDataAddress } from 'viem';
import { isAthError } from '../../../signaling/protocol/AthError.js';
import { type PaymentTermsRecord, sessionAuthTypes, sessionEscrowDomain } from '../../../signaling/protocol/index.js';
import type { StorageLike } from '../sessionStore.js';
import { burnerWallet } from './PlayerWallet.js';

function memoryStorage(): StorageLike {
  const items = new Map<string, string>();
  return {
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
  };
}

const ONE_ATH_PER_HOUR = 10n ** 18n / 3600n;
const sessionId: Hex = `0x${'ab'.repeat(32)}`;

function terms(pricePerSecondWei: bigint): PaymentTermsRecord {
  return {
    chainId: 31337,
    escrowAddress: `0x${'11'.repeat(20)}`,
    providerAddress: `0x${'22'.repeat(20)}`,
    maxAmountWei: String(pricePerSecondWei * 3600n),
    pricePerSecondWei: String(pricePerSecondWei),
    expirySec: '4102444800',
  };
}

test('the burner wallet refuses to sign a price above the player’s ceiling, and signs one within it', async () => {
  const wallet = burnerWallet(memoryStorage());
  const ceiling = { maxPriceWeiPerSec: 10n * ONE_ATH_PER_HOUR };
  // A host at 1,000 ATH per hour, handed over by a hostile server.
  await assert.rejects(wallet.signSessionAuth(sessionId, terms(1_000n * ONE_ATH_PER_HOUR), ceiling), (error) => {
    assert.ok(isAthError(error), String(error));
    assert.equal(error.code, 'ATH_ERR_PRICE_ABOVE_CEILING');
    assert.match(error.message, /1,000 ATH per hour.*10 ATH per hour/);
    return true;
  });
  const fair = terms(ONE_ATH_PER_HOUR);
  const { auth, signature } = await wallet.signSessionAuth(sessionId, fair, ceiling);
  assert.equal(auth.pricePerSecond, ONE_ATH_PER_HOUR);
  const signer = await recoverTypedDataAddress({
    domain: sessionEscrowDomain({ chainId: fair.chainId, verifyingContract: fair.escrowAddress as Hex }),
    types: sessionAuthTypes,
    primaryType: 'SessionAuth',
    message: auth,
    signature,
  });
  assert.equal(signer, wallet.address);
});
