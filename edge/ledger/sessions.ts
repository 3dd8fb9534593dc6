import { type StaticDecode, Type } from '@sinclair/typebox';
import type { Hex } from 'viem';
import {
  EndReason,
  type EndReasonName,
  type SessionAuth,
  SessionState,
  type SessionStateName,
} from '../../signaling/protocol/index.js';
import { ensureAccountRoles } from './accounts.js';
import type { Queryable } from './db/Db.js';
import { ledgerError } from './errors.js';
import { assertMeterClaim, type MeterClaim } from './meterClaims.js';
import { enqueueFinalSettlement } from './outbox.js';
import {
  AddressColumn,
  Bytes32Column,
  decodeOne,
  decodeOptional,
  decodeRows,
  HexColumn,
  Nullable,
  Row,
  SafeIntColumn,
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

const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const SessionRow = Row({
  sessionId: Bytes32Column,
  payerAddress: AddressColumn,
  providerAddress: AddressColumn,
  hostId: Type.String(),
  game: Type.String(),
  studioId: Nullable(Type.String()),
  playTokenId: Nullable(Type.String()),
  priceWeiPerSec: WeiColumn,
  authMaxWei: WeiColumn,
  authExpirySec: Uint64Column,
  authSignature: HexColumn,
  state: SessionState,
  endReason: Nullable(EndReason),
  endMessage: Nullable(Type.String()),
  lastTickIndex: Nullable(Type.Integer({ minimum: 0 })),
  deliveredSec: SafeIntColumn,
  cumulativeWei: WeiColumn,
  settledWei: WeiColumn,
  createdAt: Type.Date(),
  startedAt: Nullable(Type.Date()),
  endedAt: Nullable(Type.Date()),
  /** When the chain closed the session (its final voucher or its expiry released the reserve). */
  chainClosedAt: Nullable(Type.Date()),
  /** The signaling process that meters it. */
  signalingInstance: Nullable(Type.String()),
  /** Grows at every take-over of the metering: with `signalingInstance`, the meter's claim (`MeterClaim`). */
  meterEpoch: Uint64Column,
  /** The meter's clock (ms) at the end of the last recorded tick: a process taking over bills from there. */
  meteredUntilMs: Nullable(SafeIntColumn),
});
/** A session as the ledger holds it: the signed SessionAuth and the running totals (cumulative, settled). */
export type Session = StaticDecode<typeof SessionRow>;

/** The select list for `SessionRow`, for a table aliased `s`. */
export const SESSION_COLUMNS = `s.id as "sessionId", s.payer_address as "payerAddress",
  s.provider_address as "providerAddress", s.host_id as "hostId", s.game, s.studio_id as "studioId",
  s.play_token_id as "playTokenId", s.price_wei_per_sec::text as "priceWeiPerSec",
  s.auth_max_wei::text as "authMaxWei", s.auth_expiry_sec::text as "authExpirySec",
  s.auth_signature as "authSignature", s.state, s.end_reason as "endReason", s.end_message as "endMessage",
  s.last_tick_index as "lastTickIndex", s.delivered_sec as "deliveredSec", s.cumulative_wei::text as "cumulativeWei",
  s.settled_wei::text as "settledWei", s.created_at as "createdAt", s.started_at as "startedAt",
  s.ended_at as "endedAt", s.chain_closed_at as "chainClosedAt", s.signaling_instance as "signalingInstance",
  s.meter_epoch::text as "meterEpoch", s.metered_until_ms::text as "meteredUntilMs"`;

export type CreateSessionParameters = {
  /** The authorization the payer signed; `auth.player` pays (a player, or a studio for play-token sessions). */
  auth: SessionAuth;
  authSignature: Hex;
  hostId: string;
  game: string;
  /** Bills to this studio; `auth.player` must be its wallet. */
  studioId?: string;
  /** The studio play token the session was started with; ticks count against its cap. */
  playTokenId?: string;
  /** Default 'requested'. */
  state?: Exclude<SessionStateName, 'ended'>;
  /** The signaling process that meters it (see `listOrphanedSessions`). */
  signalingInstance?: string;
};

export type CreateSessionReturnType = { session: Session; created: boolean };

/**
 * Records a new session with its SessionAuth. Idempotent: the same session again returns the stored row;
 * the same id with a different authorization is ATH_ERR_LEDGER_CONFLICT.
 */
export async function createSession(
  db: Queryable,
  parameters: CreateSessionParameters,
): Promise<CreateSessionReturnType> {
  const { auth } = parameters;
  const sessionId = normalizeBytes32(auth.sessionId, 'auth.sessionId');
  const payer = normalizeAddress(auth.player, 'auth.player');
  const provider = normalizeAddress(auth.provider, 'auth.provider');
  const priceWeiPerSec = assertWei(auth.pricePerSecond, 'auth.pricePerSecond');
  const maxWei = assertWei(auth.maxAmount, 'auth.maxAmount');
  const expirySec = assertUint64(auth.expiry, 'auth.expiry');
  const signature = normalizeSignature(parameters.authSignature, 'authSignature');
  const hostId = assertText(parameters.hostId, 'hostId', 63, SLUG);
  const game = assertText(parameters.game, 'game', 63, SLUG);
  const state = parameters.state ?? 'requested';
  if (state === ('ended' as string) || !['requested', 'queued', 'leased', 'connecting', 'streaming'].includes(state)) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'a new session cannot start in this state', { details: state });
  }
  const studioId = parameters.studioId ?? null;
  const playTokenId = parameters.playTokenId ?? null;
  const instance =
    parameters.signalingInstance === undefined
      ? null
      : assertText(parameters.signalingInstance, 'signalingInstance', 128);
  if (playTokenId !== null && studioId === null) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'a play-token session needs its studio id');
  }

  return db.transaction(async (tx) => {
    if (studioId !== null) {
      const { rows } = await tx.query(
        `select 1 from studios st
          where st.id = $1 and st.owner_address = $2
            and ($3::text is null or exists (select 1 from play_tokens pt where pt.id = $3 and pt.studio_id = st.id and pt.game = $4))`,
        [studioId, payer, playTokenId, game],
      );
      if (rows.length === 0) {
        throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'studio, payer wallet and play token do not match', {
          details: `${studioId} ${playTokenId ?? ''}`,
        });
      }
    }
    await ensureAccountRoles(tx, [
      { address: payer, role: studioId === null ? 'player' : 'studio' },
      { address: provider, role: 'provider' },
    ]);
    const inserted = await tx.query(
      `insert into sessions as s (id, payer_address, provider_address, host_id, game, studio_id, play_token_id,
         price_wei_per_sec, auth_max_wei, auth_expiry_sec, auth_signature, state, started_at, signaling_instance)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, case when $12 = 'streaming' then now() end, $13)
       on conflict (id) do nothing
       returning ${SESSION_COLUMNS}`,
      [
        sessionId,
        payer,
        provider,
        hostId,
        game,
        studioId,
        playTokenId,
        priceWeiPerSec,
        maxWei,
        expirySec,
        signature,
        state,
        instance,
      ],
    );
    if (inserted.rows.length === 1) return { session: decodeOne(SessionRow, inserted.rows), created: true };
    const existing = await getSession(tx, sessionId);
    if (existing === undefined)
      throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'session vanished', { details: sessionId });
    const same =
      existing.payerAddress === payer &&
      existing.providerAddress === provider &&
      existing.priceWeiPerSec === priceWeiPerSec &&
      existing.authMaxWei === maxWei &&
      existing.authExpirySec === expirySec &&
      existing.authSignature === signature &&
      existing.hostId === hostId &&
      existing.game === game &&
      existing.studioId === studioId &&
      existing.playTokenId === playTokenId;
    if (!same) {
      throw ledgerError('ATH_ERR_LEDGER_CONFLICT', 'a different session with this id exists', { details: sessionId });
    }
    return { session: existing, created: false };
  });
}

