/**
 * Whether a render host that proved its provider's wallet may join, and under which id: its price within the
 * network's bounds, its probe endpoint on its own address, its provider staked in a provider tier, its slots
 * within what the tier allows the provider in all, a probe reserve beyond them (checkers' probes never wait for a
 * free slot). Cheap checks first; the stake is one read of the registry.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { normalizeIp } from '../admission/ipAddress.js';
import { AthError, boundHostId, formatAth, type PeerMessageOf, weiFromString } from '../protocol/index.js';
import type { HostStore } from '../store/SignalingStore.js';
import type { StakeGate, StakePosition } from './StakeGate.js';
import { admitStake, type StakeSettings } from './stakePolicy.js';

export type HostAdmissionSettings = {
  /** Prices a host may ask, in wei per second (inclusive). */
  priceBoundsWeiPerSec: { min: bigint; max: bigint };
  /** The probe URL must name the address the host connects from (its own), by IP or by a name resolving to it. */
  probeUrlMustMatchPeer: boolean;
  stake: StakeSettings;
};

export type AdmitHostParameters = {
  message: PeerMessageOf<'register'>;
  /** The address of the host's signaling connection. */
  remoteIp: string;
  settings: HostAdmissionSettings;
  stakes: StakeGate;
  hosts: HostStore;
};

export type AdmitHostReturnType = { hostId: string; position: StakePosition };

export async function admitHost({
  message,
  remoteIp,
  settings,
  stakes,
  hosts,
}: AdmitHostParameters): Promise<AdmitHostReturnType> {
  const provider = message.providerAddress.toLowerCase() as `0x${string}`;
  const hostId = message.hostId;
  if (boundHostId(hostId, provider) !== hostId) {
    throw new AthError({
      code: 'ATH_ERR_HOST_ID_UNBOUND',
      shortMessage: `host id ${hostId} is not bound to ${provider}: register as ${boundHostId(hostId, provider)}`,
    });
  }
  if ((message.probeReserve ?? 0) < 1) {
    // Else a host that keeps its every slot busy (a colluder in it costs it little more than the network's fee)
    // could never be probed: its checks would all be inconclusive and its players' disputes never sampled.
    throw new AthError({
      code: 'ATH_ERR_NO_PROBE_RESERVE',
      shortMessage:
        'a host must keep a probe reserve (register with probeReserve: 1): one session beyond its slots that checkers probe it in when every slot is busy',
    });
  }
  const price = weiFromString(message.priceWeiPerSec);
  const { min, max } = settings.priceBoundsWeiPerSec;
  if (price < min || price > max) {
    throw new AthError({
      code: 'ATH_ERR_PRICE_OUT_OF_BOUNDS',
      shortMessage: `price ${price} wei/s is outside this network's bounds: ${min}–${max} wei/s (${formatAth(min * 3600n)}–${formatAth(max * 3600n)} per hour)`,
    });
  }
  if (settings.probeUrlMustMatchPeer) await assertOwnProbeUrl(message.endpoints.probeUrl, remoteIp);
  const { position, maxSlots } = await admitStake({
    gate: stakes,
    settings: settings.stake,
    address: provider,
    role: 'host',
  });
  // Slots of the provider's other live hosts (a re-registration of this one replaces its own).
  const registered = hosts.providerSlots(provider, hostId);
  if (registered + message.slots > maxSlots) {
    throw new AthError({
      code: 'ATH_ERR_SLOTS_EXCEEDED',
      shortMessage: `tier ${position.tier} allows a provider ${maxSlots} slots in all; ${registered} are registered and this host asks ${message.slots}`,
    });
  }
  return { hostId, position };
}

/** The probe URL is a ws/wss URL on the host's own address (players measure RTT to it before a lease). */
async function assertOwnProbeUrl(probeUrl: string, remoteIp: string): Promise<void> {
  const refuse = (why: string) =>
    new AthError({ code: 'ATH_ERR_BAD_PROBE_URL', shortMessage: `probeUrl ${probeUrl.slice(0, 200)}: ${why}` });
  let url: URL;
  try {
    url = new URL(probeUrl);
  } catch {
    throw refuse('not a URL');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw refuse('must be ws:// or wss://');
  if (url.username || url.password) throw refuse('must not carry credentials');
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  const own = normalizeIp(remoteIp);
  if (isIP(hostname)) {
    if (normalizeIp(hostname) !== own) throw refuse(`must be this host's own address (${own})`);
    return;
  }
  const addresses = await lookup(hostname, { all: true }).catch(() => []);
  if (!addresses.some((a) => normalizeIp(a.address) === own)) {
    throw refuse(`${hostname} does not resolve to this host's own address (${own})`);
  }
}
