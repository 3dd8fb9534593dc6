import type { Migration } from './Migration.js';

/**
 * Fencing of the meter's writes (issue 12: a Redis partition in which two signaling processes meter one session).
 * A session's meter claim is `(signaling_instance, meter_epoch)`: every take-over (another instance adopting the
 * session, an orphan sweep) bumps the epoch, and each money-moving write of the meter — a usage tick, a voucher,
 * a settlement, the session's end — names the claim it was made under, checked in its own transaction, so a
 * process that lost the session is refused. `metered_until_ms` is the meter's clock at the end of the last
 * recorded tick: the process that takes over bills from there, never again over time already billed.
 * `usage_ticks.meter_epoch` keeps which claim wrote each tick.
 */
export const m0008MeterFencing: Migration = {
  version: 8,
  name: 'meter-fencing',
  sql: /* sql */ `
alter table sessions add column meter_epoch bigint not null default 1 check (meter_epoch >= 1);
alter table sessions add column metered_until_ms bigint check (metered_until_ms >= 0);
alter table usage_ticks add column meter_epoch bigint check (meter_epoch >= 1);
`,
};
