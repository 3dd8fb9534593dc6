/**
 * Player session tokens: `base64url(payload).base64url(hmac-sha256(payload))`, issued by `POST /api/session`
 * and required at the WebSocket upgrade. Stateless, so any signaling process sharing the secret can verify.
 * Tokens are credentials: never log them (the pino redaction list covers the fields they travel in).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AthError } from '../protocol/index.js';

export type PlayerTokenClaims = {
  /** Stable player id for this token: sessions are owned by it (resume after reload checks it). */
  playerId: string;
  /** Unix seconds. */
  expiresAtSec: number;
};

export type IssuePlayerTokenParameters = { secret: Uint8Array; ttlSec: number; nowMs?: number; playerId?: string };
export type IssuePlayerTokenReturnType = { token: string; claims: PlayerTokenClaims };

function mac(secret: Uint8Array, payload: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest();
}

export function issuePlayerToken({
  secret,
  ttlSec,
  nowMs = Date.now(),
  playerId = `p-${randomBytes(12).toString('hex')}`,
}: IssuePlayerTokenParameters): IssuePlayerTokenReturnType {
  const claims: PlayerTokenClaims = { playerId, expiresAtSec: Math.floor(nowMs / 1000) + ttlSec };
  const payload = Buffer.from(JSON.stringify({ sub: claims.playerId, exp: claims.expiresAtSec })).toString('base64url');
  return { token: `${payload}.${mac(secret, payload).toString('base64url')}`, claims };
}

/** Returns the claims of a valid, unexpired token; throws `ATH_ERR_UNAUTHORIZED` / `ATH_ERR_TOKEN_EXPIRED`. */
export function verifyPlayerToken(secret: Uint8Array, token: string, nowMs = Date.now()): PlayerTokenClaims {
  const unauthorized = (details: string) =>
    new AthError({ code: 'ATH_ERR_UNAUTHORIZED', shortMessage: 'invalid player token', details });
  if (token.length > 512) throw unauthorized('too long');
  const [payload, signature, ...rest] = token.split('.');
  if (!payload || !signature || rest.length > 0) throw unauthorized('malformed');
  const expected = mac(secret, payload);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw unauthorized('bad signature');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch (cause) {
    throw new AthError({ code: 'ATH_ERR_UNAUTHORIZED', shortMessage: 'invalid player token', cause });
  }
  const { sub, exp } = (parsed ?? {}) as { sub?: unknown; exp?: unknown };
  if (typeof sub !== 'string' || !/^p-[0-9a-f]{24}$/.test(sub) || typeof exp !== 'number') {
    throw unauthorized('bad claims');
  }
  if (exp * 1000 <= nowMs) {
    throw new AthError({ code: 'ATH_ERR_TOKEN_EXPIRED', shortMessage: 'player token expired' });
  }
  return { playerId: sub, expiresAtSec: exp };
}
