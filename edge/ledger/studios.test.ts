import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAthError } from '../../signaling/protocol/index.js';
import { getAccount } from './accounts.js';
import {
  createStudio,
  findPlayToken,
  findStudioByApiKey,
  getPlayToken,
  getStudio,
  mintPlayToken,
  rotateStudioApiKey,
  sessionIdTaken,
} from './studios.js';
import { describeLedger } from './testing/describeLedger.js';
import { randomAddress } from './testing/fixtures.js';

describeLedger('studios and play tokens', (ctx) => {
  test('createStudio returns the API key once and stores only its hash; the key finds the studio', async () => {
    const owner = randomAddress();
    const { studio, apiKey } = await createStudio(ctx.ledger, { ownerAddress: owner, name: 'Pixel Forge' });
    assert.match(apiKey, /^ath_sk_[A-Za-z0-9_-]{43}$/);
    assert.equal(studio.ownerAddress, owner);
    assert.deepEqual((await getAccount(ctx.ledger, owner))?.roles, ['studio']);
    assert.deepEqual(await findStudioByApiKey(ctx.ledger, apiKey), studio);
    assert.deepEqual(await getStudio(ctx.ledger, studio.studioId), studio);
    const { rows } = await ctx.ledger.query('select api_key_hash from studios where id = $1', [studio.studioId]);
    assert.notEqual((rows[0] as { api_key_hash: string }).api_key_hash, apiKey);
    assert.equal(JSON.stringify(rows).includes(apiKey), false);
    const tampered = apiKey.slice(0, -1) + (apiKey.endsWith('A') ? 'B' : 'A');
    assert.equal(await findStudioByApiKey(ctx.ledger, tampered), undefined);
    assert.equal(await findStudioByApiKey(ctx.ledger, 'garbage'), undefined);

    const rotated = await rotateStudioApiKey(ctx.ledger, { studioId: studio.studioId });
    assert.equal(await findStudioByApiKey(ctx.ledger, apiKey), undefined);
    assert.equal((await findStudioByApiKey(ctx.ledger, rotated))?.studioId, studio.studioId);
    await assert.rejects(rotateStudioApiKey(ctx.ledger, { studioId: 'st-0000000000000000' }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_NOT_FOUND'),
    );
  });

  test('mintPlayToken binds game, origin, cap and lifetime; the bearer token is stored hashed', async () => {
    const { studio } = await createStudio(ctx.ledger, { ownerAddress: randomAddress(), name: 'S' });
    const { playToken, token } = await mintPlayToken(ctx.ledger, {
      studioId: studio.studioId,
      game: 'supertux',
      origin: 'https://studio.example',
      capWei: 5n * 10n ** 18n,
      ttlSec: 300,
    });
    assert.match(token, /^ath_pt_/);
    assert.equal(playToken.capWei, 5n * 10n ** 18n);
    assert.equal(playToken.spentWei, 0n);
    assert.equal(playToken.expired, false);
    const lifetimeMs = playToken.expiresAt.getTime() - playToken.createdAt.getTime();
    assert.ok(Math.abs(lifetimeMs - 300_000) < 1000);
    assert.deepEqual(await findPlayToken(ctx.ledger, token), playToken);
    assert.equal(await findPlayToken(ctx.ledger, 'ath_pt_nope'), undefined);

    const { token: instant } = await mintPlayToken(ctx.ledger, {
      studioId: studio.studioId,
      game: 'supertux',
      origin: 'https://studio.example',
      capWei: 1n,
      ttlSec: 0,
    });
    assert.equal((await findPlayToken(ctx.ledger, instant))?.expired, true);
    await assert.rejects(
      mintPlayToken(ctx.ledger, {
        studioId: 'st-0000000000000000',
        game: 'supertux',
        origin: 'o',
        capWei: 1n,
        ttlSec: 1,
      }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_NOT_FOUND'),
    );
    await assert.rejects(
      mintPlayToken(ctx.ledger, { studioId: studio.studioId, game: 'Bad Game', origin: 'o', capWei: 1n, ttlSec: 1 }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
  });

  test('a token can carry the studio’s SessionAuth; its session id is then taken', async () => {
    const { studio } = await createStudio(ctx.ledger, { ownerAddress: randomAddress(), name: 'Signed' });
    const sessionId = `0x${'ab'.repeat(32)}`;
    assert.equal(await sessionIdTaken(ctx.ledger, sessionId), false);
    const provider = randomAddress();
    const { playToken } = await mintPlayToken(ctx.ledger, {
      studioId: studio.studioId,
      game: 'supertux',
      origin: 'https://studio.example',
      capWei: 10n ** 18n,
      ttlSec: 60,
      sessionAuth: {
        sessionId: sessionId.toUpperCase().replace('0X', '0x'),
        providerAddress: provider,
        priceWeiPerSec: 10n ** 15n,
        expirySec: 2_000_000_000n,
        signature: `0x${'11'.repeat(65)}`,
      },
    });
    assert.equal(playToken.sessionId, sessionId);
    assert.equal(playToken.providerAddress, provider.toLowerCase());
    assert.equal(playToken.priceWeiPerSec, 10n ** 15n);
    assert.equal(playToken.authExpirySec, 2_000_000_000n);
    assert.deepEqual(await getPlayToken(ctx.ledger, playToken.playTokenId), playToken);
    assert.equal(await sessionIdTaken(ctx.ledger, sessionId), true);
    // One session per token: the same session id cannot be bound twice.
    await assert.rejects(
      mintPlayToken(ctx.ledger, {
        studioId: studio.studioId,
        game: 'supertux',
        origin: 'https://studio.example',
        capWei: 1n,
        ttlSec: 60,
        sessionAuth: {
          sessionId,
          providerAddress: provider,
          priceWeiPerSec: 1n,
          expirySec: 2_000_000_000n,
          signature: `0x${'11'.repeat(65)}`,
        },
      }),
    );
  });
});
