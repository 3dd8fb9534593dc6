import { Type } from '@sinclair/typebox';
import type { Address, Hex } from 'viem';
import { applyBps, BPS_DENOMINATOR } from '../../signaling/protocol/index.js';
import type { Queryable } from './db/Db.js';
import { ledgerError } from './errors.js';
import { decodeOne, decodeRows, Row, WeiColumn } from './rows.js';

/**
 * The double-entry journal. Each entry (one `entryKey`) has postings whose debits equal its credits — the
 * database refuses to commit an unbalanced entry — so Σ debits = Σ credits over the whole journal, to the wei.
 *
 *   usage tick of A wei       debit  payer                 charge            A
 *                             credit system:unsettled      charge            A
 *   settlement of delta D     debit  system:unsettled      settlement        D
 *   (confirmed on chain)      credit provider              provider_earning  D − fee
 *                             credit system:checker-pool   checker_pool      floor(fee · checkerShareBps / 10000)
 *                             credit system:treasury       treasury          fee − checker pool
 *   slash of S wei            debit  operator              slash             S
 *   (confirmed on chain)      credit system:treasury       slash             S
 *   reward of R wei           debit  system:checker-pool   reward            R
 *   (credited on chain)       credit operator              reward            R
 *
 * with fee = floor(D · feeBps / 10000): `applyBps`, the contract's arithmetic, on the delta the contract redeemed.
 * The balance of system:unsettled is what has been charged but not yet settled on chain. Zero postings are skipped.
 */
export const SYSTEM_ACCOUNTS = {
  unsettled: 'system:unsettled',
  checkerPool: 'system:checker-pool',
  treasury: 'system:treasury',
} as const;

export type SystemAccount = (typeof SYSTEM_ACCOUNTS)[keyof typeof SYSTEM_ACCOUNTS];
export type JournalAccount = Address | SystemAccount;
export type JournalKind =
  | 'charge'
  | 'settlement'
  | 'provider_earning'
  | 'checker_pool'
  | 'treasury'
  | 'slash'
  | 'reward';
export type JournalSide = 'debit' | 'credit';

export type JournalPosting = { account: JournalAccount; kind: JournalKind; side: JournalSide; amountWei: bigint };

/** The protocol fee and the checkers' part of it, as the SessionEscrow contract holds them. */
export type FeeSplit = { feeBps: bigint; checkerShareBps: bigint };

export type SplitFeeReturnType = { feeWei: bigint; checkerPoolWei: bigint; treasuryWei: bigint; providerWei: bigint };

/** Splits a redeemed amount exactly as the contract does. */
export function splitFee(amountWei: bigint, { feeBps, checkerShareBps }: FeeSplit): SplitFeeReturnType {
  assertFeeSplit({ feeBps, checkerShareBps });
  const feeWei = applyBps(amountWei, feeBps);
  const checkerPoolWei = applyBps(feeWei, checkerShareBps);
  return { feeWei, checkerPoolWei, treasuryWei: feeWei - checkerPoolWei, providerWei: amountWei - feeWei };
}

export function assertFeeSplit({ feeBps, checkerShareBps }: FeeSplit): void {
  for (const [name, bps] of [
    ['feeBps', feeBps],
    ['checkerShareBps', checkerShareBps],
  ] as const) {
    if (typeof bps !== 'bigint' || bps < 0n || bps > BPS_DENOMINATOR) {
      throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', `${name} is not basis points (0..10000)`, { details: String(bps) });
    }
  }
}

/** The postings of one confirmed settlement delta. */
export function settlementPostings(providerAddress: Address, deltaWei: bigint, feeSplit: FeeSplit): JournalPosting[] {
  const { checkerPoolWei, treasuryWei, providerWei } = splitFee(deltaWei, feeSplit);
  return [
    { account: SYSTEM_ACCOUNTS.unsettled, kind: 'settlement', side: 'debit', amountWei: deltaWei },
    { account: providerAddress, kind: 'provider_earning', side: 'credit', amountWei: providerWei },
    { account: SYSTEM_ACCOUNTS.checkerPool, kind: 'checker_pool', side: 'credit', amountWei: checkerPoolWei },
    { account: SYSTEM_ACCOUNTS.treasury, kind: 'treasury', side: 'credit', amountWei: treasuryWei },
  ];
}

