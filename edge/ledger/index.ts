// edge/ledger: the source of truth for money-moving state (Postgres: PGlite embedded, or a server via `pg`).
// Repositories take the ledger — or a transaction from `ledger.transaction(tx => …)` — as their first argument.
export { type Account, AccountRole, type EnsureAccountParameters, ensureAccount, getAccount } from './accounts.js';
export {
  type ListCheckReportsParameters,
  listCheckReports,
  type RecordCheckReportParameters,
  type RecordCheckReportReturnType,
  type RecordRoundVerdictParameters,
  type RecordRoundVerdictReturnType,
  recordCheckReport,
  recordRoundVerdict,
  type StoredCheckReport,
} from './checkerReports.js';
export type { Db, DbDriver, Queryable, QueryResult, SqlParam } from './db/Db.js';
export { sqlState, UNIQUE_VIOLATION } from './db/sqlState.js';
export { LEDGER_ERROR_CODES, type LedgerErrorCode } from './errors.js';
export {
  type FeeSplit,
  type JournalAccount,
  type JournalBalanceReturnType,
  type JournalKind,
  type JournalSide,
  type JournalTotals,
  journalBalance,
  journalTotals,
  type SplitFeeReturnType,
  SYSTEM_ACCOUNTS,
  type SystemAccount,
  splitFee,
} from './journal.js';
export {
  type AcquireLeaseParameters,
  type AcquireLeaseReturnType,
  type AssertLeaseHeldParameters,
  acquireLease,
  assertLeaseHeld,
  getLease,
  type Lease,
  type ReleaseLeaseParameters,
  releaseLease,
} from './leases.js';
export { type MigrateReturnType, migrate } from './migrate.js';
export { type Ledger, type OpenLedgerParameters, openLedger } from './openLedger.js';
export {
  type ClaimSettlementBatchParameters,
  claimSettlementBatch,
  type EnqueueSettlementParameters,
  type EnqueueSettlementReturnType,
  enqueueSettlement,
  type ListSettlementsParameters,
  listSettlements,
  type MarkBatchConfirmedParameters,
  type MarkBatchConfirmedReturnType,
  type MarkBatchFailedParameters,
  type MarkBatchFailedReturnType,
  type MarkBatchSentParameters,
  type MarkBatchSentReturnType,
  markBatchConfirmed,
  markBatchFailed,
  markBatchSent,
  type ReconcileSettlementsParameters,
  type ReconcileSettlementsReturnType,
  type RejectedSettlement,
  type RetryFailedSettlementParameters,
  reconcileSettlements,
  retryFailedSettlement,
  type Settlement,
  type SettlementBatch,
  type SettlementItem,
  SettlementState,
} from './outbox.js';
export {
  type CreateSessionParameters,
  type CreateSessionReturnType,
  createSession,
  type EndSessionParameters,
  type EndSessionReturnType,
  endSession,
  getSession,
  type Session,
  type UpdateSessionStateParameters,
  updateSessionState,
} from './sessions.js';
export {
  getSlash,
  type ListSlashesParameters,
  listSlashes,
  type MarkSlashConfirmedParameters,
  type MarkSlashConfirmedReturnType,
  type MarkSlashFailedParameters,
  type MarkSlashSentParameters,
  markSlashConfirmed,
  markSlashFailed,
  markSlashSent,
  type RecordSlashParameters,
  type RecordSlashReturnType,
  recordSlash,
  type Slash,
  SlashState,
} from './slashes.js';
export { getStake, type RecordStakeParameters, recordStake, type Stake, StakeRole } from './stakes.js';
export {
  type CreateStudioParameters,
  type CreateStudioReturnType,
  createStudio,
  findPlayToken,
  findStudioByApiKey,
  getPlayToken,
  getStudio,
  type MintPlayTokenParameters,
  type MintPlayTokenReturnType,
  mintPlayToken,
  type PlayToken,
  type RotateStudioApiKeyParameters,
  rotateStudioApiKey,
  type Studio,
  sessionIdTaken,
} from './studios.js';
export {
  type AccountSummary,
  accountSummary,
  type OpenAuthorization,
  type ProviderEarnings,
  type ProviderEarningsParameters,
  providerEarnings,
  type SessionCharges,
  sessionCharges,
} from './summaries.js';
export {
  type ListUsageTicksParameters,
  listUsageTicks,
  type RecordUsageTickParameters,
  type RecordUsageTickReturnType,
  recordUsageTick,
  type UsageTick,
} from './usageTicks.js';
export {
  latestVoucher,
  type RecordVoucherParameters,
  type RecordVoucherReturnType,
  recordVoucher,
  type Voucher,
} from './vouchers.js';
