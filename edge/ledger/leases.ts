/**
 * Named leases in the ledger: how several processes sharing one database agree on a single leader for a job —
 * the settlement worker of a meter key above all (one nonce owner), and whatever else must run once.
 *
 * A lease is a row `(name, holder, epoch, expires_at)`. `acquireLease` takes it when it is free or expired and
 * renews it when the caller already holds it, in one statement (so two callers can never both win); times are
 * the database's, so the processes' clocks do not matter. The epoch is a fencing token: it grows at every
 * change of holder and when a holder comes back after its lease ran out, so a leader can tell that someone
 * else may have acted in between (and reconcile before going on). `assertLeaseHeld` checks, inside the caller's
 * transaction, that the lease is still its own and not about to run out — the settler does it in the same
 * transaction that records a transaction hash, so a leader that was paused past its lease never broadcasts.
 * `releaseLease` hands over at once on a clean shutdown; a dead leader's lease simply runs out.
 */
import { type StaticDecode, Type } from '@sinclair/typebox';
import type { Queryable } from './db/Db.js';
import { ledgerError } from './errors.js';
import { decodeOptional, Row } from './rows.js';
import { assertCount, assertText } from './values.js';

const LeaseRow = Row({
  name: Type.String(),
  holder: Type.String(),
  epoch: Type.Transform(Type.String({ pattern: '^[0-9]{1,19}$' }))
    .Decode((value) => BigInt(value))
    .Encode((value) => value.toString()),
  expiresAt: Type.Date(),
  held: Type.Boolean(),
});
export type Lease = StaticDecode<typeof LeaseRow>;

const LEASE_COLUMNS = `l.name, l.holder, l.epoch::text as epoch, l.expires_at as "expiresAt"`;

export type AcquireLeaseParameters = {
  name: string;
  /** Who asks (unique per process, e.g. `signaling-<host>-<pid>-<random>`). */
  holder: string;
  /** How long the lease lasts from now unless renewed. */
  ttlMs: number;
};

/** The lease as it stands after the call; `held` says whether the caller holds it now. */
export type AcquireLeaseReturnType = Lease;

/** Takes or renews the lease; returns who holds it. Never blocks. */
export async function acquireLease(
  db: Queryable,
  { name, holder, ttlMs }: AcquireLeaseParameters,
): Promise<AcquireLeaseReturnType> {
  assertText(name, 'name', 128);
  assertText(holder, 'holder', 128);
  assertCount(ttlMs, 'ttlMs', 24 * 3_600_000);
  const { rows } = await db.query(
    `insert into ledger_leases as l (name, holder, epoch, expires_at)
     values ($1, $2, 1, now() + make_interval(secs => $3::double precision / 1000))
     on conflict (name) do update set
       holder = excluded.holder,
       epoch = case when l.holder = excluded.holder and l.expires_at > now() then l.epoch else l.epoch + 1 end,
       expires_at = excluded.expires_at,
       acquired_at = case when l.holder = excluded.holder and l.expires_at > now() then l.acquired_at else now() end,
       renewed_at = now()
     where l.holder = excluded.holder or l.expires_at <= now()
     returning ${LEASE_COLUMNS}, true as held`,
    [name, holder, ttlMs],
  );
  const taken = decodeOptional(LeaseRow, rows);
  if (taken !== undefined) return taken;
  const current = await db.query(
    `select ${LEASE_COLUMNS}, (l.holder = $2 and l.expires_at > now()) as held from ledger_leases l where l.name = $1`,
    [name, holder],
  );
  const lease = decodeOptional(LeaseRow, current.rows);
  if (lease === undefined) throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'the lease vanished', { details: name });
  return lease;
}

export type ReleaseLeaseParameters = { name: string; holder: string };

/** Gives the lease up at once (a clean shutdown), if the caller holds it. Idempotent. */
export async function releaseLease(db: Queryable, { name, holder }: ReleaseLeaseParameters): Promise<boolean> {
  const { rowCount } = await db.query(
    `update ledger_leases set expires_at = now(), renewed_at = now() where name = $1 and holder = $2 and expires_at > now()`,
    [name, holder],
  );
  return rowCount === 1;
}

export type AssertLeaseHeldParameters = {
  name: string;
  holder: string;
  /** The epoch the caller acquired: a different one means the lease changed hands in between. */
  epoch: bigint;
  /** The lease must still have at least this long to run. */
  marginMs?: number;
};

/**
 * Throws ATH_ERR_LEDGER_LEASE_LOST unless the caller holds the lease at `epoch` with `marginMs` to spare.
 * Locks the lease row until the caller's transaction ends, so it cannot change hands meanwhile.
 */
export async function assertLeaseHeld(
  tx: Queryable,
  { name, holder, epoch, marginMs = 0 }: AssertLeaseHeldParameters,
): Promise<void> {
  assertCount(marginMs, 'marginMs', 24 * 3_600_000);
  const { rows } = await tx.query(
    `select 1 from ledger_leases
      where name = $1 and holder = $2 and epoch = $3
        and expires_at > now() + make_interval(secs => $4::double precision / 1000)
      for update`,
    [name, holder, epoch, marginMs],
  );
  if (rows.length === 0) {
    throw ledgerError('ATH_ERR_LEDGER_LEASE_LOST', 'this process no longer holds the lease', {
      details: `${name} (${holder}, epoch ${epoch})`,
    });
  }
}

/** The lease as stored (for operators and tests); undefined when never taken. */
export async function getLease(db: Queryable, name: string): Promise<Lease | undefined> {
  const { rows } = await db.query(
    `select ${LEASE_COLUMNS}, l.expires_at > now() as held from ledger_leases l where l.name = $1`,
    [name],
  );
  return decodeOptional(LeaseRow, rows);
}
