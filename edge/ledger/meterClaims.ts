import type { Queryable } from './db/Db.js';
import { ledgerError } from './errors.js';
import type { Session } from './sessions.js';

/**
 * The claim a meter writes under: the signaling process that meters the session and the epoch it took it at
 * (null instance: a single process that names none). Every take-over bumps the epoch, so the claim of a process
 * that lost the session — cut off from Redis while another adopted it, stalled past its lease while a sweep
 * closed it — no longer matches, and its writes are refused (ATH_ERR_LEDGER_FENCED).
 */
export type MeterClaim = { instance: string | null; epoch: bigint };

/** The session's current claim. */
export function meterClaimOf(session: Session): MeterClaim {
  return { instance: session.signalingInstance, epoch: session.meterEpoch };
}

/** Whether two claims are the same (instance and epoch). */
export function sameMeterClaim(a: MeterClaim, b: MeterClaim): boolean {
  return a.instance === b.instance && a.epoch === b.epoch;
}

/** Throws ATH_ERR_LEDGER_FENCED unless `claim` is the one the session is `held` under. */
function assertHeld(sessionId: string, claim: MeterClaim, held: MeterClaim): void {
  if (sameMeterClaim(claim, held)) return;
  throw ledgerError('ATH_ERR_LEDGER_FENCED', 'another signaling process meters this session now', {
    details: `${sessionId}: written as ${claim.instance ?? '-'}@${claim.epoch}, held by ${held.instance ?? '-'}@${held.epoch}`,
  });
}

/** Internal: throws ATH_ERR_LEDGER_FENCED unless `claim` (when given) is the locked session's current one. */
export function assertMeterClaim(session: Session, claim: MeterClaim | undefined): void {
  if (claim !== undefined) assertHeld(session.sessionId, claim, meterClaimOf(session));
}

/**
 * Internal: locks the session row for the caller's transaction and checks `claim` on it (for writes that do not
 * read the whole session). ATH_ERR_LEDGER_NOT_FOUND when there is no such session.
 */
export async function lockMeterClaim(tx: Queryable, sessionId: string, claim: MeterClaim): Promise<void> {
  const { rows } = await tx.query(
    `select signaling_instance as "instance", meter_epoch::text as "epoch" from sessions where id = $1 for no key update`,
    [sessionId],
  );
  const row = rows[0] as { instance: string | null; epoch: string } | undefined;
  if (row === undefined) throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'no such session', { details: sessionId });
  assertHeld(sessionId, claim, { instance: row.instance, epoch: BigInt(row.epoch) });
}
