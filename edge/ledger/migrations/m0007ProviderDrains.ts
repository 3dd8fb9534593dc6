import type { Migration } from './Migration.js';

/**
 * Drains (issue 13): a provider taken out of service by its checkers' confirmed failing verdicts, keyed to its
 * address so that neither a new host id nor a signaling restart lifts it; lifted after passing re-checks
 * (probation). One drain in force per provider; lifted drains stay as history.
 */
export const m0007ProviderDrains: Migration = {
  version: 7,
  name: 'provider-drains',
  sql: /* sql */ `
create table provider_drains (
  id bigint generated always as identity primary key,
  provider_address eth_address not null references accounts (address),
  host_id text not null check (length(host_id) between 1 and 128),
  reason text not null check (length(reason) between 1 and 512),
  round uint64 not null,
  drained_at timestamptz not null default now(),
  probation_passes integer not null default 0 check (probation_passes >= 0),
  lifted_at timestamptz,
  lift_reason text check (length(lift_reason) between 1 and 512),
  check ((lifted_at is null) = (lift_reason is null))
);
create unique index provider_drains_in_force on provider_drains (provider_address) where lifted_at is null;
`,
};
