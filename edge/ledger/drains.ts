import { type StaticDecode, Type } from '@sinclair/typebox';
import { ensureAccountRoles } from './accounts.js';
import type { Queryable } from './db/Db.js';
import { ledgerError } from './errors.js';
import { AddressColumn, decodeOne, decodeOptional, decodeRows, IdColumn, Nullable, Row, Uint64Column } from './rows.js';
import { assertCount, assertText, assertUint64, normalizeAddress } from './values.js';

const DrainRow = Row({
  drainId: IdColumn,
  providerAddress: AddressColumn,
  hostId: Type.String(),
  reason: Type.String(),
  round: Uint64Column,
  drainedAt: Type.Date(),
  probationPasses: Type.Integer({ minimum: 0 }),
  liftedAt: Nullable(Type.Date()),
  liftReason: Nullable(Type.String()),
});
/** A provider's drain: in force while `liftedAt` is null. */
export type Drain = StaticDecode<typeof DrainRow>;

const DRAIN_COLUMNS = `id as "drainId", provider_address as "providerAddress", host_id as "hostId", reason,
  round::text as round, drained_at as "drainedAt", probation_passes as "probationPasses", lifted_at as "liftedAt",
  lift_reason as "liftReason"`;

export type RecordDrainParameters = {
  providerAddress: string;
  /** The container whose verdicts drained the provider. */
  hostId: string;
  reason: string;
  round: bigint;
  drainedAt?: Date;
};

export type RecordDrainReturnType = { drain: Drain; inserted: boolean };

/** Puts a provider's drain in force; one already in force is kept and returned (`inserted: false`). */
export async function recordDrain(db: Queryable, parameters: RecordDrainParameters): Promise<RecordDrainReturnType> {
  const provider = normalizeAddress(parameters.providerAddress, 'providerAddress');
  const hostId = assertText(parameters.hostId, 'hostId', 128);
  const reason = assertText(parameters.reason, 'reason', 512);
  const round = assertUint64(parameters.round, 'round');
  return db.transaction(async (tx) => {
    await ensureAccountRoles(tx, [{ address: provider, role: 'provider' }]);
    const { rows } = await tx.query(
      `insert into provider_drains (provider_address, host_id, reason, round, drained_at)
       values ($1, $2, $3, $4, coalesce($5, now()))
       on conflict (provider_address) where lifted_at is null do nothing
       returning ${DRAIN_COLUMNS}`,
      [provider, hostId, reason, round, parameters.drainedAt ?? null],
    );
    const inserted = decodeOptional(DrainRow, rows);
    if (inserted) return { drain: inserted, inserted: true };
    const existing = await getDrainInForce(tx, provider);
    if (!existing) throw ledgerError('ATH_ERR_LEDGER_CONFLICT', 'the drain in force changed during the insert');
    return { drain: existing, inserted: false };
  });
}

export type SetProbationPassesParameters = { providerAddress: string; passes: number };

/** Records the passing re-checks of a drained provider so far; undefined when none is in force. */
export async function setProbationPasses(
  db: Queryable,
  { providerAddress, passes }: SetProbationPassesParameters,
): Promise<Drain | undefined> {
  const provider = normalizeAddress(providerAddress, 'providerAddress');
  const count = assertCount(passes, 'passes', 2 ** 31 - 1);
  const { rows } = await db.query(
    `update provider_drains set probation_passes = $2 where provider_address = $1 and lifted_at is null
     returning ${DRAIN_COLUMNS}`,
    [provider, count],
  );
  return decodeOptional(DrainRow, rows);
}

export type LiftDrainParameters = { providerAddress: string; reason: string };

/** Lifts the provider's drain in force (idempotent: undefined when none is). */
export async function liftDrain(
  db: Queryable,
  { providerAddress, reason }: LiftDrainParameters,
): Promise<Drain | undefined> {
  const provider = normalizeAddress(providerAddress, 'providerAddress');
  const why = assertText(reason, 'reason', 512);
  const { rows } = await db.query(
    `update provider_drains set lifted_at = now(), lift_reason = $2 where provider_address = $1 and lifted_at is null
     returning ${DRAIN_COLUMNS}`,
    [provider, why],
  );
  return decodeOptional(DrainRow, rows);
}

export async function getDrainInForce(db: Queryable, providerAddress: string): Promise<Drain | undefined> {
  const provider = normalizeAddress(providerAddress, 'providerAddress');
  const { rows } = await db.query(
    `select ${DRAIN_COLUMNS} from provider_drains where provider_address = $1 and lifted_at is null`,
    [provider],
  );
  return decodeOptional(DrainRow, rows);
}

/** Every drain in force (signaling loads them when it starts). */
export async function listDrainsInForce(db: Queryable): Promise<Drain[]> {
  const { rows } = await db.query(`select ${DRAIN_COLUMNS} from provider_drains where lifted_at is null order by id`);
  return decodeRows(DrainRow, rows);
}

export type ListDrainsParameters = { providerAddress: string; limit?: number };

/** A provider's drains, newest first, lifted ones included. */
export async function listDrains(
  db: Queryable,
  { providerAddress, limit = 20 }: ListDrainsParameters,
): Promise<Drain[]> {
  const provider = normalizeAddress(providerAddress, 'providerAddress');
  const { rows } = await db.query(
    `select ${DRAIN_COLUMNS} from provider_drains where provider_address = $1 order by id desc limit $2`,
    [provider, assertCount(limit, 'limit', 1000)],
  );
  return decodeRows(DrainRow, rows);
}

/** Exactly the drain with this id (tests, tools). */
export async function getDrain(db: Queryable, drainId: bigint): Promise<Drain> {
  const { rows } = await db.query(`select ${DRAIN_COLUMNS} from provider_drains where id = $1`, [drainId]);
  return decodeOne(DrainRow, rows);
}
