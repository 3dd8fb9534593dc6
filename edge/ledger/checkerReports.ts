import { type StaticDecode, Type } from '@sinclair/typebox';
import type { Address, Hex } from 'viem';
import type { CheckReport } from '../../signaling/protocol/index.js';
import { ensureAccountRoles } from './accounts.js';
import type { Queryable } from './db/Db.js';
import { ledgerError } from './errors.js';
import {
  AddressColumn,
  decodeOne,
  decodeOptional,
  decodeRows,
  HexColumn,
  IdColumn,
  Nullable,
  Row,
  SafeIntColumn,
  Uint64Column,
} from './rows.js';
import { assertCount, assertText, assertUint64, normalizeAddress, normalizeSignature } from './values.js';

export type { CheckReport };

const StoredCheckReportRow = Row({
  reportId: IdColumn,
  container: Type.String(),
  round: Uint64Column,
  checker: AddressColumn,
  rttMicros: SafeIntColumn,
  fpsMilli: SafeIntColumn,
  lossPpm: SafeIntColumn,
  ok: Type.Boolean(),
  timestamp: Uint64Column,
  signature: HexColumn,
  inMajority: Nullable(Type.Boolean()),
  receivedAt: Type.Date(),
});
/** A checker's signed report as stored: the EIP-712 fields, its signature, and whether it sided with the majority. */
export type StoredCheckReport = StaticDecode<typeof StoredCheckReportRow>;

const reportColumns = (t = '') => `${t}id as "reportId", ${t}container, ${t}round::text as round,
  ${t}checker_address as checker, ${t}rtt_micros as "rttMicros", ${t}fps_milli as "fpsMilli", ${t}loss_ppm as "lossPpm",
  ${t}ok, ${t}reported_at_sec::text as timestamp, ${t}signature, ${t}in_majority as "inMajority",
  ${t}received_at as "receivedAt"`;
const REPORT_COLUMNS = reportColumns();

const UINT32_MAX = 2 ** 32 - 1;

export type RecordCheckReportParameters = {
  /** Verified by the caller (signaling) before it gets here. */
  report: CheckReport;
  signature: Hex;
};

export type RecordCheckReportReturnType = { report: StoredCheckReport; inserted: boolean };

/**
 * Stores a signed checker report, one per (container, round, checker). The same report again is a no-op; a
 * different report for the same round from the same checker is ATH_ERR_LEDGER_CONFLICT (the first one stays:
 * a checker signing two verdicts for one round is itself evidence).
 */
export async function recordCheckReport(
  db: Queryable,
  { report, signature }: RecordCheckReportParameters,
): Promise<RecordCheckReportReturnType> {
  const container = assertText(report.container, 'report.container', 128);
  const round = assertUint64(report.round, 'report.round');
  const checker = normalizeAddress(report.checker, 'report.checker');
  const rttMicros = assertCount(report.rttMicros, 'report.rttMicros', UINT32_MAX);
  const fpsMilli = assertCount(report.fpsMilli, 'report.fpsMilli', UINT32_MAX);
  const lossPpm = assertCount(report.lossPpm, 'report.lossPpm', UINT32_MAX);
  const timestamp = assertUint64(report.timestamp, 'report.timestamp');
  if (typeof report.ok !== 'boolean') throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'report.ok is not a boolean');
  const sig = normalizeSignature(signature, 'signature');
  return db.transaction(async (tx) => {
    await ensureAccountRoles(tx, [{ address: checker, role: 'checker' }]);
    const { rows } = await tx.query(
      `insert into check_reports (container, round, checker_address, rtt_micros, fps_milli, loss_ppm, ok,
         reported_at_sec, signature)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       on conflict (container, round, checker_address) do nothing
       returning ${REPORT_COLUMNS}`,
      [container, round, checker, rttMicros, fpsMilli, lossPpm, report.ok, timestamp, sig],
    );
    const inserted = decodeOptional(StoredCheckReportRow, rows);
    if (inserted !== undefined) return { report: inserted, inserted: true };
    const stored = decodeOne(
      StoredCheckReportRow,
      (
        await tx.query(
          `select ${REPORT_COLUMNS} from check_reports where container = $1 and round = $2 and checker_address = $3`,
          [container, round, checker],
        )
      ).rows,
    );
    const same =
      stored.signature === sig &&
      stored.ok === report.ok &&
      stored.rttMicros === rttMicros &&
      stored.fpsMilli === fpsMilli &&
      stored.lossPpm === lossPpm &&
      stored.timestamp === timestamp;
    if (!same) {
      throw ledgerError('ATH_ERR_LEDGER_CONFLICT', 'the checker already reported differently for this round', {
        details: `${container} round ${round} ${checker}`,
      });
    }
    return { report: stored, inserted: false };
  });
}

