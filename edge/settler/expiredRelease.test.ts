/**
 * A session whose authorization expires before its last charges settle (an RPC outage longer than the meter's
 * expiry margin): the escrow refuses those charges for good (expired), and the rest of the session's cap would
 * stay reserved — on chain and in the ledger's free-escrow view — for ever. The settler releases it
 * (`releaseExpired`) and the ledger marks the session closed. Real anvil + contracts, PGlite ledger.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Address, Hex } from 'viem';
import { sessionEscrowAbi } from '../chain/index.js';
import { assertEscrowConserved } from '../chain/testing/escrowConservation.js';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import {
  endSession,
  getSession,
  type Ledger,
  listSettlements,
  openLedger,
  payerCommitmentsWei,
} from '../ledger/index.js';
import type { VoucherSigner } from '../metering/index.js';
import {
  assertLedgerMatchesChain,
  depositedPayer,
  meterSigner,
  meterTick,
  openSession,
  randomProvider,
  settlementWorker,
} from './testing/settlementWorld.js';

const PRICE = 10n ** 15n;
const MAX = PRICE * 3600n;

let chain: TestChain;
let ledger: Ledger;
let signer: VoucherSigner;

before(async () => {
  chain = await startTestChain();
  ledger = await openLedger({});
  signer = meterSigner(chain);
});
after(async () => {
  await ledger?.close();
  await chain?.close();
});

const read = <T>(functionName: 'accounts' | 'closed' | 'claimed', arg: Hex) =>
  chain.publicClient.readContract({
    address: chain.escrowAddress,
    abi: sessionEscrowAbi,
    functionName,
    args: [arg],
  } as never) as Promise<T>;

test('charges that expired unsettled are refused for good, and the session’s reserve is released on chain and in the ledger', async () => {
  const payer = await depositedPayer(chain, MAX * 2n);
  const provider: Address = randomProvider();
  const charged = await openSession(chain, ledger, { payer, provider, priceWeiPerSec: PRICE, maxWei: MAX });
  const idle = await openSession(chain, ledger, { payer, provider, priceWeiPerSec: PRICE, maxWei: MAX });
  await meterTick(ledger, signer, chain.meter.address, { sessionId: charged, tickIndex: 0, deliveredSec: 10 });
  const worker = settlementWorker(chain, ledger);
  try {
    await worker.runSoon();
    assert.deepEqual(await read('accounts', payer.address), [MAX * 2n - PRICE * 10n, MAX - PRICE * 10n], 'registered');
    // Ten more seconds are billed, both sessions end — and the chain only hears of it after the expiry.
    await meterTick(ledger, signer, chain.meter.address, { sessionId: charged, tickIndex: 1, deliveredSec: 10 });
    await endSession(ledger, { sessionId: charged, reason: 'player-quit' });
    await endSession(ledger, { sessionId: idle, reason: 'player-quit' });
    await chain.increaseTime(5 * 3600);
    await worker.runSoon();

    const rows = await listSettlements(ledger, { sessionId: charged });
    assert.equal(rows.at(-1)?.state, 'failed', 'the expired charge is refused for good');
    assert.equal(await read('closed', charged), true, 'closed on chain');
    assert.deepEqual(
      await read('accounts', payer.address),
      [MAX * 2n - PRICE * 10n, 0n],
      'nothing reserved: the rest of the cap is the payer’s again',
    );
    assert.notEqual((await getSession(ledger, charged))?.chainClosedAt, null, 'the ledger knows');
    assert.notEqual((await getSession(ledger, idle))?.chainClosedAt, null, 'a session that never charged too');
    assert.equal(
      await payerCommitmentsWei(ledger, { payerAddress: payer.address }),
      0n,
      'the desk sees the whole balance free again',
    );
    // Idempotent: another pass sends nothing and changes nothing.
    await worker.runSoon();
    assert.deepEqual(await read('accounts', payer.address), [MAX * 2n - PRICE * 10n, 0n]);
    assert.equal(await read('claimed', charged), PRICE * 10n);
    await assertLedgerMatchesChain(chain, ledger);
    await assertEscrowConserved(chain, [provider]);
  } finally {
    await worker.close();
  }
});
