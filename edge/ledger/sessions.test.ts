import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAthError, type SessionAuth } from '../../signaling/protocol/index.js';
import { getAccount } from './accounts.js';
import { createSession, endSession, getSession, updateSessionState } from './sessions.js';
import { createStudio, mintPlayToken } from './studios.js';
import { describeLedger } from './testing/describeLedger.js';
import { fakeSignature, randomAddress, randomBytes32 } from './testing/fixtures.js';

function auth(overrides: Partial<SessionAuth> = {}): SessionAuth {
  return {
    sessionId: randomBytes32(),
    player: randomAddress(),
    provider: randomAddress(),
    maxAmount: 10n ** 19n,
    pricePerSecond: 123_456_789n,
    expiry: 1_900_000_000n,
    ...overrides,
  };
}

describeLedger('sessions', (ctx) => {
  test('createSession stores the SessionAuth exactly, creates the accounts with roles, and is idempotent', async () => {
    const a = auth({ maxAmount: (1n << 256n) - 1n });
    const signature = fakeSignature();
    const first = await createSession(ctx.ledger, {
      auth: a,
      authSignature: signature,
      hostId: 'host-a',
      game: 'supertux',
    });
    assert.equal(first.created, true);
    const s = first.session;
    assert.equal(s.sessionId, a.sessionId);
    assert.equal(s.payerAddress, a.player);
    assert.equal(s.providerAddress, a.provider);
    assert.equal(s.authMaxWei, a.maxAmount);
    assert.equal(s.priceWeiPerSec, a.pricePerSecond);
    assert.equal(s.authExpirySec, a.expiry);
    assert.equal(s.authSignature, signature);
    assert.equal(s.state, 'requested');
    assert.equal(s.cumulativeWei, 0n);
    assert.equal(s.settledWei, 0n);
    assert.equal(s.lastTickIndex, null);
    assert.deepEqual((await getAccount(ctx.ledger, a.player))?.roles, ['player']);
    assert.deepEqual((await getAccount(ctx.ledger, a.provider))?.roles, ['provider']);

    const again = await createSession(ctx.ledger, {
      auth: a,
      authSignature: signature,
      hostId: 'host-a',
      game: 'supertux',
    });
    assert.equal(again.created, false);
    assert.deepEqual(again.session, s);
    await assert.rejects(
      createSession(ctx.ledger, {
        auth: { ...a, maxAmount: 1n },
        authSignature: signature,
        hostId: 'host-a',
        game: 'supertux',
      }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_CONFLICT'),
    );
  });

  test('createSession rejects malformed input', async () => {
    const base = { authSignature: fakeSignature(), hostId: 'host-a', game: 'supertux' };
    for (const bad of [
      { ...base, auth: auth({ sessionId: '0x12' }) },
      { ...base, auth: auth({ pricePerSecond: -1n }) },
      { ...base, auth: auth({ expiry: 1n << 64n }) },
      { ...base, auth: auth(), hostId: 'Host A' },
      { ...base, auth: auth(), authSignature: '0x1234' as const },
    ]) {
      await assert.rejects(createSession(ctx.ledger, bad), (e) => isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'));
    }
  });

  test('a studio session must be paid by the studio wallet with its own play token for the same game', async () => {
    const owner = randomAddress();
    const { studio } = await createStudio(ctx.ledger, { ownerAddress: owner, name: 'Studio' });
    const { playToken } = await mintPlayToken(ctx.ledger, {
      studioId: studio.studioId,
      game: 'supertux',
      origin: 'https://studio.example',
      capWei: 10n ** 18n,
      ttlSec: 600,
    });
    const ok = await createSession(ctx.ledger, {
      auth: auth({ player: owner }),
      authSignature: fakeSignature(),
      hostId: 'host-a',
      game: 'supertux',
      studioId: studio.studioId,
      playTokenId: playToken.playTokenId,
    });
    assert.equal(ok.session.studioId, studio.studioId);
    assert.equal(ok.session.playTokenId, playToken.playTokenId);
    for (const wrong of [
      { player: randomAddress(), game: 'supertux' },
      { player: owner, game: 'other-game' },
    ]) {
      await assert.rejects(
        createSession(ctx.ledger, {
          auth: auth({ player: wrong.player }),
          authSignature: fakeSignature(),
          hostId: 'host-a',
          game: wrong.game,
          studioId: studio.studioId,
          playTokenId: playToken.playTokenId,
        }),
        (e) => isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
      );
    }
  });

  test('updateSessionState moves live states, stamps started_at once; endSession is final and idempotent', async () => {
    const a = auth();
    await createSession(ctx.ledger, { auth: a, authSignature: fakeSignature(), hostId: 'host-a', game: 'supertux' });
    const leased = await updateSessionState(ctx.ledger, { sessionId: a.sessionId, state: 'leased' });
    assert.equal(leased.startedAt, null);
    const streaming = await updateSessionState(ctx.ledger, { sessionId: a.sessionId, state: 'streaming' });
    assert.ok(streaming.startedAt instanceof Date);
    const reconnecting = await updateSessionState(ctx.ledger, { sessionId: a.sessionId, state: 'connecting' });
    assert.equal(reconnecting.startedAt?.getTime(), streaming.startedAt.getTime());

    const ended = await endSession(ctx.ledger, { sessionId: a.sessionId, reason: 'player-quit', message: 'bye' });
    assert.equal(ended.ended, true);
    assert.equal(ended.session.state, 'ended');
    assert.equal(ended.session.endReason, 'player-quit');
    assert.ok(ended.session.endedAt instanceof Date);
    const twice = await endSession(ctx.ledger, { sessionId: a.sessionId, reason: 'host-lost' });
    assert.equal(twice.ended, false);
    assert.equal(twice.session.endReason, 'player-quit');
    await assert.rejects(updateSessionState(ctx.ledger, { sessionId: a.sessionId, state: 'streaming' }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_BAD_TRANSITION'),
    );
    await assert.rejects(updateSessionState(ctx.ledger, { sessionId: randomBytes32(), state: 'streaming' }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_NOT_FOUND'),
    );
    assert.equal(await getSession(ctx.ledger, randomBytes32()), undefined);
  });
});