/** What a decided round found: ok, or how it failed (a container down, or below / far below its game's spec). */
export const RoundFinding = Type.Union([
  Type.Literal('ok'),
  Type.Literal('down'),
  Type.Literal('below-spec'),
  Type.Literal('far-below-spec'),
  Type.Literal('fraud'),
]);
export type RoundFinding = StaticDecode<typeof RoundFinding>;

export type RecordRoundVerdictParameters = {
  container: string;
  round: bigint;
  ok: boolean;
  /** The container's provider when the round was decided. */
  providerAddress?: string;
  finding?: RoundFinding;
  /** When it was decided, on the chain's clock (epochs and pay periods are chain time). */
  decidedChainSec?: bigint;
  /** What the container was held to (the game's manifest), as JSON. */
  expected?: Record<string, unknown>;
};

export type RecordRoundVerdictReturnType = {
  ok: boolean;
  /** Checkers whose report agreed with the verdict (credited for rewards). */
  majority: Address[];
  /** Checkers whose report disagreed. */
  minority: Address[];
};

/**
 * Records the majority verdict of a round and marks each report in or out of the majority. Idempotent; a
 * different verdict for a decided round is ATH_ERR_LEDGER_CONFLICT.
 */
export async function recordRoundVerdict(
  db: Queryable,
  { container, round, ok, providerAddress, finding, decidedChainSec, expected }: RecordRoundVerdictParameters,
): Promise<RecordRoundVerdictReturnType> {
  assertText(container, 'container', 128);
  assertUint64(round, 'round');
  const provider = providerAddress === undefined ? null : normalizeAddress(providerAddress, 'providerAddress');
  if (decidedChainSec !== undefined) assertUint64(decidedChainSec, 'decidedChainSec');
  if (finding !== undefined && (finding === 'ok') !== ok) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'the finding contradicts the verdict', { details: finding });
  }
  return db.transaction(async (tx) => {
    if (provider !== null)
      await tx.query('insert into accounts (address) values ($1) on conflict do nothing', [provider]);
    await tx.query(
      `insert into check_rounds (container, round, ok, provider_address, finding, decided_chain_sec, expected)
       values ($1, $2, $3, $4, $5, $6, $7::jsonb) on conflict (container, round) do nothing`,
      [
        container,
        round,
        ok,
        provider,
        finding ?? (ok ? 'ok' : null),
        decidedChainSec ?? null,
        expected === undefined ? null : JSON.stringify(expected),
      ],
    );
    const decided = decodeOne(
      Row({ ok: Type.Boolean() }),
      (await tx.query('select ok from check_rounds where container = $1 and round = $2', [container, round])).rows,
    );
    if (decided.ok !== ok) {
      throw ledgerError('ATH_ERR_LEDGER_CONFLICT', 'the round was already decided the other way', {
        details: `${container} round ${round}`,
      });
    }
    const { rows } = await tx.query(
      `update check_reports set in_majority = (ok = $3) where container = $1 and round = $2
       returning checker_address as checker, in_majority as "inMajority"`,
      [container, round, ok],
    );
    const marked = decodeRows(Row({ checker: AddressColumn, inMajority: Type.Boolean() }), rows);
    const sorted = marked.sort((a, b) => (a.checker < b.checker ? -1 : 1));
    return {
      ok,
      majority: sorted.filter((r) => r.inMajority).map((r) => r.checker),
      minority: sorted.filter((r) => !r.inMajority).map((r) => r.checker),
    };
  });
}

export type ListCheckReportsParameters = { container?: string; round?: bigint; checker?: string; limit?: number };

const CheckRoundRow = Row({
  container: Type.String(),
  round: Uint64Column,
  ok: Type.Boolean(),
  providerAddress: Nullable(AddressColumn),
  finding: Nullable(RoundFinding),
  decidedChainSec: Nullable(Uint64Column),
  expected: Type.Unknown(),
  decidedAt: Type.Date(),
});
/** A decided round: its verdict, what it found and whose container it was. */
export type CheckRound = StaticDecode<typeof CheckRoundRow>;

const ROUND_COLUMNS = `container, round::text as round, ok, provider_address as "providerAddress", finding,
  decided_chain_sec::text as "decidedChainSec", expected, decided_at as "decidedAt"`;

export type ListCheckRoundsParameters = {
  container?: string;
  providerAddress?: string;
  /** Only failing (false) or passing (true) rounds. */
  ok?: boolean;
  limit?: number;
};

