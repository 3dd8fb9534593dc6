import { type StaticDecode, Type } from '@sinclair/typebox';
import type { Hex } from 'viem';
import type { Queryable } from './db/Db.js';
import { ledgerError } from './errors.js';
import { postJournalEntries, SYSTEM_ACCOUNTS } from './journal.js';
import { assertMeterClaim, type MeterClaim } from './meterClaims.js';
import { Bytes32Column, decodeOne, decodeOptional, decodeRows, Row, SafeIntColumn, WeiColumn } from './rows.js';
import { lockSession, type Session } from './sessions.js';
import { assertCount, normalizeBytes32 } from './values.js';

const UsageTickRow = Row({
  sessionId: Bytes32Column,
  tickIndex: Type.Integer({ minimum: 0 }),
  deliveredSec: Type.Integer({ minimum: 0 }),
  amountWei: WeiColumn,
  cumulativeWei: WeiColumn,
  cumulativeDeliveredSec: SafeIntColumn,
  recordedAt: Type.Date(),
});
/** One metering tick: seconds of verified delivery in it, their charge, and the session's totals after it. */
export type UsageTick = StaticDecode<typeof UsageTickRow>;

const TICK_COLUMNS = `session_id as "sessionId", tick_index as "tickIndex", delivered_sec as "deliveredSec",
  amount_wei::text as "amountWei", cumulative_wei::text as "cumulativeWei",
  cumulative_delivered_sec as "cumulativeDeliveredSec", recorded_at as "recordedAt"`;

/** A tick is at most this long; a delivered-seconds value above it is a metering bug. */
const MAX_TICK_SEC = 3600;

export type RecordUsageTickParameters = {
  sessionId: Hex;
  /** 0, 1, 2… per session; gaps are allowed (a tick with nothing delivered may be skipped). */
  tickIndex: number;
  /** Whole seconds of verified delivery in this tick (0 when the host was down or the verdict failed). */
  deliveredSec: number;
  /**
   * The meter's claim on the session (`claimSessionInstance`): a tick under a claim that is no longer the
   * session's is refused, retries included (ATH_ERR_LEDGER_FENCED). Without it, no check (tools, tests).
   */
  claim?: MeterClaim;
  /** The meter's clock (ms) at the end of this tick's interval; the session keeps the latest (`meteredUntilMs`). */
  meteredUntilMs?: number;
};

export type RecordUsageTickReturnType = { tick: UsageTick; inserted: boolean };

/**
 * Records one metering tick: amount = deliveredSec × the session's price, added to the session's cumulative
 * charge, journaled as a charge, and counted against the studio play token's cap when there is one — all in
 * one transaction. A retried tick (same index, same seconds) is a no-op returning the stored tick.
 *
 * Errors: ATH_ERR_LEDGER_TICK_OUT_OF_ORDER (an index below the latest that was never recorded),
 * ATH_ERR_LEDGER_CONFLICT (a recorded index with different seconds), ATH_ERR_LEDGER_OVER_CAP (beyond the
 * SessionAuth's maxAmount), ATH_ERR_LEDGER_CAP_EXHAUSTED (beyond the play token's cap),
 * ATH_ERR_LEDGER_BAD_TRANSITION (a new tick of an ended session), ATH_ERR_LEDGER_FENCED (the claim is no
 * longer the session's: another process meters it). Nothing is recorded when one of them is thrown; the meter
 * then ends the session (or, fenced, stops metering it).
 */
