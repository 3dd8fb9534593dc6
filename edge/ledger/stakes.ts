import { type StaticDecode, Type } from '@sinclair/typebox';
import { ensureAccountRoles } from './accounts.js';
import type { Queryable } from './db/Db.js';
import { AddressColumn, decodeOne, decodeOptional, Nullable, Row, WeiColumn } from './rows.js';
import { assertText, assertWei, normalizeAddress } from './values.js';

export const StakeRole = Type.Union([Type.Literal('provider'), Type.Literal('checker')]);
export type StakeRole = StaticDecode<typeof StakeRole>;

const StakeRow = Row({
  operatorAddress: AddressColumn,
  role: StakeRole,
  amountWei: WeiColumn,
  tier: Nullable(Type.String()),
  updatedAt: Type.Date(),
});
/** An operator's stake as last read from the StakingRegistry (the chain is its source of truth). */
export type Stake = StaticDecode<typeof StakeRow>;

const STAKE_COLUMNS = `operator_address as "operatorAddress", role, amount_wei::text as "amountWei", tier,
  updated_at as "updatedAt"`;

export type RecordStakeParameters = { operatorAddress: string; role: StakeRole; amountWei: bigint; tier?: string };

/** Mirrors an operator's current stake (an absolute amount, not a change). */
export async function recordStake(
  db: Queryable,
  { operatorAddress, role, amountWei, tier }: RecordStakeParameters,
): Promise<Stake> {
  const operator = normalizeAddress(operatorAddress, 'operatorAddress');
  assertWei(amountWei, 'amountWei');
  if (tier !== undefined) assertText(tier, 'tier', 64);
  return db.transaction(async (tx) => {
    await ensureAccountRoles(tx, [{ address: operator, role }]);
    const { rows } = await tx.query(
      `insert into stakes (operator_address, role, amount_wei, tier) values ($1, $2, $3, $4)
       on conflict (operator_address) do update
         set role = excluded.role, amount_wei = excluded.amount_wei, tier = excluded.tier, updated_at = now()
       returning ${STAKE_COLUMNS}`,
      [operator, role, amountWei, tier ?? null],
    );
    return decodeOne(StakeRow, rows);
  });
}

export async function getStake(db: Queryable, operatorAddress: string): Promise<Stake | undefined> {
  const operator = normalizeAddress(operatorAddress, 'operatorAddress');
  const { rows } = await db.query(`select ${STAKE_COLUMNS} from stakes where operator_address = $1`, [operator]);
  return decodeOptional(StakeRow, rows);
}

/** Every operator whose stake the ledger mirrors (the rewards job reads each one's holding from the chain). */
export async function listStakes(db: Queryable, { limit = 100_000 }: { limit?: number } = {}): Promise<Stake[]> {
  const { rows } = await db.query(`select ${STAKE_COLUMNS} from stakes order by operator_address limit $1`, [limit]);
  return rows.map((row) => decodeOne(StakeRow, [row]));
}
