import { type StaticDecode, Type } from '@sinclair/typebox';
import type { Hex } from 'viem';
import type { Queryable } from './db/Db.js';
import { ledgerError } from './errors.js';
import { postJournalEntries, SYSTEM_ACCOUNTS } from './journal.js';
import {
  AddressColumn,
  Bytes32Column,
  decodeOne,
  decodeOptional,
  decodeRows,
  IdColumn,
  Nullable,
  Row,
  WeiColumn,
} from './rows.js';
import { assertCount, assertText, assertWei, normalizeAddress, normalizeBytes32 } from './values.js';

export const SlashState = Type.Union([
  Type.Literal('pending'),
  Type.Literal('sent'),
  Type.Literal('confirmed'),
  Type.Literal('failed'),
]);
export type SlashState = StaticDecode<typeof SlashState>;

const SlashRow = Row({
  slashId: IdColumn,
  operatorAddress: AddressColumn,
  amountWei: WeiColumn,
  evidenceHash: Bytes32Column,
  evidence: Type.Unknown(),
  reason: Type.String(),
  container: Nullable(Type.String()),
  state: SlashState,
  txHash: Nullable(Bytes32Column),
  slashedWei: Nullable(WeiColumn),
  lastError: Nullable(Type.String()),
  createdAt: Type.Date(),
  updatedAt: Type.Date(),
  confirmedAt: Nullable(Type.Date()),
});
/**
 * A slash decided by the indexer: an outbox row for `StakingRegistry.slash(operator, amount, evidenceHash)`
 * (pending → sent → confirmed | failed) with the evidence it rests on.
 */
export type Slash = StaticDecode<typeof SlashRow>;

const SLASH_COLUMNS = `id as "slashId", operator_address as "operatorAddress", amount_wei::text as "amountWei",
  evidence_hash as "evidenceHash", evidence, reason, container, state, tx_hash as "txHash",
  slashed_wei::text as "slashedWei", last_error as "lastError", created_at as "createdAt", updated_at as "updatedAt",
  confirmed_at as "confirmedAt"`;

const MAX_EVIDENCE_BYTES = 1_000_000;

export type RecordSlashParameters = {
  operatorAddress: string;
  amountWei: bigint;
  /** The hash passed to the contract; computed by the caller over the evidence. */
  evidenceHash: Hex;
  /** The signed reports (or other proof), as JSON; bigints are stored as decimal strings. */
  evidence: unknown;
  reason: string;
  container?: string;
};

export type RecordSlashReturnType = { slash: Slash; inserted: boolean };

/**
 * Records a decided slash (pending), once per evidence hash: the same evidence again returns the stored slash;
 * the same hash with another operator or amount is ATH_ERR_LEDGER_CONFLICT. Nothing is journaled until the
 * chain confirms it (`markSlashConfirmed`).
 */
export async function recordSlash(db: Queryable, parameters: RecordSlashParameters): Promise<RecordSlashReturnType> {
  const operator = normalizeAddress(parameters.operatorAddress, 'operatorAddress');
  const amountWei = assertWei(parameters.amountWei, 'amountWei');
  if (amountWei === 0n) throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'a slash of zero');
  const evidenceHash = normalizeBytes32(parameters.evidenceHash, 'evidenceHash');
  const reason = assertText(parameters.reason, 'reason', 256);
  const container = parameters.container === undefined ? null : assertText(parameters.container, 'container', 128);
  const evidence = evidenceJson(parameters.evidence);
  return db.transaction(async (tx) => {
    await tx.query('insert into accounts (address) values ($1) on conflict do nothing', [operator]);
    const { rows } = await tx.query(
      `insert into slashes (operator_address, amount_wei, evidence_hash, evidence, reason, container)
       values ($1, $2, $3, $4::jsonb, $5, $6)
       on conflict (evidence_hash) do nothing
       returning ${SLASH_COLUMNS}`,
      [operator, amountWei, evidenceHash, evidence, reason, container],
    );
    const inserted = decodeOptional(SlashRow, rows);
    if (inserted !== undefined) return { slash: inserted, inserted: true };
    const stored = await getSlash(tx, evidenceHash);
    if (stored === undefined)
      throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'slash vanished', { details: evidenceHash });
    if (stored.operatorAddress !== operator || stored.amountWei !== amountWei) {
      throw ledgerError('ATH_ERR_LEDGER_CONFLICT', 'this evidence already backs a different slash', {
        details: evidenceHash,
      });
    }
    return { slash: stored, inserted: false };
  });
}

export async function getSlash(db: Queryable, evidenceHash: Hex): Promise<Slash | undefined> {
  const hash = normalizeBytes32(evidenceHash, 'evidenceHash');
  const { rows } = await db.query(`select ${SLASH_COLUMNS} from slashes where evidence_hash = $1`, [hash]);
  return decodeOptional(SlashRow, rows);
}

export type MarkSlashSentParameters = { evidenceHash: Hex; txHash: Hex };

