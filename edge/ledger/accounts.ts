import { type StaticDecode, Type } from '@sinclair/typebox';
import type { Address } from 'viem';
import type { Queryable } from './db/Db.js';
import { ledgerError } from './errors.js';
import { AddressColumn, decodeOptional, Row } from './rows.js';
import { normalizeAddress } from './values.js';

export const AccountRole = Type.Union([
  Type.Literal('player'),
  Type.Literal('studio'),
  Type.Literal('provider'),
  Type.Literal('checker'),
]);
export type AccountRole = StaticDecode<typeof AccountRole>;
const ROLES: readonly string[] = ['player', 'studio', 'provider', 'checker'];

const AccountRow = Row({ address: AddressColumn, roles: Type.Array(AccountRole), createdAt: Type.Date() });
export type Account = StaticDecode<typeof AccountRow>;

export type EnsureAccountParameters = { address: string; roles: readonly AccountRole[] };

/** Creates the account if new and adds the roles it lacks; never removes a role. Idempotent. */
export async function ensureAccount(db: Queryable, { address, roles }: EnsureAccountParameters): Promise<Account> {
  const normalized = normalizeAddress(address, 'address');
  return db.transaction(async (tx) => {
    await ensureAccountRoles(
      tx,
      roles.map((role) => ({ address: normalized, role })),
    );
    const account = await getAccount(tx, normalized);
    if (account === undefined)
      throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'account vanished', { details: normalized });
    return account;
  });
}

export async function getAccount(db: Queryable, address: string): Promise<Account | undefined> {
  const normalized = normalizeAddress(address, 'address');
  const { rows } = await db.query(
    `select a.address, a.created_at as "createdAt",
            coalesce(array_agg(r.role order by r.role) filter (where r.role is not null), '{}') as roles
       from accounts a left join account_roles r on r.address = a.address
      where a.address = $1 group by a.address`,
    [normalized],
  );
  return decodeOptional(AccountRow, rows);
}

/** Internal: one round trip for several (already normalized) addresses and roles. */
export async function ensureAccountRoles(
  db: Queryable,
  entries: readonly { address: Address; role: AccountRole }[],
): Promise<void> {
  if (entries.length === 0) return;
  for (const { role } of entries) {
    if (!ROLES.includes(role)) throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'unknown account role', { details: role });
  }
  await db.query(`insert into accounts (address) select distinct unnest($1::text[]) on conflict do nothing`, [
    entries.map((e) => e.address),
  ]);
  await db.query(
    `insert into account_roles (address, role) select * from unnest($1::text[], $2::text[]) on conflict do nothing`,
    [entries.map((e) => e.address), entries.map((e) => e.role)],
  );
}
