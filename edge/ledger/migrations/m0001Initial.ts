import type { Migration } from './Migration.js';

/**
 * The first ledger schema. Conventions: addresses, hashes and signatures are lowercase hex text with CHECKs;
 * money is numeric(78,0) (uint256 fits); uint64 values (expiry, round, block) are numeric(20,0); times are
 * timestamptz set by the database (now() = transaction start).
 */
export const m0001Initial: Migration = {
  version: 1,
  name: 'initial',
  sql: /* sql */ `
create domain eth_address as text check (value ~ '^0x[0-9a-f]{40}$');
create domain bytes32 as text check (value ~ '^0x[0-9a-f]{64}$');
create domain hex_signature as text check (value ~ '^0x([0-9a-f]{2})+$' and length(value) between 132 and 4098);
create domain wei as numeric(78,0) check (value >= 0 and value < 2::numeric ^ 256);
create domain uint64 as numeric(20,0) check (value >= 0 and value < 2::numeric ^ 64);

-- Wallets known to the ledger and what they do.
create table accounts (
  address eth_address primary key,
  created_at timestamptz not null default now()
);

create table account_roles (
  address eth_address not null references accounts (address),
  role text not null check (role in ('player', 'studio', 'provider', 'checker')),
  created_at timestamptz not null default now(),
  primary key (address, role)
);

-- Studios and their play tokens (issue 8). API keys and tokens are stored as sha256 hex only.
create table studios (
  id text primary key check (id ~ '^st-[0-9a-f]{16}$'),
  owner_address eth_address not null references accounts (address),
  name text not null check (length(name) between 1 and 128),
  api_key_hash text not null unique check (api_key_hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);

create table play_tokens (
  id text primary key check (id ~ '^pt-[0-9a-f]{16}$'),
  token_hash text not null unique check (token_hash ~ '^[0-9a-f]{64}$'),
  studio_id text not null references studios (id),
  game text not null check (game ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  origin text not null check (length(origin) between 1 and 512),
  cap_wei wei not null,
  spent_wei wei not null default 0,
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  check (spent_wei <= cap_wei)
);
create index play_tokens_studio on play_tokens (studio_id);

-- One row per streaming session; the SessionAuth the payer signed, and the running totals.
create table sessions (
  id bytes32 primary key,
  payer_address eth_address not null references accounts (address),      -- SessionAuth.player
  provider_address eth_address not null references accounts (address),   -- SessionAuth.provider
  host_id text not null check (host_id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  game text not null check (game ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  studio_id text references studios (id),
  play_token_id text references play_tokens (id),
  price_wei_per_sec wei not null,                                          -- SessionAuth.pricePerSecond
  auth_max_wei wei not null,                                               -- SessionAuth.maxAmount
  auth_expiry_sec uint64 not null,                                         -- SessionAuth.expiry
  auth_signature hex_signature not null,
  state text not null check (state in ('requested', 'queued', 'leased', 'connecting', 'streaming', 'ended')),
  end_reason text check (end_reason in ('player-quit', 'player-left', 'afk', 'host-lost', 'host-stopped',
    'game-crashed', 'connect-timeout', 'insufficient-funds', 'drained', 'error')),
  end_message text check (length(end_message) <= 512),
  last_tick_index integer check (last_tick_index >= 0),
  delivered_sec bigint not null default 0 check (delivered_sec >= 0),
  cumulative_wei wei not null default 0,
  settled_wei wei not null default 0,                                      -- confirmed on chain
  created_at timestamptz not null default now(),
  started_at timestamptz,
  ended_at timestamptz,
  check (cumulative_wei <= auth_max_wei),
  check (settled_wei <= cumulative_wei),
  check ((state = 'ended') = (ended_at is not null)),
  check ((state = 'ended') = (end_reason is not null))
);
create index sessions_payer on sessions (payer_address);
create index sessions_provider on sessions (provider_address);
create index sessions_open on sessions (payer_address) where state <> 'ended';

-- Metering, every 5 s per live session. A retried tick hits the primary key and changes nothing.
create table usage_ticks (
  session_id bytes32 not null references sessions (id),
  tick_index integer not null check (tick_index >= 0),
  delivered_sec integer not null check (delivered_sec >= 0),
  amount_wei wei not null,
  cumulative_wei wei not null,
  cumulative_delivered_sec bigint not null check (cumulative_delivered_sec >= 0),
  recorded_at timestamptz not null default now(),
  primary key (session_id, tick_index)
);

-- The latest meter-signed cumulative Usage voucher per session; only ever moves up.
create table vouchers (
  session_id bytes32 primary key references sessions (id),
  cumulative_wei wei not null,
  delivered_sec bigint not null check (delivered_sec >= 0),
  meter_address eth_address not null,
  signature hex_signature not null,
  updated_at timestamptz not null default now()
);

-- The outbox: one row per (session, cumulative voucher) to redeem on chain. See outbox.ts for the protocol.
create table settlement_batches (
  id text primary key check (id ~ '^[0-9a-f-]{36}$'),
  claimed_by text not null check (length(claimed_by) <= 128),
  created_at timestamptz not null default now()
);

create table settlements (
  id bigint generated always as identity primary key,
  session_id bytes32 not null references sessions (id),
  cumulative_wei wei not null check (cumulative_wei > 0),
  delivered_sec bigint not null check (delivered_sec >= 0),
  meter_address eth_address not null,
  meter_signature hex_signature not null,
  state text not null default 'pending'
    check (state in ('pending', 'sending', 'sent', 'confirmed', 'failed', 'superseded')),
  batch_id text references settlement_batches (id),             -- the latest batch that claimed it
  attempts integer not null default 0 check (attempts >= 0),
  claimed_by text check (length(claimed_by) <= 128),
  claimed_at timestamptz,
  tx_hash bytes32,
  tx_nonce bigint check (tx_nonce >= 0),
  tx_from eth_address,
  sent_at timestamptz,
  block_number uint64,
  confirmed_at timestamptz,
  last_error text check (length(last_error) <= 2048),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (session_id, cumulative_wei),
  check (state not in ('sending', 'sent') or (batch_id is not null and claimed_at is not null)),
  check (state <> 'sent' or tx_hash is not null),
  check ((state = 'confirmed') = (confirmed_at is not null))
);
-- At most one redeem in flight per session: a second would only be stale on chain.
create unique index settlements_one_in_flight on settlements (session_id) where state in ('sending', 'sent');
create index settlements_pending on settlements (session_id, cumulative_wei) where state = 'pending';
create index settlements_in_flight on settlements (claimed_at) where state in ('sending', 'sent');
create index settlements_batch on settlements (batch_id) where batch_id is not null;

-- Signed checker reports (issue 4), one per (container, round, checker), and the majority verdict per round.
create table check_reports (
  id bigint generated always as identity primary key,
  container text not null check (length(container) between 1 and 128),
  round uint64 not null,
  checker_address eth_address not null references accounts (address),
  rtt_micros bigint not null check (rtt_micros between 0 and 4294967295),
  fps_milli bigint not null check (fps_milli between 0 and 4294967295),
  loss_ppm bigint not null check (loss_ppm between 0 and 4294967295),
  ok boolean not null,
  reported_at_sec uint64 not null,                                          -- CheckReport.timestamp
  signature hex_signature not null,
  in_majority boolean,                                                      -- null until the round is decided
  received_at timestamptz not null default now(),
  unique (container, round, checker_address)
);
create index check_reports_checker on check_reports (checker_address);

create table check_rounds (
  container text not null check (length(container) between 1 and 128),
  round uint64 not null,
  ok boolean not null,
  decided_at timestamptz not null default now(),
  primary key (container, round)
);

-- Stake as last read from the StakingRegistry (the chain is the source of truth for stake).
create table stakes (
  operator_address eth_address primary key references accounts (address),
  role text not null check (role in ('provider', 'checker')),
  amount_wei wei not null,
  tier text check (length(tier) <= 64),
  updated_at timestamptz not null default now()
);

-- Slashes decided by the indexer, with their evidence; one per evidence hash.
create table slashes (
  id bigint generated always as identity primary key,
  operator_address eth_address not null references accounts (address),
  amount_wei wei not null check (amount_wei > 0),
  evidence_hash bytes32 not null unique,
  evidence jsonb not null,
  reason text not null check (length(reason) between 1 and 256),
  container text check (length(container) <= 128),
  state text not null default 'pending' check (state in ('pending', 'sent', 'confirmed', 'failed')),
  tx_hash bytes32,
  slashed_wei wei,                                                          -- what the chain took, once confirmed
  last_error text check (length(last_error) <= 2048),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  confirmed_at timestamptz,
  check (state <> 'sent' or tx_hash is not null),
  check ((state = 'confirmed') = (confirmed_at is not null and slashed_wei is not null)),
  check (slashed_wei <= amount_wei)
);
create index slashes_operator on slashes (operator_address);

-- Double-entry journal: every entry (entry_key) has postings whose debits equal its credits, enforced at
-- commit. Accounts are wallet addresses or system accounts. Append-only.
create table journal (
  id bigint generated always as identity primary key,
  entry_key text not null check (length(entry_key) between 1 and 200),
  kind text not null check (kind in ('charge', 'settlement', 'provider_earning', 'checker_pool', 'treasury', 'slash')),
  account text not null check (account ~ '^(0x[0-9a-f]{40}|system:[a-z-]{1,32})$'),
  side text not null check (side in ('debit', 'credit')),
  amount_wei wei not null check (amount_wei > 0),
  session_id bytes32 references sessions (id),
  created_at timestamptz not null default now(),
  unique (entry_key, account, kind, side)
);
create index journal_account on journal (account, kind);
create index journal_session on journal (session_id) where session_id is not null;

create function journal_entry_balanced() returns trigger language plpgsql as $$
declare
  debits numeric;
  credits numeric;
begin
  select coalesce(sum(amount_wei) filter (where side = 'debit'), 0),
         coalesce(sum(amount_wei) filter (where side = 'credit'), 0)
    into debits, credits
    from journal where entry_key = new.entry_key;
  if debits <> credits then
    raise exception 'journal entry % is unbalanced: debits % credits %', new.entry_key, debits, credits
      using errcode = '23514';
  end if;
  return null;
end $$;

create constraint trigger journal_balanced after insert on journal
  deferrable initially deferred for each row execute function journal_entry_balanced();

create function journal_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'the journal is append-only' using errcode = '42501';
end $$;

create trigger journal_no_update before update or delete on journal
  for each statement execute function journal_append_only();
`,
};
