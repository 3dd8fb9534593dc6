/** What the providers page says about the whole network, from `GET /api/hosts` (pure, tested beside it). */
import type { PublicHost } from '../../../signaling/protocol/index.js';

export type NetworkSummary = {
  hostsUp: number;
  hostsTotal: number;
  slotsFree: number;
  slotsTotal: number;
  providers: number;
  stakeWei: bigint;
  /** Per hour of play, over the hosts that are up; undefined when none is. */
  priceMinWeiPerHour: bigint | undefined;
  priceMaxWeiPerHour: bigint | undefined;
};

export function summarizeNetwork(hosts: readonly PublicHost[]): NetworkSummary {
  const up = hosts.filter((host) => host.state === 'up');
  const prices = up.map((host) => BigInt(host.priceWeiPerSec) * 3600n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // A provider's stake is per provider, not per host: count each address once.
  const stakes = new Map<string, bigint>();
  for (const host of hosts) stakes.set(host.providerAddress.toLowerCase(), BigInt(host.stakeWei));
  return {
    hostsUp: up.length,
    hostsTotal: hosts.length,
    slotsFree: up.reduce((sum, host) => sum + host.freeSlots, 0),
    slotsTotal: up.reduce((sum, host) => sum + host.slots, 0),
    providers: stakes.size,
    stakeWei: [...stakes.values()].reduce((sum, stake) => sum + stake, 0n),
    priceMinWeiPerHour: prices[0],
    priceMaxWeiPerHour: prices.at(-1),
  };
}

/** `0x1234…abcd`. */
export function shortAddress(address: string): string {
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}
