import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAthError } from '../../signaling/protocol/index.js';
import { journalBalance, journalTotals, SYSTEM_ACCOUNTS } from './journal.js';
import { acquireLease } from './leases.js';
import { meterClaimOf } from './meterClaims.js';
import { enqueueSettlement } from './outbox.js';
import { claimSessionInstance, endSession, getSession } from './sessions.js';
import { createStudio, findPlayToken, mintPlayToken } from './studios.js';
import { describeLedger } from './testing/describeLedger.js';
import { fakeSignature, seedSession } from './testing/fixtures.js';
import { listUsageTicks, recordUsageTick } from './usageTicks.js';
import { recordVoucher } from './vouchers.js';

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

describeLedger('meter claims: a process that lost a session cannot bill it (fencing)', (ctx) => {
  test('a take-over bumps the epoch; every write under the old claim is refused, under the new one accepted', async () => {
    const s = await seedSession(ctx.ledger);
    const first = await claimSessionInstance(ctx.ledger, { sessionId: s.sessionId, signalingInstance: 'a' });
    assert.ok(first);
    const claimA = meterClaimOf(first);
    await recordUsageTick(ctx.ledger, {
      sessionId: s.sessionId,
      tickIndex: 0,
      deliveredSec: 5,
      claim: claimA,
      meteredUntilMs: 5_000,
    });
    // B takes it over (A cut off from Redis, or gone): the totals it returns are final for A.
    const taken = await claimSessionInstance(ctx.ledger, { sessionId: s.sessionId, signalingInstance: 'b' });
    assert.ok(taken);
    const claimB = meterClaimOf(taken);
    assert.equal(claimB.epoch, claimA.epoch + 1n);
    assert.equal(taken.meteredUntilMs, 5_000);
    assert.equal(taken.lastTickIndex, 0);
    const fenced = (e: unknown) => isAthError(e, 'ATH_ERR_LEDGER_FENCED');
    await assert.rejects(
      recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 1, deliveredSec: 5, claim: claimA }),
      fenced,
    );
    // Even a retry of a tick A recorded itself: A learns it lost the session.
    await assert.rejects(
      recordUsageTick(ctx.ledger, { sessionId: s.sessionId, tickIndex: 0, deliveredSec: 5, claim: claimA }),
      fenced,
    );
    const usage = { sessionId: s.sessionId, cumulativeAmount: 5n * s.priceWeiPerSec, deliveredSeconds: 5n };
    const voucher = { usage, meterAddress: `0x${'11'.repeat(20)}`, signature: fakeSignature() };
    await assert.rejects(recordVoucher(ctx.ledger, { ...voucher, claim: claimA }), fenced);
    await assert.rejects(enqueueSettlement(ctx.ledger, { sessionId: s.sessionId, claim: claimA }), fenced);
    await assert.rejects(
      endSession(ctx.ledger, { sessionId: s.sessionId, reason: 'player-quit', claim: claimA }),
      fenced,
    );
    // Same instance name, older epoch (A took it back once, then lost it again): still refused.
    await assert.rejects(
      recordUsageTick(ctx.ledger, {
        sessionId: s.sessionId,
        tickIndex: 1,
        deliveredSec: 5,
        claim: { instance: 'b', epoch: claimA.epoch },
      }),
      fenced,
    );
    assert.equal((await getSession(ctx.ledger, s.sessionId))?.cumulativeWei, 5n * s.priceWeiPerSec, 'nothing from A');
    // B bills on from where the ledger's last tick ended.
    const b1 = await recordUsageTick(ctx.ledger, {
      sessionId: s.sessionId,
      tickIndex: 1,
      deliveredSec: 3,
      claim: claimB,
      meteredUntilMs: 8_000,
    });
    assert.equal(b1.inserted, true);
    // A late, smaller end time never moves it back.
    await recordUsageTick(ctx.ledger, {
      sessionId: s.sessionId,
      tickIndex: 2,
      deliveredSec: 0,
      claim: claimB,
      meteredUntilMs: 7_000,
    });
    await recordVoucher(ctx.ledger, {
      ...voucher,
      usage: { ...usage, cumulativeAmount: 8n * s.priceWeiPerSec, deliveredSeconds: 8n },
      claim: claimB,
    });
    assert.equal((await enqueueSettlement(ctx.ledger, { sessionId: s.sessionId, claim: claimB })).inserted, true);
    assert.equal(
      (await endSession(ctx.ledger, { sessionId: s.sessionId, reason: 'player-quit', claim: claimB })).ended,
      true,
    );
    const ended = await getSession(ctx.ledger, s.sessionId);
    assert.equal(ended?.meteredUntilMs, 8_000);
    assert.equal(ended?.cumulativeWei, 8n * s.priceWeiPerSec);
    const { rows } = await ctx.ledger.query(
      'select tick_index, meter_epoch::text as epoch from usage_ticks where session_id = $1 order by tick_index',
      [s.sessionId],
    );
    assert.deepEqual(
      rows.map((r) => [(r as { tick_index: number }).tick_index, (r as { epoch: string }).epoch]),
      [
        [0, String(claimA.epoch)],
        [1, String(claimB.epoch)],
        [2, String(claimB.epoch)],
      ],
    );
    // An ended session is claimed by nobody.
    assert.equal(await claimSessionInstance(ctx.ledger, { sessionId: s.sessionId, signalingInstance: 'c' }), undefined);
  });

  test('an orphan sweep claims a session only from the process it found, and only while that one’s lease is lapsed', async () => {
    const s = await seedSession(ctx.ledger);
    const owner = `own-${s.sessionId.slice(2, 10)}`;
    await claimSessionInstance(ctx.ledger, { sessionId: s.sessionId, signalingInstance: owner });
    const lease = await acquireLease(ctx.ledger, { name: `signaling:${owner}`, holder: owner, ttlMs: 60_000 });
    assert.equal(lease.held, true);
    const sweep = { sessionId: s.sessionId, signalingInstance: 'sweeper', from: owner, whenLeaseLapsed: true };
    assert.equal(await claimSessionInstance(ctx.ledger, sweep), undefined, 'its process holds its lease');
    await ctx.ledger.query(`update ledger_leases set expires_at = now() - interval '1 second' where name = $1`, [
      `signaling:${owner}`,
    ]);
    assert.equal(
      await claimSessionInstance(ctx.ledger, { ...sweep, from: 'someone-else' }),
      undefined,
      'another process claimed it since the sweep listed it',
    );
    const swept = await claimSessionInstance(ctx.ledger, sweep);
    assert.equal(swept?.signalingInstance, 'sweeper');
    // The process comes back after its lease lapsed and takes its lease again: the session is not its own any more.
    const back = await acquireLease(ctx.ledger, { name: `signaling:${owner}`, holder: owner, ttlMs: 60_000 });
    assert.equal(back.held, true);
    assert.ok(back.epoch > lease.epoch);
    await assert.rejects(
      recordUsageTick(ctx.ledger, {
        sessionId: s.sessionId,
        tickIndex: 0,
        deliveredSec: 5,
        claim: { instance: owner, epoch: swept.meterEpoch - 1n },
      }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_FENCED'),
    );
  });
});
