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
  SafeIntColumn,
  Uint64Column,
  WeiColumn,
} from './rows.js';
import { assertCount, assertText, assertUint64, assertWei, normalizeAddress, normalizeBytes32 } from './values.js';

export const SlashState = Type.Union([
  Type.Literal('pending'),
  Type.Literal('sent'),
  Type.Literal('confirmed'),
  Type.Literal('failed'),
]);
export type SlashState = StaticDecode<typeof SlashState>;

/** What a slash is for: a container down while rendering, a container deceiving (far below spec), a checker's lies. */
export const SlashKind = Type.Union([Type.Literal('downtime'), Type.Literal('fraud'), Type.Literal('checker-lie')]);
export type SlashKind = StaticDecode<typeof SlashKind>;

const SlashRow = Row({
  slashId: IdColumn,
  operatorAddress: AddressColumn,
  amountWei: WeiColumn,
  evidenceHash: Bytes32Column,
  evidence: Type.Unknown(),
  reason: Type.String(),
  kind: SlashKind,
  container: Nullable(Type.String()),
  round: Nullable(Uint64Column),
  state: SlashState,
  txHash: Nullable(Bytes32Column),
  txNonce: Nullable(SafeIntColumn),
  attempts: Type.Integer({ minimum: 0 }),
  slashedWei: Nullable(WeiColumn),
  fromRewardsWei: Nullable(WeiColumn),
  fromStakeWei: Nullable(WeiColumn),
  fromUnbondingWei: Nullable(WeiColumn),
  barredUntilSec: Nullable(Uint64Column),
  lastError: Nullable(Type.String()),
  createdAt: Type.Date(),
  updatedAt: Type.Date(),
  confirmedAt: Nullable(Type.Date()),
});
/**
 * A slash decided by the indexer: an outbox row for `StakingRegistry.slashContainer` / `slashChecker`
 * (pending → sent → confirmed | failed) with the evidence it rests on — the signed reports the contract verifies.
 * `amountWei` is what the rules take (rate × stake unit when decided); `slashedWei` what the chain took.
 */
export type Slash = StaticDecode<typeof SlashRow>;

const SLASH_COLUMNS = `id as "slashId", operator_address as "operatorAddress", amount_wei::text as "amountWei",
  evidence_hash as "evidenceHash", evidence, reason, kind, container, round::text as round, state, tx_hash as "txHash",
  tx_nonce::text as "txNonce", attempts, slashed_wei::text as "slashedWei", from_rewards_wei::text as "fromRewardsWei",
  from_stake_wei::text as "fromStakeWei", from_unbonding_wei::text as "fromUnbondingWei",
  barred_until_sec::text as "barredUntilSec", last_error as "lastError", created_at as "createdAt",
  updated_at as "updatedAt", confirmed_at as "confirmedAt"`;

const MAX_EVIDENCE_BYTES = 1_000_000;

