import type { Address } from 'viem';
import type { Queryable } from './db/Db.js';
import { AddressColumn, decodeRows, Row } from './rows.js';
import { assertText, assertUint64, normalizeAddress } from './values.js';

export type RecordOperatorOfflineParameters = {
  providerAddress: string;
  hostId: string;
  /** The staking epoch it happened in (chain time). */
  epoch: bigint;
  atChainSec: bigint;
  reason: string;
};

/**
 * A host went offline (connection lost, heartbeats missed) while it served no session. Aethir's rule: no slash,
 * but no staking rewards for that epoch — `closeStakerEpoch` leaves its provider out.
 */
export async function recordOperatorOffline(db: Queryable, p: RecordOperatorOfflineParameters): Promise<void> {
  const provider = normalizeAddress(p.providerAddress, 'providerAddress');
  assertText(p.hostId, 'hostId', 128);
  assertUint64(p.epoch, 'epoch');
  assertUint64(p.atChainSec, 'atChainSec');
  assertText(p.reason, 'reason', 256);
  await db.transaction(async (tx) => {
    await tx.query('insert into accounts (address) values ($1) on conflict do nothing', [provider]);
    await tx.query(
      `insert into operator_offline (provider_address, host_id, epoch, at_chain_sec, reason) values ($1, $2, $3, $4, $5)`,
      [provider, p.hostId, p.epoch, p.atChainSec, p.reason],
    );
  });
}

/** Providers seen offline during an epoch. */
export async function listOfflineProviders(db: Queryable, epoch: bigint): Promise<Address[]> {
  const { rows } = await db.query(
    'select distinct provider_address as address from operator_offline where epoch = $1 order by 1',
    [assertUint64(epoch, 'epoch')],
  );
  return decodeRows(Row({ address: AddressColumn }), rows).map((row) => row.address);
}
