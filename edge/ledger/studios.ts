import { createHash, randomBytes } from 'node:crypto';
import { type StaticDecode, Type } from '@sinclair/typebox';
import { ensureAccountRoles } from './accounts.js';
import type { Queryable } from './db/Db.js';
import { ledgerError } from './errors.js';
import {
  AddressColumn,
  Bytes32Column,
  decodeOne,
  decodeOptional,
  HexColumn,
  Nullable,
  Row,
  Uint64Column,
  WeiColumn,
} from './rows.js';
import {
  assertCount,
  assertText,
  assertUint64,
  assertWei,
  normalizeAddress,
  normalizeBytes32,
  normalizeSignature,
} from './values.js';

const StudioRow = Row({
  studioId: Type.String(),
  ownerAddress: AddressColumn,
  name: Type.String(),
  createdAt: Type.Date(),
  revokedAt: Nullable(Type.Date()),
});
/** A studio: its wallet pays for sessions played with its play tokens. The API key itself is never stored. */
export type Studio = StaticDecode<typeof StudioRow>;

const STUDIO_COLUMNS = `id as "studioId", owner_address as "ownerAddress", name, created_at as "createdAt",
  revoked_at as "revokedAt"`;

const PlayTokenRow = Row({
  playTokenId: Type.String(),
  studioId: Type.String(),
  game: Type.String(),
  origin: Type.String(),
  capWei: WeiColumn,
  spentWei: WeiColumn,
  expiresAt: Type.Date(),
  /** expiresAt ≤ the database's now() when read. */
  expired: Type.Boolean(),
  createdAt: Type.Date(),
  /** The studio's signed SessionAuth for the token's one session (null for tokens minted without one). */
  sessionId: Nullable(Bytes32Column),
  providerAddress: Nullable(AddressColumn),
  priceWeiPerSec: Nullable(WeiColumn),
  authExpirySec: Nullable(Uint64Column),
  authSignature: Nullable(HexColumn),
});
/** A short-lived play token: bound to a game and an origin, spending at most `capWei` of the studio's escrow. */
export type PlayToken = StaticDecode<typeof PlayTokenRow>;

const PLAY_TOKEN_COLUMNS = `id as "playTokenId", studio_id as "studioId", game, origin, cap_wei::text as "capWei",
  spent_wei::text as "spentWei", expires_at as "expiresAt", expires_at <= now() as expired, created_at as "createdAt",
  session_id as "sessionId", provider_address as "providerAddress", price_wei_per_sec::text as "priceWeiPerSec",
  auth_expiry_sec::text as "authExpirySec", auth_signature as "authSignature"`;

const API_KEY_PREFIX = 'ath_sk_';
const PLAY_TOKEN_PREFIX = 'ath_pt_';
const SECRET_PATTERN = /^ath_(sk|pt)_[A-Za-z0-9_-]{43}$/;

/** sha256 hex: API keys and play tokens are 256-bit random, so a fast hash is enough (no guessing to slow down). */
function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function newSecret(prefix: string): string {
  return prefix + randomBytes(32).toString('base64url');
}

export type CreateStudioParameters = { ownerAddress: string; name: string };
export type CreateStudioReturnType = { studio: Studio /** Shown once; only its hash is stored. */; apiKey: string };

export async function createStudio(
  db: Queryable,
  { ownerAddress, name }: CreateStudioParameters,
): Promise<CreateStudioReturnType> {
  const owner = normalizeAddress(ownerAddress, 'ownerAddress');
  assertText(name, 'name', 128);
  const apiKey = newSecret(API_KEY_PREFIX);
  const studioId = `st-${randomBytes(8).toString('hex')}`;
  return db.transaction(async (tx) => {
    await ensureAccountRoles(tx, [{ address: owner, role: 'studio' }]);
    const { rows } = await tx.query(
      `insert into studios (id, owner_address, name, api_key_hash) values ($1, $2, $3, $4) returning ${STUDIO_COLUMNS}`,
      [studioId, owner, name, hashSecret(apiKey)],
    );
    return { studio: decodeOne(StudioRow, rows), apiKey };
  });
}

/** The studio an API key belongs to, unless revoked; undefined for an unknown or malformed key. */
export async function findStudioByApiKey(db: Queryable, apiKey: string): Promise<Studio | undefined> {
  if (typeof apiKey !== 'string' || !SECRET_PATTERN.test(apiKey) || !apiKey.startsWith(API_KEY_PREFIX))
    return undefined;
  const { rows } = await db.query(
    `select ${STUDIO_COLUMNS} from studios where api_key_hash = $1 and revoked_at is null`,
    [hashSecret(apiKey)],
  );
  return decodeOptional(StudioRow, rows);
}

