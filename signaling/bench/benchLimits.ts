import type { AdmissionSettings } from '../admission/AdmissionSettings.js';

export type BenchLimits = 'on' | 'off';

export type BenchServerOptions = {
  rpcUrl: string;
  chainId: number;
  stakingAddress: `0x${string}`;
  limits: BenchLimits;
};

const UNLIMITED = 1e12;

/**
 * Admission settings for the bench's one load-generating address. `on`: every limit stays in force (token
 * buckets on every message and upgrade, per-address counts, deadlines), with caps raised to what one address
 * opening 10,000 sockets needs; `off`: nothing is ever refused, for the comparison.
 */
export function benchAdmission(limits: BenchLimits, base: AdmissionSettings): AdmissionSettings {
  if (limits === 'off') {
    return {
      ...base,
      maxConnections: UNLIMITED,
      maxConnectionsPerIp: UNLIMITED,
      upgradesPerIp: { ratePerSec: UNLIMITED, burst: UNLIMITED },
      messagesPerSocket: { ratePerSec: UNLIMITED, burst: UNLIMITED },
      messagesPerIp: { ratePerSec: UNLIMITED, burst: UNLIMITED },
      maxSessionsPerIp: UNLIMITED,
      unpaidEndings: { ...base.unpaidEndings, max: UNLIMITED },
      helloTimeoutMs: 3_600_000,
      registerTimeoutMs: 3_600_000,
    };
  }
  return {
    ...base,
    maxConnections: 50_000,
    maxConnectionsPerIp: 50_000,
    upgradesPerIp: { ratePerSec: 20_000, burst: 20_000 },
    messagesPerIp: { ratePerSec: 100_000, burst: 100_000 },
    maxSessionsPerIp: 50_000,
    unpaidEndings: { ...base.unpaidEndings, max: 50_000 },
  };
}
