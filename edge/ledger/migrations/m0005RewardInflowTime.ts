import type { Migration } from './Migration.js';

/**
 * A checker-pool credit belongs to the pay period in which it arrived, on the chain's clock: the rewards job
 * stamps each new credit with the chain time it first saw it (every pass), and a period takes the credits stamped
 * inside it — so a node that catches up over several periods at once still pays each period its own money.
 */
export const m0005RewardInflowTime: Migration = {
  version: 5,
  name: 'reward-inflow-time',
  sql: /* sql */ `
alter table reward_inflows
  add column arrived_chain_sec uint64,
  alter column period_key drop not null;
create index reward_inflows_unassigned on reward_inflows (arrived_chain_sec) where period_key is null;
`,
};