export type JournalEntry = { entryKey: string; sessionId?: Hex; postings: readonly JournalPosting[] };

/**
 * Appends entries in one statement. Idempotent per (entryKey, account, kind, side): callers derive entry keys
 * from the row that caused them (a tick, a settlement, a slash), so a retried step posts nothing twice.
 */
export async function postJournalEntries(db: Queryable, entries: readonly JournalEntry[]): Promise<void> {
  const keys: string[] = [];
  const kinds: string[] = [];
  const accounts: string[] = [];
  const sides: string[] = [];
  const amounts: string[] = [];
  const sessions: string[] = [];
  for (const entry of entries) {
    for (const posting of entry.postings) {
      if (posting.amountWei < 0n) {
        throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'a journal posting is negative', { details: entry.entryKey });
      }
      if (posting.amountWei === 0n) continue;
      keys.push(entry.entryKey);
      kinds.push(posting.kind);
      accounts.push(posting.account);
      sides.push(posting.side);
      amounts.push(posting.amountWei.toString(10));
      sessions.push(entry.sessionId ?? '');
    }
  }
  if (keys.length === 0) return;
  await db.query(
    `insert into journal (entry_key, kind, account, side, amount_wei, session_id)
     select k, kd, a, sd, amt::numeric, nullif(s, '')
       from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) as t(k, kd, a, sd, amt, s)
     on conflict (entry_key, account, kind, side) do nothing`,
    [keys, kinds, accounts, sides, amounts, sessions],
  );
}

const BalanceRow = Row({ debitsWei: WeiColumn, creditsWei: WeiColumn, postings: Type.String({ pattern: '^[0-9]+$' }) });
const UnbalancedRow = Row({ entryKey: Type.String() });

export type JournalBalanceReturnType = {
  debitsWei: bigint;
  creditsWei: bigint;
  balanced: boolean;
  postingCount: number;
  /** Entries whose own debits and credits differ (at most 100); empty when the journal is sound. */
  unbalancedEntryKeys: string[];
};

/** Σ debits and Σ credits over the whole journal, and any unbalanced entries: the books check, by query. */
export async function journalBalance(db: Queryable): Promise<JournalBalanceReturnType> {
  const totals = decodeOne(
    BalanceRow,
    (
      await db.query(
        `select coalesce(sum(amount_wei) filter (where side = 'debit'), 0)::text as "debitsWei",
                coalesce(sum(amount_wei) filter (where side = 'credit'), 0)::text as "creditsWei",
                count(*)::text as postings
           from journal`,
      )
    ).rows,
  );
  const unbalanced = decodeRows(
    UnbalancedRow,
    (
      await db.query(
        `select entry_key as "entryKey" from journal group by entry_key
         having sum(case when side = 'debit' then amount_wei else -amount_wei end) <> 0
         order by entry_key limit 100`,
      )
    ).rows,
  );
  return {
    debitsWei: totals.debitsWei,
    creditsWei: totals.creditsWei,
    balanced: totals.debitsWei === totals.creditsWei && unbalanced.length === 0,
    postingCount: Number(totals.postings),
    unbalancedEntryKeys: unbalanced.map((row) => row.entryKey),
  };
}

const AccountTotalRow = Row({ kind: Type.String(), side: Type.String(), amountWei: WeiColumn });

export type JournalTotals = Partial<Record<`${JournalKind}:${JournalSide}`, bigint>>;

/** Σ per (kind, side) for one journal account. */
export async function journalTotals(db: Queryable, account: JournalAccount): Promise<JournalTotals> {
  const rows = decodeRows(
    AccountTotalRow,
    (
      await db.query(
        `select kind, side, sum(amount_wei)::text as "amountWei" from journal where account = $1 group by kind, side`,
        [account],
      )
    ).rows,
  );
  const totals: JournalTotals = {};
  for (const row of rows) totals[`${row.kind}:${row.side}` as keyof JournalTotals] = row.amountWei;
  return totals;
}
