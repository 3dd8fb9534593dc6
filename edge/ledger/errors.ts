import { AthError } from '../../signaling/protocol/index.js';

/**
 * Every error code the ledger throws. Grep a code to find its throw. None of them travel on the wire as
 * they are: the API layer maps the ones a user can act on (cap exhausted, over the authorization) to wire codes.
 */
export const LEDGER_ERROR_CODES = [
  /** The database could not be opened or reached. */
  'ATH_ERR_LEDGER_OPEN',
  /** The ledger was used after `close()`. */
  'ATH_ERR_LEDGER_CLOSED',
  /** A second PGlite ledger on the same data directory in this process. */
  'ATH_ERR_LEDGER_ALREADY_OPEN',
  /** A SQL statement failed (details carry the SQLSTATE). */
  'ATH_ERR_LEDGER_QUERY',
  /** Applying a migration failed. */
  'ATH_ERR_LEDGER_MIGRATION',
  /** An applied migration's SQL differs from the code's: the schema was edited after release. */
  'ATH_ERR_LEDGER_MIGRATION_CHECKSUM',
  /** The database has migrations this code does not know: it was opened by a newer ath-edge. */
  'ATH_ERR_LEDGER_SCHEMA_TOO_NEW',
  /** A row read from the database does not match its schema. */
  'ATH_ERR_LEDGER_BAD_ROW',
  /** A caller passed an invalid value (address, amount, id). */
  'ATH_ERR_LEDGER_BAD_INPUT',
  /** The session, studio, batch or other row named does not exist. */
  'ATH_ERR_LEDGER_NOT_FOUND',
  /** An idempotent write was retried with different content than the first time. */
  'ATH_ERR_LEDGER_CONFLICT',
  /** A usage tick older than the session's latest one, not a retry of a recorded tick. */
  'ATH_ERR_LEDGER_TICK_OUT_OF_ORDER',
  /** The cumulative charge would exceed the player's SessionAuth.maxAmount. */
  'ATH_ERR_LEDGER_OVER_CAP',
  /** The studio play token's spending cap would be exceeded. */
  'ATH_ERR_LEDGER_CAP_EXHAUSTED',
  /** A voucher for more than the recorded usage. */
  'ATH_ERR_LEDGER_VOUCHER_AHEAD',
  /** A state change the state machine does not allow (e.g. an ended session back to streaming). */
  'ATH_ERR_LEDGER_BAD_TRANSITION',
  /** The caller no longer holds the named lease (another process leads now): it must not act as the leader. */
  'ATH_ERR_LEDGER_LEASE_LOST',
  /**
   * A meter's write for a session under a claim (signaling instance, epoch) that is no longer the session's:
   * another process took the session over. The writer must stop metering it.
   */
  'ATH_ERR_LEDGER_FENCED',
  /** The test helper could not start a PostgreSQL server. */
  'ATH_ERR_LEDGER_TEST_POSTGRES',
] as const;

export type LedgerErrorCode = (typeof LEDGER_ERROR_CODES)[number];

declare module '../../signaling/protocol/AthError.js' {
  interface AthErrorCodes {
    ledger: LedgerErrorCode;
  }
}

export type LedgerErrorParameters = { details?: string; cause?: unknown };

export function ledgerError(
  code: LedgerErrorCode,
  shortMessage: string,
  options: LedgerErrorParameters = {},
): AthError {
  return new AthError({ code, shortMessage, details: options.details, cause: options.cause });
}