/** The SessionAuth the payer signed for a session, as the escrow takes it. */
export function sessionAuthOf(session: Session): SessionAuth {
  return {
    sessionId: session.sessionId,
    player: session.payerAddress,
    provider: session.providerAddress,
    maxAmount: session.authMaxWei,
    pricePerSecond: session.priceWeiPerSec,
    expiry: session.authExpirySec,
  };
}

export async function getSession(db: Queryable, sessionId: string): Promise<Session | undefined> {
  const id = normalizeBytes32(sessionId, 'sessionId');
  const { rows } = await db.query(`select ${SESSION_COLUMNS} from sessions s where s.id = $1`, [id]);
  return decodeOptional(SessionRow, rows);
}

/** Internal: the session row locked for this transaction (FOR NO KEY UPDATE), or ATH_ERR_LEDGER_NOT_FOUND. */
export async function lockSession(db: Queryable, sessionId: Hex): Promise<Session> {
  const { rows } = await db.query(`select ${SESSION_COLUMNS} from sessions s where s.id = $1 for no key update`, [
    sessionId,
  ]);
  const session = decodeOptional(SessionRow, rows);
  if (session === undefined) throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'no such session', { details: sessionId });
  return session;
}

export type UpdateSessionStateParameters = { sessionId: Hex; state: Exclude<SessionStateName, 'ended'> };

