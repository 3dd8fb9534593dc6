/**
 * Short-lived TURN credentials in coturn's REST-API form (`use-auth-secret` + `static-auth-secret`, the
 * "TURN REST API" draft): the username is `expiry:sessionId` (unix seconds), the password is
 * base64(HMAC-SHA1(secret, username)). coturn recomputes the HMAC from the username it is given and refuses
 * the allocation (401) once the expiry has passed — so a credential works for its own username only (another
 * session's id or a later expiry changes the HMAC), and only until it expires. Signaling and coturn share
 * the secret; nothing else ever sees it.
 */
import { createHmac } from 'node:crypto';

export type TurnCredentials = { username: string; credential: string; expiresAtSec: number };

export type IssueTurnCredentialsParameters = {
  /** coturn's `static-auth-secret`. */
  secret: string;
  /** Bound into the username: a session's credentials name that session (and show in coturn's logs). */
  sessionId: string;
  /** How long they stay valid: a session's cap plus a margin, so that coturn's allocation refreshes keep working. */
  ttlSec: number;
  nowSec?: number;
};

export function turnCredential(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

export function issueTurnCredentials({
  secret,
  sessionId,
  ttlSec,
  nowSec = Math.floor(Date.now() / 1000),
}: IssueTurnCredentialsParameters): TurnCredentials {
  const expiresAtSec = nowSec + ttlSec;
  const username = `${expiresAtSec}:${sessionId}`;
  return { username, credential: turnCredential(secret, username), expiresAtSec };
}