export async function getStudio(db: Queryable, studioId: string): Promise<Studio | undefined> {
  const { rows } = await db.query(`select ${STUDIO_COLUMNS} from studios where id = $1`, [studioId]);
  return decodeOptional(StudioRow, rows);
}

export type RotateStudioApiKeyParameters = { studioId: string };

/** Replaces the studio's API key (the old one stops working at once) and returns the new one. */
export async function rotateStudioApiKey(db: Queryable, { studioId }: RotateStudioApiKeyParameters): Promise<string> {
  const apiKey = newSecret(API_KEY_PREFIX);
  const { rowCount } = await db.query(`update studios set api_key_hash = $2 where id = $1 and revoked_at is null`, [
    studioId,
    hashSecret(apiKey),
  ]);
  if (rowCount !== 1) throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'no such active studio', { details: studioId });
  return apiKey;
}

export type MintPlayTokenParameters = {
  studioId: string;
  game: string;
  /** The page origin allowed to use it, e.g. `https://studio.example`. */
  origin: string;
  capWei: bigint;
  /** Lifetime; at most a day. */
  ttlSec: number;
  /**
   * The studio's SessionAuth for the token's session (its maxAmount is `capWei`, its player the studio's
   * wallet): checked by the caller (edge/economy), stored here so the settler can redeem with it.
   */
  sessionAuth?: {
    sessionId: string;
    providerAddress: string;
    priceWeiPerSec: bigint;
    expirySec: bigint;
    signature: string;
  };
};

export type MintPlayTokenReturnType = {
  playToken: PlayToken /** The bearer token; only its hash is stored. */;
  token: string;
};

export async function mintPlayToken(
  db: Queryable,
  parameters: MintPlayTokenParameters,
): Promise<MintPlayTokenReturnType> {
  const game = assertText(parameters.game, 'game', 63, /^[a-z0-9][a-z0-9-]{0,62}$/);
  const origin = assertText(parameters.origin, 'origin', 512);
  const capWei = assertWei(parameters.capWei, 'capWei');
  const ttlSec = assertCount(parameters.ttlSec, 'ttlSec', 86_400);
  const auth = parameters.sessionAuth;
  const authValues = auth
    ? [
        normalizeBytes32(auth.sessionId, 'sessionId'),
        normalizeAddress(auth.providerAddress, 'providerAddress'),
        assertWei(auth.priceWeiPerSec, 'priceWeiPerSec'),
        assertUint64(auth.expirySec, 'expirySec'),
        normalizeSignature(auth.signature, 'signature'),
      ]
    : [null, null, null, null, null];
  const token = newSecret(PLAY_TOKEN_PREFIX);
  const playTokenId = `pt-${randomBytes(8).toString('hex')}`;
  const { rows } = await db.query(
    `insert into play_tokens (id, token_hash, studio_id, game, origin, cap_wei, expires_at,
       session_id, provider_address, price_wei_per_sec, auth_expiry_sec, auth_signature)
     select $1, $2, st.id, $4, $5, $6, now() + make_interval(secs => $7), $8, $9, $10, $11, $12
       from studios st where st.id = $3 and st.revoked_at is null
     returning ${PLAY_TOKEN_COLUMNS}`,
    [playTokenId, hashSecret(token), parameters.studioId, game, origin, capWei, ttlSec, ...authValues],
  );
  const playToken = decodeOptional(PlayTokenRow, rows);
  if (playToken === undefined) {
    throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'no such active studio', { details: parameters.studioId });
  }
  return { playToken, token };
}

/** The play token for a bearer token (expired ones too: check `expired`); undefined when unknown. */
export async function findPlayToken(db: Queryable, token: string): Promise<PlayToken | undefined> {
  if (typeof token !== 'string' || !SECRET_PATTERN.test(token) || !token.startsWith(PLAY_TOKEN_PREFIX))
    return undefined;
  const { rows } = await db.query(`select ${PLAY_TOKEN_COLUMNS} from play_tokens where token_hash = $1`, [
    hashSecret(token),
  ]);
  return decodeOptional(PlayTokenRow, rows);
}

/** A play token by its id (the hub knows the id, never the bearer token, after admission). */
export async function getPlayToken(db: Queryable, playTokenId: string): Promise<PlayToken | undefined> {
  const { rows } = await db.query(`select ${PLAY_TOKEN_COLUMNS} from play_tokens where id = $1`, [playTokenId]);
  return decodeOptional(PlayTokenRow, rows);
}

/** Whether a session id is already taken (by a session or by another token): a studio must sign a fresh one. */
export async function sessionIdTaken(db: Queryable, sessionId: string): Promise<boolean> {
  const id = normalizeBytes32(sessionId, 'sessionId');
  const { rows } = await db.query(
    `select 1 from sessions where id = $1 union all select 1 from play_tokens where session_id = $1 limit 1`,
    [id],
  );
  return rows.length > 0;
}