export async function recordUsageTick(
  db: Queryable,
  { sessionId, tickIndex, deliveredSec, claim, meteredUntilMs }: RecordUsageTickParameters,
): Promise<RecordUsageTickReturnType> {
  const id = normalizeBytes32(sessionId, 'sessionId');
  assertCount(tickIndex, 'tickIndex', 2 ** 31 - 1);
  assertCount(deliveredSec, 'deliveredSec', MAX_TICK_SEC);
  if (meteredUntilMs !== undefined) assertCount(meteredUntilMs, 'meteredUntilMs', Number.MAX_SAFE_INTEGER);
  return db.transaction(async (tx) => {
    const session = await lockSession(tx, id);
    assertMeterClaim(session, claim);
    if (session.lastTickIndex !== null && tickIndex <= session.lastTickIndex) {
      return { tick: await retriedTick(tx, session, tickIndex, deliveredSec), inserted: false };
    }
    if (session.state === 'ended') {
      // Its final voucher may already be on its way to the chain, closing the session there.
      throw ledgerError('ATH_ERR_LEDGER_BAD_TRANSITION', 'the session has ended: no more ticks', { details: id });
    }
    const amountWei = BigInt(deliveredSec) * session.priceWeiPerSec;
    const cumulativeWei = session.cumulativeWei + amountWei;
    if (cumulativeWei > session.authMaxWei) {
      throw ledgerError('ATH_ERR_LEDGER_OVER_CAP', 'the charge would exceed the session authorization', {
        details: `${id}: ${cumulativeWei} > ${session.authMaxWei}`,
      });
    }
    if (session.playTokenId !== null && amountWei > 0n) {
      const spent = await tx.query(
        `update play_tokens set spent_wei = spent_wei + $2::numeric
          where id = $1 and spent_wei + $2::numeric <= cap_wei returning id`,
        [session.playTokenId, amountWei],
      );
      if (spent.rows.length === 0) {
        throw ledgerError('ATH_ERR_LEDGER_CAP_EXHAUSTED', 'the play token spending cap is exhausted', {
          details: session.playTokenId,
        });
      }
    }
    const cumulativeDeliveredSec = session.deliveredSec + deliveredSec;
    const { rows } = await tx.query(
      `with tick as (
         insert into usage_ticks (session_id, tick_index, delivered_sec, amount_wei, cumulative_wei,
                                  cumulative_delivered_sec, meter_epoch)
         values ($1, $2, $3, $4, $5, $6, $7) returning ${TICK_COLUMNS}
       ), totals as (
         update sessions set last_tick_index = $2, delivered_sec = $6, cumulative_wei = $5,
                metered_until_ms = greatest(metered_until_ms, $8::bigint) where id = $1
       )
       select * from tick`,
      [
        id,
        tickIndex,
        deliveredSec,
        amountWei,
        cumulativeWei,
        cumulativeDeliveredSec,
        claim === undefined ? null : claim.epoch.toString(),
        meteredUntilMs ?? null,
      ],
    );
    const tick = decodeOne(UsageTickRow, rows);
    await postJournalEntries(tx, [
      {
        entryKey: `charge:${id}:${tickIndex}`,
        sessionId: id,
        postings: [
          { account: session.payerAddress, kind: 'charge', side: 'debit', amountWei },
          { account: SYSTEM_ACCOUNTS.unsettled, kind: 'charge', side: 'credit', amountWei },
        ],
      },
    ]);
    return { tick, inserted: true };
  });
}

async function retriedTick(
  tx: Queryable,
  session: Session,
  tickIndex: number,
  deliveredSec: number,
): Promise<UsageTick> {
  const { rows } = await tx.query(`select ${TICK_COLUMNS} from usage_ticks where session_id = $1 and tick_index = $2`, [
    session.sessionId,
    tickIndex,
  ]);
  const stored = decodeOptional(UsageTickRow, rows);
  if (stored === undefined) {
    throw ledgerError('ATH_ERR_LEDGER_TICK_OUT_OF_ORDER', 'a tick older than the latest one', {
      details: `${session.sessionId}: tick ${tickIndex} after ${session.lastTickIndex}`,
    });
  }
  if (stored.deliveredSec !== deliveredSec) {
    throw ledgerError('ATH_ERR_LEDGER_CONFLICT', 'a retried tick differs from the recorded one', {
      details: `${session.sessionId}: tick ${tickIndex} had ${stored.deliveredSec} s, now ${deliveredSec} s`,
    });
  }
  return stored;
}

export type ListUsageTicksParameters = { sessionId: Hex /** default 10000 */; limit?: number };

/** A session's ticks in order. */
export async function listUsageTicks(
  db: Queryable,
  { sessionId, limit = 10_000 }: ListUsageTicksParameters,
): Promise<UsageTick[]> {
  const id = normalizeBytes32(sessionId, 'sessionId');
  assertCount(limit, 'limit', 100_000);
  const { rows } = await db.query(
    `select ${TICK_COLUMNS} from usage_ticks where session_id = $1 order by tick_index limit $2`,
    [id, limit],
  );
  return decodeRows(UsageTickRow, rows);
}
