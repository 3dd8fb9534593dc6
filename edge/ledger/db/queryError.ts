import type { AthError } from '../../../signaling/protocol/index.js';
import { ledgerError } from '../errors.js';
import { sqlState } from './sqlState.js';

/** Wraps a driver error as ATH_ERR_LEDGER_QUERY, SQLSTATE first in the details (parameters are not logged). */
export function queryError(error: unknown, sql: string): AthError {
  const state = sqlState(error) ?? 'unknown';
  const message = error instanceof Error ? error.message : String(error);
  const statement = sql.replace(/\s+/g, ' ').trim().slice(0, 160);
  return ledgerError('ATH_ERR_LEDGER_QUERY', 'ledger query failed', {
    details: `${state}: ${message} [${statement}]`,
    cause: error,
  });
}
