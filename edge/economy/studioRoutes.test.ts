/**
 * Studios on real parts: signaling with the real payment desk, an in-memory PGlite ledger, anvil with the
 * contracts, real wallet signatures (EIP-191 registration, EIP-712 SessionAuth), scripted host and players
 * over WebSocket with real Origin headers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { Account, Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { issuePlayerToken } from '../../signaling/auth/playerTokens.js';
import { PROTOCOL_VERSION, sessionAuthTypes, weiToString } from '../../signaling/protocol/index.js';
import { connectTestHost, startTestSignaling, type TestSignaling } from '../../signaling/testing/startTestSignaling.js';
import { TestPeer } from '../../signaling/testing/TestPeer.js';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import { findPlayToken, findStudioByApiKey, getSession, type Ledger, openLedger } from '../ledger/index.js';
import { studioRegistrationMessage, studioRoutes } from './studioRoutes.js';
import { paymentDeskOnTestChain } from './testing/paymentDeskOnTestChain.js';

const PRICE = 10n ** 15n;
const STUDIO_ORIGIN = 'https://studio.example';
const GAME = 'studio-game';
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const secret = randomBytes(32);

let chain: TestChain;
let ledger: Ledger;
let server: TestSignaling;
let studioWallet: Account & { privateKey: Hex };
let apiKey: string;
const peers: TestPeer[] = [];

/** A stand-in for the built client: only the embed template matters here. */
const clientDir = mkdtempSync(join(tmpdir(), 'ath-studio-client-'));
writeFileSync(join(clientDir, 'embed.html'), '<meta name="ath-allowed-origin" content="%ATH_ALLOWED_ORIGIN%">');

before(async () => {
  chain = await startTestChain({ withdrawDelaySec: 0n });
  ledger = await openLedger({});
  const payments = paymentDeskOnTestChain({ chain, ledger, log });
  server = await startTestSignaling({
    chain,
    tokenSecret: secret,
    heartbeatIntervalMs: 600_000,
    payments,
    routes: [
      studioRoutes({
        ledger,
        payments,
        chainId: chain.anvil.chainId,
        escrowAddress: chain.escrowAddress,
        publicClient: chain.publicClient,
        hosts: () => server?.hub.hosts,
        clientDir,
      }),
    ],
  });
  peers.push(
    await connectTestHost(server, {
      hostId: 'studio-host',
      slots: 2,
      priceWeiPerSec: weiToString(PRICE),
      games: [
        {
          id: GAME,
          title: 'Studio test',
          description: 'test game',
          width: 1280,
          height: 720,
          fps: 60,
          inputMode: 'absolute',
          audio: false,
        },
      ],
    }),
  );
  // The studio's wallet, with 100 ATH of escrow.
  studioWallet = await chain.newDepositedAccount(100n * 10n ** 18n);
});

after(async () => {
  for (const peer of peers) peer.terminate();
  await server?.close();
  await ledger?.close();
  await chain?.close();
});