/** Moves a live session to another live state (`endSession` ends it). `started_at` is set on first streaming. */
export async function updateSessionState(
  db: Queryable,
  { sessionId, state }: UpdateSessionStateParameters,
): Promise<Session> {
  const id = normalizeBytes32(sessionId, 'sessionId');
  if (!['requested', 'queued', 'leased', 'connecting', 'streaming'].includes(state)) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_TRANSITION', 'use endSession to end a session', { details: state });
  }
  return db.transaction(async (tx) => {
    const current = await lockSession(tx, id);
    if (current.state === 'ended') {
      throw ledgerError('ATH_ERR_LEDGER_BAD_TRANSITION', 'the session has ended', { details: `${id} → ${state}` });
    }
    const { rows } = await tx.query(
      `update sessions s set state = $2,
              started_at = case when $2 = 'streaming' then coalesce(s.started_at, now()) else s.started_at end
        where s.id = $1 returning ${SESSION_COLUMNS}`,
      [id, state],
    );
    return decodeOne(SessionRow, rows);
  });
}

export type ListOrphanedSessionsParameters = {
  /** The calling process: its own sessions are never orphans. */
  instance: string;
  /** Default 1000. */
  limit?: number;
};

/**
 * Live sessions whose signaling process is gone: it no longer holds its lease `signaling:<instance>` (or the
 * session names none — written by an older ath-edge). The caller ends them (`endSession` queues their final
 * voucher), so their charges are settled and the rest of their reserve released.
 */
export async function listOrphanedSessions(
  db: Queryable,
  { instance, limit = 1000 }: ListOrphanedSessionsParameters,
): Promise<Session[]> {
  assertText(instance, 'instance', 128);
  const { rows } = await db.query(
    `select ${SESSION_COLUMNS} from sessions s
      where s.state <> 'ended' and s.signaling_instance is distinct from $1
        and not exists (select 1 from ledger_leases l
                         where l.name = 'signaling:' || s.signaling_instance and l.expires_at > now())
      order by s.created_at limit $2`,
    [instance, limit],
  );
  return decodeRows(SessionRow, rows);
}

export type ListInstanceSessionsParameters = { instance: string; limit?: number };

/**
 * The live sessions `instance` itself recorded: those it no longer runs (a ledger write refused when one ended)
 * are its own leftovers, which its caller ends like orphans.
 */
export async function listInstanceSessions(
  db: Queryable,
  { instance, limit = 1000 }: ListInstanceSessionsParameters,
): Promise<Session[]> {
  const { rows } = await db.query(
    `select ${SESSION_COLUMNS} from sessions s where s.state <> 'ended' and s.signaling_instance = $1
      order by s.created_at limit $2`,
    [assertText(instance, 'instance', 128), limit],
  );
  return decodeRows(SessionRow, rows);
}

export type ClaimSessionInstanceParameters = {
  sessionId: Hex;
  /** The process that meters the session from now on (null: a single process that names none). */
  signalingInstance: string | null;
  /**
   * Only if the session is still claimed by this process (string), or by none (null): an orphan sweep takes only
   * the session it found orphaned. Default: whoever holds it.
   */
  from?: string | null;
  /** Only if the current holder's lease `signaling:<from>` has lapsed (an orphan sweep). Default false. */
  whenLeaseLapsed?: boolean;
};

/**
 * A process takes the live session's metering over (failover adoption, an orphan sweep): the epoch grows, so
 * the previous claim's writes are refused from now on. Returns the session under its new claim (`meterClaimOf`),
 * with the last recorded tick and `meteredUntilMs` it bills on from — final, since nothing can be written under
 * the old claim any more; undefined when the session has ended or the conditions no longer hold.
 */
