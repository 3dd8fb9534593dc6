import type { Migration } from './Migration.js';

/**
 * A session's terms are fixed on chain by its first redeem, and its last voucher is sent as *final* (issue 12):
 * the redeem that pays it also releases what the session reserved beyond it. A final outbox row may stand at
 * the same amount as an ordinary one already settled (the release of a session whose last charge was settled
 * before it ended), so the amount alone no longer identifies a row. Sessions name the signaling process that
 * meters them, so the sessions of a process that died can be found and closed.
 */
export const m0006SessionRelease: Migration = {
  version: 6,
  name: 'session-release',
  sql: /* sql */ `
alter table settlements add column final boolean not null default false;
alter table settlements drop constraint settlements_session_id_cumulative_wei_key;
create unique index settlements_session_amount on settlements (session_id, cumulative_wei, final);

-- When the chain closed the session (its final voucher, or its expiry, released the reserve).
alter table sessions add column chain_closed_at timestamptz;

-- The signaling process that meters the session (it holds the ledger lease 'signaling:<instance>' while it
-- lives): a session whose process is gone is an orphan, ended and settled by the next process that starts.
alter table sessions add column signaling_instance text check (length(signaling_instance) between 1 and 128);
create index sessions_live_instance on sessions (signaling_instance) where state <> 'ended';
`,
};
