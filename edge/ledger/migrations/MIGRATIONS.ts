import type { Migration } from './Migration.js';
import { m0001Initial } from './m0001Initial.js';
import { m0002PlayTokenAuth } from './m0002PlayTokenAuth.js';
import { m0003SettlementLeader } from './m0003SettlementLeader.js';
import { m0004Trust } from './m0004Trust.js';
import { m0005RewardInflowTime } from './m0005RewardInflowTime.js';
import { m0006SessionRelease } from './m0006SessionRelease.js';
import { m0007ProviderDrains } from './m0007ProviderDrains.js';
import { m0008MeterFencing } from './m0008MeterFencing.js';

/** Every migration, in version order. Append new ones; never edit or reorder applied ones. */
export const MIGRATIONS: readonly Migration[] = [
  m0001Initial,
  m0002PlayTokenAuth,
  m0003SettlementLeader,
  m0004Trust,
  m0005RewardInflowTime,
  m0006SessionRelease,
  m0007ProviderDrains,
  m0008MeterFencing,
];