export async function claimSessionInstance(
  db: Queryable,
  { sessionId, signalingInstance, from, whenLeaseLapsed = false }: ClaimSessionInstanceParameters,
): Promise<Session | undefined> {
  const { rows } = await db.query(
    `update sessions s set signaling_instance = $2, meter_epoch = s.meter_epoch + 1
      where s.id = $1 and s.state <> 'ended'
        and (not $3::boolean or s.signaling_instance is not distinct from $4::text)
        and (not $5::boolean or not exists (select 1 from ledger_leases l
                                            where l.name = 'signaling:' || s.signaling_instance and l.expires_at > now()))
      returning ${SESSION_COLUMNS}`,
    [
      normalizeBytes32(sessionId, 'sessionId'),
      signalingInstance === null ? null : assertText(signalingInstance, 'signalingInstance', 128),
      from !== undefined,
      from === undefined || from === null ? null : assertText(from, 'from', 128),
      whenLeaseLapsed,
    ],
  );
  return decodeOptional(SessionRow, rows);
}

export type EndSessionParameters = {
  sessionId: Hex;
  reason: EndReasonName;
  message?: string;
  /** The meter's claim: a process that lost the session cannot end it (ATH_ERR_LEDGER_FENCED). */
  claim?: MeterClaim;
};
export type EndSessionReturnType = { session: Session; ended: boolean };

/**
 * Ends a session, and queues its final voucher for settlement in the same transaction (its redeem closes the
 * session on chain and releases the rest of its reserve). Idempotent: ending an ended session keeps its first
 * reason and returns `ended: false`.
 */
export async function endSession(
  db: Queryable,
  { sessionId, reason, message, claim }: EndSessionParameters,
): Promise<EndSessionReturnType> {
  const id = normalizeBytes32(sessionId, 'sessionId');
  if (message !== undefined && message.length > 512) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'end message longer than 512 characters');
  }
  return db.transaction(async (tx) => {
    const current = await lockSession(tx, id);
    if (current.state === 'ended') return { session: current, ended: false };
    assertMeterClaim(current, claim);
    const { rows } = await tx.query(
      `update sessions s set state = 'ended', end_reason = $2, end_message = $3, ended_at = now()
        where s.id = $1 returning ${SESSION_COLUMNS}`,
      [id, reason, message ?? null],
    );
    await enqueueFinalSettlement(tx, { sessionId: id });
    return { session: decodeOne(SessionRow, rows), ended: true };
  });
}

// ---- expired sessions -----------------------------------------------------------------------------------------

export type ListExpiredUnclosedSessionsParameters = {
  /** The chain's time (unix seconds): authorizations that expired before it. */
  nowSec: bigint;
  /** Default 100. */
  limit?: number;
};

/**
 * Ended sessions whose authorization has expired while the chain has not closed them, with nothing left in the
 * outbox (their last charges were refused as expired, or never sent): the chain will take nothing more from
 * them, and a registered one still holds the rest of its cap in the payer's reserve until `releaseExpired`.
 */
export async function listExpiredUnclosedSessions(
  db: Queryable,
  { nowSec, limit = 100 }: ListExpiredUnclosedSessionsParameters,
): Promise<Session[]> {
  assertCount(limit, 'limit', 10_000);
  const { rows } = await db.query(
    `select ${SESSION_COLUMNS} from sessions s
      where s.state = 'ended' and s.chain_closed_at is null and s.auth_expiry_sec < $1::numeric
        and not exists (select 1 from settlements st where st.session_id = s.id
                          and st.state in ('pending', 'sending', 'sent'))
      order by s.auth_expiry_sec, s.id limit $2`,
    [assertUint64(nowSec, 'nowSec').toString(), limit],
  );
  return decodeRows(SessionRow, rows);
}

export type MarkSessionChainClosedParameters = { sessionId: Hex };

/**
 * The chain holds nothing more for this ended session (closed, or expired unregistered): what it may still draw
 * drops to zero (`payerCommitmentsWei`). Idempotent; false when the session is not ended or already marked.
 */
export async function markSessionChainClosed(
  db: Queryable,
  { sessionId }: MarkSessionChainClosedParameters,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update sessions set chain_closed_at = now() where id = $1 and state = 'ended' and chain_closed_at is null`,
    [normalizeBytes32(sessionId, 'sessionId')],
  );
  return rowCount === 1;
}
