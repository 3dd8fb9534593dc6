import type { Queryable } from '../db/Db.js';

/** Empties every ledger table (not the migrations record): for tests that need a clean outbox or journal. */
export async function resetLedger(db: Queryable): Promise<void> {
  await db.exec(`truncate table journal, slashes, stakes, check_rounds, check_reports, settlements, settlement_batches, vouchers,
    usage_ticks, sessions, play_tokens, studios, account_roles, accounts restart identity cascade`);
}