export type RecordSlashParameters = {
  operatorAddress: string;
  amountWei: bigint;
  /** The hash passed to the contract; computed by the caller over the evidence. */
  evidenceHash: Hex;
  /** The signed reports (or other proof), as JSON; bigints are stored as decimal strings. */
  evidence: unknown;
  reason: string;
  /** Default `downtime`. */
  kind?: SlashKind;
  container?: string;
  round?: bigint;
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
  const kind = parameters.kind ?? 'downtime';
  if (!['downtime', 'fraud', 'checker-lie'].includes(kind)) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'kind is not a slash kind', { details: String(kind) });
  }
  // A checker without stake is still barred by its slash: only a container slash must take something.
  if (amountWei === 0n && kind !== 'checker-lie') throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'a slash of zero');
  const round = parameters.round === undefined ? null : assertUint64(parameters.round, 'round');
  const evidenceHash = normalizeBytes32(parameters.evidenceHash, 'evidenceHash');
  const reason = assertText(parameters.reason, 'reason', 256);
  const container = parameters.container === undefined ? null : assertText(parameters.container, 'container', 128);
  const evidence = evidenceJson(parameters.evidence);
  return db.transaction(async (tx) => {
    await tx.query('insert into accounts (address) values ($1) on conflict do nothing', [operator]);
    const { rows } = await tx.query(
      `insert into slashes (operator_address, amount_wei, evidence_hash, evidence, reason, container, kind, round)
       values ($1, $2, $3, $4::jsonb, $5, $6, $7, $8)
       on conflict (evidence_hash) do nothing
       returning ${SLASH_COLUMNS}`,
      [operator, amountWei, evidenceHash, evidence, reason, container, kind, round],
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

export type MarkSlashSentParameters = { evidenceHash: Hex; txHash: Hex; nonce?: number };

/**
 * Write-ahead record of the slash transaction (pending/sent → sent), before broadcasting it. If this throws, do
 * not broadcast.
 */
export async function markSlashSent(
  db: Queryable,
  { evidenceHash, txHash, nonce }: MarkSlashSentParameters,
): Promise<Slash> {
  const hash = normalizeBytes32(evidenceHash, 'evidenceHash');
  const tx = normalizeBytes32(txHash, 'txHash');
  if (nonce !== undefined) assertCount(nonce, 'nonce');
  const { rows } = await db.query(
    `update slashes set state = 'sent', tx_hash = $2, tx_nonce = $3, attempts = attempts + 1, updated_at = now()
      where evidence_hash = $1 and state in ('pending', 'sent') returning ${SLASH_COLUMNS}`,
    [hash, tx, nonce ?? null],
  );
  const updated = decodeOptional(SlashRow, rows);
  return updated ?? throwNotTransitionable(db, hash, 'sent');
}

export type MarkSlashConfirmedParameters = {
  evidenceHash: Hex;
  txHash: Hex;
  /** What the contract actually took (rewards first, then stake); default the decided amount. */
  slashedWei?: bigint;
  /** Where it came from, as the contract's Slashed event says (their sum is the slashed amount). */
  breakdown?: { fromRewardsWei: bigint; fromStakeWei: bigint; fromUnbondingWei: bigint };
  /** A checker slash: the chain's `rewardsBarredUntil` (unix seconds). */
  barredUntilSec?: bigint;
};

export type MarkSlashConfirmedReturnType = { slash: Slash; confirmed: boolean };

/**
 * The slash landed: journals it (debit the operator, credit the treasury) and marks it confirmed. Idempotent:
 * an already confirmed slash is returned with `confirmed: false` and journaled nothing more.
 */
export async function markSlashConfirmed(
  db: Queryable,
  { evidenceHash, txHash, slashedWei, breakdown, barredUntilSec }: MarkSlashConfirmedParameters,
): Promise<MarkSlashConfirmedReturnType> {
  const hash = normalizeBytes32(evidenceHash, 'evidenceHash');
  const chainTx = normalizeBytes32(txHash, 'txHash');
  if (slashedWei !== undefined) assertWei(slashedWei, 'slashedWei');
  if (barredUntilSec !== undefined) assertUint64(barredUntilSec, 'barredUntilSec');
  const parts = breakdown
    ? [
        assertWei(breakdown.fromRewardsWei, 'fromRewardsWei'),
        assertWei(breakdown.fromStakeWei, 'fromStakeWei'),
        assertWei(breakdown.fromUnbondingWei, 'fromUnbondingWei'),
      ]
    : undefined;
  const fromParts = parts ? parts.reduce((sum, part) => sum + part, 0n) : undefined;
  if (fromParts !== undefined && slashedWei !== undefined && fromParts !== slashedWei) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'the breakdown does not add up to the slashed amount', {
      details: `${fromParts} ≠ ${slashedWei}`,
    });
  }
  return db.transaction(async (tx) => {
    const current = decodeOptional(
      SlashRow,
      (await tx.query(`select ${SLASH_COLUMNS} from slashes where evidence_hash = $1 for update`, [hash])).rows,
    );
    if (current === undefined) throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'no such slash', { details: hash });
    if (current.state === 'confirmed') return { slash: current, confirmed: false };
    const taken = slashedWei ?? fromParts ?? current.amountWei;
    if (taken > current.amountWei && parts === undefined) {
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
    // The chain is the truth: when its stake unit moved since the decision, the decided amount follows it.
    const { rows } = await tx.query(
      `update slashes set state = 'confirmed', tx_hash = $2, slashed_wei = $3::numeric, amount_wei = greatest(amount_wei, $3::numeric),
              from_rewards_wei = $4, from_stake_wei = $5, from_unbonding_wei = $6, barred_until_sec = $7,
              confirmed_at = now(), updated_at = now()
        where evidence_hash = $1 returning ${SLASH_COLUMNS}`,
      [hash, chainTx, taken, parts?.[0] ?? null, parts?.[1] ?? null, parts?.[2] ?? null, barredUntilSec ?? null],
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

export type ListSlashesParameters = {
  operatorAddress?: string;
  state?: SlashState;
  kind?: SlashKind;
  container?: string;
  limit?: number;
};

/** Slashes, oldest first. */
export async function listSlashes(
  db: Queryable,
  { operatorAddress, state, kind, container, limit = 1000 }: ListSlashesParameters = {},
): Promise<Slash[]> {
  assertCount(limit, 'limit', 100_000);
  const { rows } = await db.query(
    `select ${SLASH_COLUMNS} from slashes where ($1::text is null or operator_address = $1)
        and ($2::text is null or state = $2) and ($3::text is null or kind = $3) and ($4::text is null or container = $4)
      order by id limit $5`,
    [
      operatorAddress === undefined ? null : normalizeAddress(operatorAddress, 'operatorAddress'),
      state ?? null,
      kind ?? null,
      container ?? null,
      limit,
    ],
  );
  return decodeRows(SlashRow, rows);
}

/** The oldest slash waiting to be sent (pending), or undefined. */
export async function nextPendingSlash(db: Queryable): Promise<Slash | undefined> {
  const { rows } = await db.query(`select ${SLASH_COLUMNS} from slashes where state = 'pending' order by id limit 1`);
  return decodeOptional(SlashRow, rows);
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