async function api(
  path: string,
  body: unknown,
  key?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${server.httpUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function registration(account: Account, name: string, issuedAtSec = Math.floor(Date.now() / 1000)) {
  const address = account.address;
  const signature = await chain.walletFor(account).signMessage({
    message: studioRegistrationMessage({ address, name, issuedAtSec }),
  });
  return { address, name, issuedAtSec, signature };
}

/** Terms → studio signature → token, as a studio backend does it. */
async function mint({
  capWei = PRICE * 600n,
  ttlSec = 600,
  origin = STUDIO_ORIGIN,
  signer = studioWallet,
  /** Changes the terms before they are signed (a hostile studio backend). */
  terms: change = (m: Record<string, string>) => m,
  /** Changes the signature after signing. */
  signature: tamper = (sig: Hex) => sig,
}: {
  capWei?: bigint;
  ttlSec?: number;
  origin?: string;
  signer?: Account;
  terms?: (m: Record<string, string>) => Record<string, string>;
  signature?: (sig: Hex) => Hex;
} = {}) {
  const terms = await api('/api/play-tokens/terms', { game: GAME, capWei: weiToString(capWei), ttlSec }, apiKey);
  assert.equal(terms.status, 200, JSON.stringify(terms.json));
  const typed = terms.json['typedData'] as { domain: never; message: Record<string, string> };
  const m = change(typed.message);
  const signature = await chain.walletFor(signer).signTypedData({
    domain: typed.domain,
    types: sessionAuthTypes,
    primaryType: 'SessionAuth',
    message: {
      sessionId: m['sessionId'] as Hex,
      player: m['player'] as Hex,
      provider: m['provider'] as Hex,
      maxAmount: BigInt(m['maxAmount'] ?? ''),
      pricePerSecond: BigInt(m['pricePerSecond'] ?? ''),
      expiry: BigInt(m['expiry'] ?? ''),
    },
  });
  return api(
    '/api/play-tokens',
    { game: GAME, origin, capWei: weiToString(capWei), ttlSec, auth: m, signature: tamper(signature) },
    apiKey,
  );
}

async function player(origin: string | undefined): Promise<TestPeer> {
  const peer = await TestPeer.open(server.wsPlayerUrl, {
    token: issuePlayerToken({ secret, ttlSec: 600 }).token,
    ...(origin ? { origin } : {}),
  });
  peers.push(peer);
  peer.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' });
  await peer.next('welcome');
  return peer;
}

describe('studios', () => {
  test('POST /api/studios: a wallet signature registers a studio; the key is shown once and stored hashed', async () => {
    const body = await registration(studioWallet, 'Pixel Forge');
    const created = await api('/api/studios', body);
    assert.equal(created.status, 201, JSON.stringify(created.json));
    apiKey = String(created.json['apiKey']);
    assert.match(apiKey, /^ath_sk_/);
    assert.equal(created.json['ownerAddress'], studioWallet.address.toLowerCase());
    assert.equal((await findStudioByApiKey(ledger, apiKey))?.studioId, created.json['studioId']);
    const { rows } = await ledger.query('select api_key_hash from studios');
    assert.equal(JSON.stringify(rows).includes(apiKey), false);

    const replay = await api('/api/studios', body);
    assert.equal(replay.status, 409);
    assert.equal(replay.json['code'], 'ATH_ERR_REPLAY');
  });

  test('POST /api/studios refuses stale timestamps, another wallet’s signature and malformed bodies', async () => {
    const stale = await api(
      '/api/studios',
      await registration(studioWallet, 'Old', Math.floor(Date.now() / 1000) - 3600),
    );
    assert.equal(stale.json['code'], 'ATH_ERR_TOKEN_EXPIRED');
    const other = privateKeyToAccount(generatePrivateKey());
    const forged = { ...(await registration(other, 'Forged')), address: studioWallet.address };
    const refused = await api('/api/studios', forged);
    assert.equal(refused.status, 401);
    assert.equal(refused.json['code'], 'ATH_ERR_BAD_SIGNATURE');
    const malformed = await api('/api/studios', { address: 'nope', name: '', issuedAtSec: -1, signature: '0x' });
    assert.equal(malformed.status, 400);
  });

  test('POST /api/play-tokens needs the key and the studio wallet’s SessionAuth signature', async () => {
    const noKey = await api('/api/play-tokens/terms', { game: GAME, capWei: '1', ttlSec: 60 });
    assert.equal(noKey.status, 400); // the authorization header is required by the schema
    const badKey = await api(
      '/api/play-tokens/terms',
      { game: GAME, capWei: '1', ttlSec: 60 },
      `ath_sk_${'A'.repeat(43)}`,
    );
    assert.equal(badKey.status, 401);
    const forged = await mint({ signer: await chain.newFundedAccount(0n) });
    assert.equal(forged.status, 401);
    assert.equal(forged.json['code'], 'ATH_ERR_BAD_SIGNATURE');
    const badOrigin = await mint({ origin: 'studio.example/path' });
    assert.equal(badOrigin.status, 400);

    const minted = await mint();
    assert.equal(minted.status, 201, JSON.stringify(minted.json));
    const token = String(minted.json['token']);
    const stored = await findPlayToken(ledger, token);
    assert.equal(stored?.origin, STUDIO_ORIGIN);
    assert.equal(stored?.capWei, PRICE * 600n);
    assert.equal(stored?.sessionId, minted.json['sessionId']);
  });

  test('a studio authorization the escrow would not honour is refused at mint (v 0/1, expiry beyond 2^32 or too soon)', async () => {
    const lowV = await mint({
      signature: (sig) =>
        `${sig.slice(0, -2)}${(Number.parseInt(sig.slice(-2), 16) - 27).toString(16).padStart(2, '0')}` as Hex,
    });
    assert.equal(lowV.json['code'], 'ATH_ERR_BAD_SIGNATURE', JSON.stringify(lowV.json));
    const far = await mint({ terms: (m) => ({ ...m, expiry: String(2n ** 32n + 10n) }) });
    assert.equal(far.json['code'], 'ATH_ERR_BAD_MESSAGE', JSON.stringify(far.json));
    // A token usable for 10 minutes whose authorization expires in 5: the chain would refuse its charges.
    const soon = await mint({ terms: (m) => ({ ...m, expiry: String(Math.floor(Date.now() / 1000) + 301) }) });
    assert.equal(soon.json['code'], 'ATH_ERR_BAD_MESSAGE', JSON.stringify(soon.json));
    assert.equal((await mint()).status, 201, 'the terms as given are honoured');
  });

  test('GET /embed/:game may be framed by the token’s origin only, and names it as the events’ target', async () => {
    const { token } = (await mint()).json;
    const framed = await fetch(`${server.httpUrl}/embed/${GAME}?token=${String(token)}`);
    assert.equal(framed.status, 200);
    assert.equal(framed.headers.get('content-security-policy'), `frame-ancestors ${STUDIO_ORIGIN}`);
    assert.match(await framed.text(), new RegExp(`content="${STUDIO_ORIGIN}"`));
    const unknown = await fetch(`${server.httpUrl}/embed/${GAME}?token=ath_pt_${'C'.repeat(43)}`);
    assert.equal(unknown.headers.get('content-security-policy'), "frame-ancestors 'none'");
    assert.match(await unknown.text(), /content=""/);
  });

  test('a token from another origin, an expired token and a spent cap are refused at Play with typed errors', async () => {
    const wrongOrigin = await player('https://evil.example');
    const token = String((await mint()).json['token']);
    wrongOrigin.send({ type: 'play', game: GAME, codecs: ['H264'], playToken: token });
    const originError = await wrongOrigin.next('error');
    assert.equal(originError.code, 'ATH_ERR_ORIGIN_NOT_ALLOWED');
    assert.match(originError.message, /studio\.example/);

    const expired = (await mint()).json;
    await ledger.query(`update play_tokens set expires_at = now() - interval '1 second' where id = $1`, [
      String(expired['playTokenId']),
    ]);
    const late = await player(STUDIO_ORIGIN);
    late.send({ type: 'play', game: GAME, codecs: ['H264'], playToken: String(expired['token']) });
    assert.equal((await late.next('error')).code, 'ATH_ERR_TOKEN_EXPIRED');

    const spent = (await mint()).json;
    await ledger.query('update play_tokens set spent_wei = cap_wei where id = $1', [String(spent['playTokenId'])]);
    const broke = await player(STUDIO_ORIGIN);
    broke.send({ type: 'play', game: GAME, codecs: ['H264'], playToken: String(spent['token']) });
    assert.equal((await broke.next('error')).code, 'ATH_ERR_CAP_EXHAUSTED');

    const unknown = await player(STUDIO_ORIGIN);
    unknown.send({ type: 'play', game: GAME, codecs: ['H264'], playToken: `ath_pt_${'B'.repeat(43)}` });
    assert.equal((await unknown.next('error')).code, 'ATH_ERR_UNAUTHORIZED');
  });

  test('a valid token plays on the studio’s signed terms, bills the studio, and its cap ends the session', async () => {
    const minted = (await mint()).json;
    const token = String(minted['token']);
    const peer = await player(STUDIO_ORIGIN);
    peer.send({ type: 'play', game: GAME, codecs: ['H264'], playToken: token });
    const assigned = await peer.next('session');
    assert.equal(assigned.sessionId, minted['sessionId']);
    assert.equal(assigned.payment, undefined, 'the player is not asked to sign');
    const paid = await peer.next('payment-accepted');
    assert.equal(paid.payerAddress, studioWallet.address.toLowerCase());
    const row = await getSession(ledger, String(minted['sessionId']));
    assert.equal(row?.playTokenId, minted['playTokenId']);
    assert.equal(row?.authMaxWei, PRICE * 600n);

    // The meter ends a studio session whose cap is spent with 'insufficient-funds': the page learns why.
    server.hub.endSession(String(minted['sessionId']), 'insufficient-funds', 'The spending cap is used up.');
    const capError = await peer.next('error');
    assert.equal(capError.code, 'ATH_ERR_CAP_EXHAUSTED');
    assert.equal((await peer.next('session-ended')).reason, 'insufficient-funds');

    // The token's one session is over: using it again is refused.
    const again = await player(STUDIO_ORIGIN);
    again.send({ type: 'play', game: GAME, codecs: ['H264'], playToken: token });
    const refusal = await again.next('error');
    assert.ok(['ATH_ERR_TOKEN_EXPIRED', 'ATH_ERR_CAP_EXHAUSTED'].includes(refusal.code), refusal.code);
  });
});
