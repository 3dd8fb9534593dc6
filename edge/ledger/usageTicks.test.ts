import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAthError } from '../../signaling/protocol/index.js';
import { journalBalance, journalTotals, SYSTEM_ACCOUNTS } from './journal.js';
import { getSession } from './sessions.js';
import { createStudio, findPlayToken, mintPlayToken } from './studios.js';
import { describeLedger } from './testing/describeLedger.js';
import { seedSession } from './testing/fixtures.js';
import { listUsageTicks, recordUsageTick } from './usageTicks.js';

describeLedger('usage ticks', (ctx) => {
  test('each tick charges deliveredSec × price, accumulates, and journals a balanced charge', async () => {
    const price = 333_333_333_333_333_333n; // not a round number: exactness matters
    const s = await seedSession(ctx.ledger, { priceWeiPerSec: price, maxWei: 10n ** 20n });
    const r0 = await recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 0, deliveredSec: 5 });
    const r1 = await recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 1, deliveredSec: 0 });
    const r3 = await recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 3, deliveredSec: 4 });
    assert.equal(r0.tick.amountWei, 5n * price);
    assert.equal(r1.tick.amountWei, 0n);
    assert.equal(r3.tick.cumulativeWei, 9n * price);
    assert.equal(r3.tick.cumulativeDeliveredSec, 9);
    const session = await getSession(ctx.ledger, s.sessionId);
    assert.equal(session?.cumulativeWei, 9n * price);
    assert.equal(session?.deliveredSec, 9);
    assert.equal(session?.lastTickIndex, 3);
    const ticks = await listUsageTicks(ctx.ledger, { sessionId: s.sessionId });
    assert.deepEqual(
      ticks.map((t) => t.tickIndex),
      [0, 1, 3],
    );
    const payer = await journalTotals(ctx.ledger, s.payerAddress);
    assert.equal(payer['charge:debit'], 9n * price);
    assert.ok((await journalBalance(ctx.ledger)).balanced);
  });

  test('a retried tick is a no-op; a changed retry is a conflict; an unseen older tick is out of order', async () => {
    const s = await seedSession(ctx.ledger);
    const first = await recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 0, deliveredSec: 5 });
    await recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 2, deliveredSec: 5 });
    const unsettledBefore = (await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.unsettled))['charge:credit'];
    const retry = await recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 0, deliveredSec: 5 });
    assert.equal(retry.inserted, false);
    assert.deepEqual(retry.tick, first.tick);
    assert.equal((await journalTotals(ctx.ledger, SYSTEM_ACCOUNTS.unsettled))['charge:credit'], unsettledBefore);
    await assert.rejects(recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 0, deliveredSec: 4 }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_CONFLICT'),
    );
    await assert.rejects(recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 1, deliveredSec: 5 }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_TICK_OUT_OF_ORDER'),
    );
    assert.equal((await getSession(ctx.ledger, s.sessionId))?.cumulativeWei, 10n * s.priceWeiPerSec);
  });

  test('concurrent retries of the same tick record it once', async () => {
    const s = await seedSession(ctx.ledger);
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 0, deliveredSec: 5 }),
      ),
    );
    assert.equal(results.filter((r) => r.inserted).length, 1);
    assert.equal((await getSession(ctx.ledger, s.sessionId))?.cumulativeWei, 5n * s.priceWeiPerSec);
  });

  test('a tick beyond the SessionAuth cap is refused and records nothing', async () => {
    const s = await seedSession(ctx.ledger, { priceWeiPerSec: 10n, maxWei: 95n });
    await recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 0, deliveredSec: 5 });
    await recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 1, deliveredSec: 4 });
    await assert.rejects(recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 2, deliveredSec: 1 }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_OVER_CAP'),
    );
    const session = await getSession(ctx.ledger, s.sessionId);
    assert.equal(session?.cumulativeWei, 90n);
    assert.equal(session?.lastTickIndex, 1);
  });

  test('a play-token session spends the token cap, and a tick past it is refused', async () => {
    const owner = (await seedSession(ctx.ledger)).payerAddress;
    const { studio } = await createStudio(ctx.ledger, { ownerAddress: owner, name: 'S' });
    const { playToken, token } = await mintPlayToken(ctx.ledger, {
      studioId: studio.studioId,
      game: 'supertux',
      origin: 'https://s.example',
      capWei: 100n,
      ttlSec: 60,
    });
    const s = await seedSession(ctx.ledger, {
      payer: owner,
      priceWeiPerSec: 10n,
      studioId: studio.studioId,
      playTokenId: playToken.playTokenId,
    });
    await recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 0, deliveredSec: 5 });
    await recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 1, deliveredSec: 5 });
    await assert.rejects(recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 2, deliveredSec: 1 }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_CAP_EXHAUSTED'),
    );
    assert.equal((await findPlayToken(ctx.ledger, token))?.spentWei, 100n);
    assert.equal((await getSession(ctx.ledger, s.sessionId))?.cumulativeWei, 100n);
  });

  test('bad input and unknown sessions are refused', async () => {
    const s = await seedSession(ctx.ledger);
    for (const [tickIndex, deliveredSec] of [
      [-1, 5],
      [0, -1],
      [0, 1.5],
      [0, 3601],
    ] as const) {
      await assert.rejects(recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex, deliveredSec }), (e) =>
        isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
      );
    }
    await assert.rejects(
      recordUsageTick(ctx.ledger, { sessionId: `0x${'00'.repeat(32)}`, tickIndex: 0, deliveredSec: 5 }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_NOT_FOUND'),
    );
  });
});