/** Write-ahead record of the slash transaction (pending/sent → sent), before broadcasting it. */
export async function markSlashSent(db: Queryable, { evidenceHash, txHash }: MarkSlashSentParameters): Promise<Slash> {
  const hash = normalizeBytes32(evidenceHash, 'evidenceHash');
  const tx = normalizeBytes32(txHash, 'txHash');
  const { rows } = await db.query(
    `update slashes set state = 'sent', tx_hash = $2, updated_at = now()
      where evidence_hash = $1 and state in ('pending', 'sent') returning ${SLASH_COLUMNS}`,
    [hash, tx],
  );
  const updated = decodeOptional(SlashRow, rows);
  return updated ?? throwNotTransitionable(db, hash, 'sent');
}

export type MarkSlashConfirmedParameters = {
  evidenceHash: Hex;
  txHash: Hex;
  /** What the contract actually took (rewards first, then stake); default the decided amount. */
  slashedWei?: bigint;
};

export type MarkSlashConfirmedReturnType = { slash: Slash; confirmed: boolean };

/**
 * The slash landed: journals it (debit the operator, credit the treasury) and marks it confirmed. Idempotent:
 * an already confirmed slash is returned with `confirmed: false` and journaled nothing more.
 */
export async function markSlashConfirmed(
  db: Queryable,
  { evidenceHash, txHash, slashedWei }: MarkSlashConfirmedParameters,
): Promise<MarkSlashConfirmedReturnType> {
  const hash = normalizeBytes32(evidenceHash, 'evidenceHash');
  const chainTx = normalizeBytes32(txHash, 'txHash');
  if (slashedWei !== undefined) assertWei(slashedWei, 'slashedWei');
  return db.transaction(async (tx) => {
    const current = decodeOptional(
      SlashRow,
      (await tx.query(`select ${SLASH_COLUMNS} from slashes where evidence_hash = $1 for update`, [hash])).rows,
    );
    if (current === undefined) throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'no such slash', { details: hash });
    if (current.state === 'confirmed') return { slash: current, confirmed: false };
    const taken = slashedWei ?? current.amountWei;
    if (taken > current.amountWei) {
      throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'slashed more than decided', {
        details: `${taken} > ${current.amountWei}`,
      });
    }
    await postJournalEntries(tx, [
      {
        entryKey: `slash:${hash}`,
        postings: [
          { account: current.operatorAddress, kind: 'slash', side: 'debit', amountWei: taken },
          { account: SYSTEM_ACCOUNTS.treasury, kind: 'slash', side: 'credit', amountWei: taken },
        ],
      },
    ]);
    const { rows } = await tx.query(
      `update slashes set state = 'confirmed', tx_hash = $2, slashed_wei = $3, confirmed_at = now(), updated_at = now()
        where evidence_hash = $1 returning ${SLASH_COLUMNS}`,
      [hash, chainTx, taken],
    );
    return { slash: decodeOne(SlashRow, rows), confirmed: true };
  });
}

export type MarkSlashFailedParameters = { evidenceHash: Hex; error: string; retry: boolean };

/** The slash transaction reverted: back to pending (retry) or failed for good. */
export async function markSlashFailed(
  db: Queryable,
  { evidenceHash, error, retry }: MarkSlashFailedParameters,
): Promise<Slash> {
  const hash = normalizeBytes32(evidenceHash, 'evidenceHash');
  const { rows } = await db.query(
    `update slashes set state = $2, tx_hash = case when $2 = 'pending' then null else tx_hash end,
            last_error = $3, updated_at = now()
      where evidence_hash = $1 and state in ('pending', 'sent') returning ${SLASH_COLUMNS}`,
    [hash, retry ? 'pending' : 'failed', error.slice(0, 2048)],
  );
  const updated = decodeOptional(SlashRow, rows);
  return updated ?? throwNotTransitionable(db, hash, retry ? 'pending' : 'failed');
}

export type ListSlashesParameters = { operatorAddress?: string; state?: SlashState; limit?: number };

/** Slashes, oldest first. */
export async function listSlashes(
  db: Queryable,
  { operatorAddress, state, limit = 1000 }: ListSlashesParameters = {},
): Promise<Slash[]> {
  assertCount(limit, 'limit', 100_000);
  const { rows } = await db.query(
    `select ${SLASH_COLUMNS} from slashes where ($1::text is null or operator_address = $1)
        and ($2::text is null or state = $2) order by id limit $3`,
    [operatorAddress === undefined ? null : normalizeAddress(operatorAddress, 'operatorAddress'), state ?? null, limit],
  );
  return decodeRows(SlashRow, rows);
}

async function throwNotTransitionable(db: Queryable, evidenceHash: Hex, to: SlashState): Promise<never> {
  const current = await getSlash(db, evidenceHash);
  if (current === undefined) throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'no such slash', { details: evidenceHash });
  throw ledgerError('ATH_ERR_LEDGER_BAD_TRANSITION', 'the slash cannot move to this state', {
    details: `${evidenceHash}: ${current.state} → ${to}`,
  });
}

function evidenceJson(evidence: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(evidence, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString(10) : value));
  } catch (error) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'the evidence is not JSON', { cause: error });
  }
  if (json === undefined) throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'the evidence is not JSON');
  if (Buffer.byteLength(json) > MAX_EVIDENCE_BYTES) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'the evidence is larger than 1 MB');
  }
  return json;
}
