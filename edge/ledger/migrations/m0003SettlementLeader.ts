import type { Migration } from './Migration.js';

/**
 * Settlement that survives faults (issue 12): one settlement leader per meter key, chosen through the database
 * (a lease row with a fencing epoch), and a retry time per outbox row so transient failures back off instead of
 * failing for good.
 */
export const m0003SettlementLeader: Migration = {
  version: 3,
  name: 'settlement-leader',
  sql: /* sql */ `
-- Named leases: one holder at a time, until expires_at (database time). epoch grows at every change of holder
-- (and when a holder comes back after its lease ran out), so a holder can tell it lost the lease in between.
create table ledger_leases (
  name text primary key check (length(name) between 1 and 128),
  holder text not null check (length(holder) between 1 and 128),
  epoch bigint not null check (epoch >= 1),
  expires_at timestamptz not null,
  acquired_at timestamptz not null default now(),
  renewed_at timestamptz not null default now()
);

-- A row put back after a transient failure (RPC down, receipt late, revert) is not claimed before not_before.
alter table settlements add column not_before timestamptz;
drop index settlements_pending;
create index settlements_pending on settlements (session_id, cumulative_wei, not_before) where state = 'pending';
`,
};
