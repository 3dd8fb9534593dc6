import { type StaticDecode, Type } from '@sinclair/typebox';
import type { Hex } from 'viem';
import type { Usage } from '../../signaling/protocol/index.js';
import type { Queryable } from './db/Db.js';
import { ledgerError } from './errors.js';
import { assertMeterClaim, type MeterClaim } from './meterClaims.js';
import { AddressColumn, Bytes32Column, decodeOptional, HexColumn, Row, SafeIntColumn, WeiColumn } from './rows.js';
import { lockSession } from './sessions.js';
import { assertUint64, assertWei, normalizeAddress, normalizeBytes32, normalizeSignature } from './values.js';

const VoucherRow = Row({
  sessionId: Bytes32Column,
  cumulativeWei: WeiColumn,
  deliveredSec: SafeIntColumn,
  meterAddress: AddressColumn,
  signature: HexColumn,
  updatedAt: Type.Date(),
});
/** The latest meter-signed cumulative Usage voucher of a session. */
export type Voucher = StaticDecode<typeof VoucherRow>;

const VOUCHER_COLUMNS = `session_id as "sessionId", cumulative_wei::text as "cumulativeWei",
  delivered_sec as "deliveredSec", meter_address as "meterAddress", signature, updated_at as "updatedAt"`;

/** What the ledger keeps of a signed Usage voucher. */
export type VoucherUsage = Pick<Usage, 'sessionId' | 'cumulativeAmount' | 'deliveredSeconds'>;

export type RecordVoucherParameters = {
  /**
   * The signed struct (its `authHash`, the SessionAuth's digest, is not stored: it follows from the session's
   * authorization): `cumulativeAmount` and `deliveredSeconds` are the session's totals.
   */
  usage: VoucherUsage;
  meterAddress: string;
  signature: Hex;
  /** The meter's claim on the session: a voucher under a claim that is no longer its own is ATH_ERR_LEDGER_FENCED. */
  claim?: MeterClaim;
};

export type RecordVoucherReturnType = { voucher: Voucher; updated: boolean };

/**
 * Keeps the session's latest voucher. Vouchers only move up: one at or below the stored cumulative amount is
 * ignored (`updated: false`, the stored one returned), so retries and late arrivals are harmless. A voucher for
 * more than the recorded ticks is ATH_ERR_LEDGER_VOUCHER_AHEAD: record the tick first, then sign.
 */
export async function recordVoucher(
  db: Queryable,
  { usage, meterAddress, signature, claim }: RecordVoucherParameters,
): Promise<RecordVoucherReturnType> {
  const id = normalizeBytes32(usage.sessionId, 'usage.sessionId');
  const cumulativeWei = assertWei(usage.cumulativeAmount, 'usage.cumulativeAmount');
  const deliveredSec = assertUint64(usage.deliveredSeconds, 'usage.deliveredSeconds');
  const meter = normalizeAddress(meterAddress, 'meterAddress');
  const sig = normalizeSignature(signature, 'signature');
  return db.transaction(async (tx) => {
    const session = await lockSession(tx, id);
    assertMeterClaim(session, claim);
    if (cumulativeWei > session.cumulativeWei || deliveredSec > BigInt(session.deliveredSec)) {
      throw ledgerError('ATH_ERR_LEDGER_VOUCHER_AHEAD', 'the voucher covers more than the recorded usage', {
        details: `${id}: ${cumulativeWei} wei / ${deliveredSec} s > ${session.cumulativeWei} wei / ${session.deliveredSec} s`,
      });
    }
    const { rows } = await tx.query(
      `insert into vouchers as v (session_id, cumulative_wei, delivered_sec, meter_address, signature)
       values ($1, $2, $3, $4, $5)
       on conflict (session_id) do update
         set cumulative_wei = excluded.cumulative_wei, delivered_sec = excluded.delivered_sec,
             meter_address = excluded.meter_address, signature = excluded.signature, updated_at = now()
         where v.cumulative_wei < excluded.cumulative_wei and v.delivered_sec <= excluded.delivered_sec
       returning ${VOUCHER_COLUMNS}`,
      [id, cumulativeWei, deliveredSec, meter, sig],
    );
    const written = decodeOptional(VoucherRow, rows);
    if (written !== undefined) return { voucher: written, updated: true };
    const stored = await latestVoucher(tx, id);
    if (stored === undefined) throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'voucher vanished', { details: id });
    return { voucher: stored, updated: false };
  });
}

export async function latestVoucher(db: Queryable, sessionId: Hex): Promise<Voucher | undefined> {
  const id = normalizeBytes32(sessionId, 'sessionId');
  const { rows } = await db.query(`select ${VOUCHER_COLUMNS} from vouchers where session_id = $1`, [id]);
  return decodeOptional(VoucherRow, rows);
}
