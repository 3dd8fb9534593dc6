/**
 * Who may serve and who may check: a render host's provider must hold at least its tier's minimum stake in a
 * provider tier, a checker at least the checker tier's minimum; how many slots a provider may register in all
 * follows its tier. The minimums are the StakingRegistry's; the slot limits are signaling's settings.
 */
import { formatAth } from '../protocol/index.js';
import type { StakeGate, StakePosition } from './StakeGate.js';
import { StakeTooLowError } from './StakeTooLowError.js';

export type StakeSettings = {
  /** Tiers a render host's provider may be staked in, each with the slots its provider may register in all. */
  hostTiers: Record<string, { maxSlots: number }>;
  /** The tier checkers stake in. */
  checkerTier: string;
};

export const DEFAULT_STAKE_SETTINGS: StakeSettings = {
  hostTiers: {
    software: { maxSlots: 8 },
    'nvidia-consumer': { maxSlots: 32 },
    'nvidia-datacenter': { maxSlots: 128 },
  },
  checkerTier: 'checker',
};

export type StakeRole = 'host' | 'checker';

export type AdmitStakeParameters = {
  gate: StakeGate;
  settings: StakeSettings;
  address: `0x${string}`;
  role: StakeRole;
};

export type AdmitStakeReturnType = {
  position: StakePosition;
  /** Hosts: the slots the provider's tier allows in all (checkers: 0). */
  maxSlots: number;
};

/** Reads the address's stake and refuses it (StakeTooLowError, saying what is missing) unless it may act as `role`. */
export async function admitStake({
  gate,
  settings,
  address,
  role,
}: AdmitStakeParameters): Promise<AdmitStakeReturnType> {
  const position = await gate.read(address);
  const shortfall = await stakeShortfall({ gate, settings, address, role, position });
  if (shortfall) throw shortfall;
  return { position, maxSlots: role === 'host' ? (settings.hostTiers[position.tier ?? '']?.maxSlots ?? 0) : 0 };
}

/** Why `position` does not allow `role` (a StakeTooLowError to throw or show), or undefined when it does. */
export async function stakeShortfall({
  gate,
  settings,
  address,
  role,
  position,
}: AdmitStakeParameters & { position: StakePosition }): Promise<StakeTooLowError | undefined> {
  const what = role === 'host' ? 'a render host’s provider' : 'a checker';
  const allowed = role === 'host' ? Object.keys(settings.hostTiers) : [settings.checkerTier];
  const inRole = position.tier !== undefined && allowed.includes(position.tier);
  if (inRole && position.minStakeWei > 0n && position.stakeWei >= position.minStakeWei) return undefined;
  if (inRole && position.minStakeWei > 0n) {
    return new StakeTooLowError(
      `${address} has ${formatAth(position.stakeWei)} staked in tier ${position.tier}, whose minimum is ${formatAth(position.minStakeWei)}`,
      { tier: position.tier, stakeWei: position.stakeWei, minStakeWei: position.minStakeWei },
    );
  }
  // Not staked in a tier of this role: name the cheapest one it could stake in.
  const minimums = await Promise.all(allowed.map(async (tier) => ({ tier, minWei: await gate.minStake(tier) })));
  const offered = minimums.filter((m) => m.minWei > 0n).sort((a, b) => (a.minWei < b.minWei ? -1 : 1));
  const cheapest = offered[0] ?? { tier: allowed[0], minWei: 0n };
  const where =
    position.tier !== undefined && position.stakeWei > 0n
      ? `${address} is staked in tier ${position.tier}, not in a tier for ${role}s (${allowed.join(', ')}); `
      : `${address} has no stake; `;
  return new StakeTooLowError(
    `${where}${what} needs at least ${formatAth(cheapest.minWei)} staked in tier ${cheapest.tier}`,
    { tier: cheapest.tier, stakeWei: 0n, minStakeWei: cheapest.minWei },
  );
}
