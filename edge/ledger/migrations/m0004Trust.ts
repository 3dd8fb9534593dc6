import type { Migration } from './Migration.js';

/**
 * Earned trust, part 2 (issue 14): the history of checks (rounds with what they found and when, on the chain's
 * clock), slashes as the evidence the StakingRegistry verifies (container downtime/fraud and checker lies), the
 * hosts seen offline, and rewards — reward periods (stakers' weekly epochs, checkers' pay periods) with each
 * operator's allocation and the payout outbox that credits them on chain once.
 */
export const m0004Trust: Migration = {
  version: 4,
  name: 'trust',
  sql: /* sql */ `
-- A round as decided: whose container it was, what the majority found, and when (chain seconds).
alter table check_rounds
  add column provider_address eth_address,
  add column finding text check (finding in ('ok', 'down', 'below-spec', 'far-below-spec', 'fraud')),
  add column decided_chain_sec uint64,
  add column expected jsonb;
create index check_rounds_decided on check_rounds (decided_chain_sec);
create index check_rounds_provider on check_rounds (provider_address);

-- Slashes: of a container (downtime, fraud) or of a checker (lies); a checker without stake is still barred, so
-- the amount (rate × stake unit) may be 0. The chain's Slashed event says where it came from.
alter table slashes drop constraint if exists slashes_amount_wei_check;
alter table slashes
  add column kind text not null default 'downtime' check (kind in ('downtime', 'fraud', 'checker-lie')),
  add column round uint64,
  add column tx_nonce bigint check (tx_nonce >= 0),
  add column attempts integer not null default 0 check (attempts >= 0),
  add column from_rewards_wei wei,
  add column from_stake_wei wei,
  add column from_unbonding_wei wei,
  add column barred_until_sec uint64;
create index slashes_state on slashes (state) where state in ('pending', 'sent');

-- A host seen offline (connection lost, heartbeats missed) while it had no session: no slash, no rewards that epoch.
create table operator_offline (
  id bigint generated always as identity primary key,
  provider_address eth_address not null references accounts (address),
  host_id text not null check (length(host_id) between 1 and 128),
  epoch uint64 not null,
  at_chain_sec uint64 not null,
  reason text not null check (length(reason) between 1 and 256),
  recorded_at timestamptz not null default now()
);
create index operator_offline_epoch on operator_offline (epoch, provider_address);

-- Rewards: 'stakers' periods are weekly epochs (period_key = epoch), 'checkers' periods are pay periods
-- (period_key = start second). fresh_wei is new money from the checker pool; carried_in_wei what earlier periods
-- of the same kind left unallocated (no recipient) or forfeited (skipped on chain).
create table reward_periods (
  kind text not null check (kind in ('stakers', 'checkers')),
  period_key uint64 not null,
  start_sec uint64 not null,
  end_sec uint64 not null,
  fresh_wei wei not null,
  carried_in_wei wei not null,
  pool_wei wei not null,
  allocated_wei wei not null,
  -- checkers periods: the part of the fresh pool money set aside for stakers, and the epoch that took it
  staker_part_wei wei not null default 0,
  staker_epoch uint64,
  recipients integer not null check (recipients >= 0),
  computed_at timestamptz not null default now(),
  primary key (kind, period_key),
  check (end_sec > start_sec),
  check (pool_wei = fresh_wei - staker_part_wei + carried_in_wei),
  check (allocated_wei <= pool_wei)
);

-- Each checker-pool credit of the journal (the fee share a settlement paid into the pool), attributed to the
-- checkers period that was computed first after it arrived: every wei of the pool lands in exactly one period.
create table reward_inflows (
  journal_id bigint primary key references journal (id),
  period_key uint64 not null,
  amount_wei wei not null
);
create index reward_inflows_period on reward_inflows (period_key);

create table reward_payouts (
  id bigint generated always as identity primary key,
  kind text not null check (kind in ('stakers', 'checkers')),
  period_key uint64 not null,
  chunk integer not null check (chunk >= 0),
  total_wei wei not null,
  state text not null default 'pending' check (state in ('pending', 'sent', 'confirmed', 'failed')),
  tx_hash bytes32,
  tx_nonce bigint check (tx_nonce >= 0),
  attempts integer not null default 0 check (attempts >= 0),
  last_error text check (length(last_error) <= 2048),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  confirmed_at timestamptz,
  unique (kind, period_key, chunk),
  foreign key (kind, period_key) references reward_periods (kind, period_key),
  check (state <> 'sent' or tx_hash is not null),
  check ((state = 'confirmed') = (confirmed_at is not null))
);
create index reward_payouts_open on reward_payouts (id) where state in ('pending', 'sent');

create table reward_allocations (
  kind text not null check (kind in ('stakers', 'checkers')),
  period_key uint64 not null,
  operator_address eth_address not null references accounts (address),
  -- stakers: the stake held through the epoch (wei); checkers: reports that agreed with confirmed majorities
  weight numeric(78,0) not null check (weight > 0),
  amount_wei wei not null,
  payout_id bigint not null references reward_payouts (id),
  state text not null default 'pending' check (state in ('pending', 'paid', 'skipped')),
  skip_reason integer,
  primary key (kind, period_key, operator_address),
  foreign key (kind, period_key) references reward_periods (kind, period_key)
);
create index reward_allocations_operator on reward_allocations (operator_address);
create index reward_allocations_payout on reward_allocations (payout_id);

-- Reward credits and debits in the journal: debit system:checker-pool, credit the operator (kind 'reward').
alter table journal drop constraint if exists journal_kind_check;
alter table journal add constraint journal_kind_check
  check (kind in ('charge', 'settlement', 'provider_earning', 'checker_pool', 'treasury', 'slash', 'reward'));
`,
};