/** Decided rounds, newest first. */
export async function listCheckRounds(
  db: Queryable,
  { container, providerAddress, ok, limit = 1000 }: ListCheckRoundsParameters = {},
): Promise<CheckRound[]> {
  assertCount(limit, 'limit', 100_000);
  const { rows } = await db.query(
    `select ${ROUND_COLUMNS} from check_rounds
      where ($1::text is null or container = $1) and ($2::text is null or provider_address = $2)
        and ($3::boolean is null or ok = $3)
      order by decided_at desc, round desc limit $4`,
    [
      container ?? null,
      providerAddress === undefined ? null : normalizeAddress(providerAddress, 'providerAddress'),
      ok ?? null,
      limit,
    ],
  );
  return decodeRows(CheckRoundRow, rows);
}

export async function getCheckRound(db: Queryable, container: string, round: bigint): Promise<CheckRound | undefined> {
  const { rows } = await db.query(`select ${ROUND_COLUMNS} from check_rounds where container = $1 and round = $2`, [
    assertText(container, 'container', 128),
    assertUint64(round, 'round'),
  ]);
  return decodeOptional(CheckRoundRow, rows);
}

/** A checker's report that contradicted its round's confirmed majority, with the majority's reports. */
export type Contradiction = { told: StoredCheckReport; majority: StoredCheckReport[] };

export type ListContradictionsParameters = {
  checker: string;
  /** Rounds decided in [fromChainSec, toChainSec) (chain seconds). */
  fromChainSec: bigint;
  toChainSec: bigint;
};

/** The checker's reports out of the majority in rounds decided in a window, oldest first, each with the majority. */
export async function listContradictions(
  db: Queryable,
  { checker, fromChainSec, toChainSec }: ListContradictionsParameters,
): Promise<Contradiction[]> {
  const address = normalizeAddress(checker, 'checker');
  assertUint64(fromChainSec, 'fromChainSec');
  assertUint64(toChainSec, 'toChainSec');
  const told = decodeRows(
    StoredCheckReportRow,
    (
      await db.query(
        `select ${reportColumns('r.')} from check_reports r
           join check_rounds k on k.container = r.container and k.round = r.round
          where r.checker_address = $1 and r.in_majority = false
            and k.decided_chain_sec >= $2 and k.decided_chain_sec < $3
          order by k.decided_chain_sec, r.id`,
        [address, fromChainSec, toChainSec],
      )
    ).rows,
  );
  const out: Contradiction[] = [];
  for (const report of told) {
    const majority = decodeRows(
      StoredCheckReportRow,
      (
        await db.query(
          `select ${REPORT_COLUMNS} from check_reports where container = $1 and round = $2 and in_majority = true
            order by checker_address`,
          [report.container, report.round],
        )
      ).rows,
    );
    out.push({ told: report, majority });
  }
  return out;
}

export type ListAgreeingCheckersParameters = { fromChainSec: bigint; toChainSec: bigint };

/** Checkers with at least one report that agreed with a confirmed majority in rounds decided in the window. */
export async function listAgreeingCheckers(
  db: Queryable,
  { fromChainSec, toChainSec }: ListAgreeingCheckersParameters,
): Promise<Address[]> {
  const { rows } = await db.query(
    `select distinct r.checker_address as address
       from check_reports r join check_rounds k on k.container = r.container and k.round = r.round
      where r.in_majority = true and k.decided_chain_sec >= $1 and k.decided_chain_sec < $2 order by 1`,
    [assertUint64(fromChainSec, 'fromChainSec'), assertUint64(toChainSec, 'toChainSec')],
  );
  return decodeRows(Row({ address: AddressColumn }), rows).map((row) => row.address);
}

/** The chain time of the first decided round the ledger knows (undefined: none yet). */
export async function earliestRoundChainSec(db: Queryable): Promise<bigint | undefined> {
  const { rows } = await db.query('select min(decided_chain_sec)::text as sec from check_rounds');
  return decodeOne(Row({ sec: Nullable(Uint64Column) }), rows).sec ?? undefined;
}

/** Reports, newest round first, filtered by container, round and/or checker. */
export async function listCheckReports(
  db: Queryable,
  { container, round, checker, limit = 1000 }: ListCheckReportsParameters = {},
): Promise<StoredCheckReport[]> {
  assertCount(limit, 'limit', 100_000);
  const { rows } = await db.query(
    `select ${REPORT_COLUMNS} from check_reports
      where ($1::text is null or container = $1) and ($2::numeric is null or round = $2::numeric)
        and ($3::text is null or checker_address = $3)
      order by round desc, container, checker_address limit $4`,
    [
      container ?? null,
      round === undefined ? null : assertUint64(round, 'round'),
      checker === undefined ? null : normalizeAddress(checker, 'checker'),
      limit,
    ],
  );
  return decodeRows(StoredCheckReportRow, rows);
}
