import type { DrainStore, ProviderDrain } from '../../signaling/index.js';
import { type Ledger, liftDrain, listDrainsInForce, recordDrain, setProbationPasses } from '../ledger/index.js';

/** Signaling's drains in the ledger (PGlite or PostgreSQL): a restart finds them in force. */
export function ledgerDrainStore(ledger: Ledger): DrainStore {
  return {
    async active(): Promise<ProviderDrain[]> {
      return (await listDrainsInForce(ledger)).map((drain) => ({
        providerAddress: drain.providerAddress,
        hostId: drain.hostId,
        reason: drain.reason,
        round: drain.round,
        drainedAtMs: drain.drainedAt.getTime(),
        probationPasses: drain.probationPasses,
      }));
    },
    async drain(drain) {
      await recordDrain(ledger, {
        providerAddress: drain.providerAddress,
        hostId: drain.hostId,
        reason: drain.reason,
        round: drain.round,
        drainedAt: new Date(drain.drainedAtMs),
      });
    },
    async probation(providerAddress, passes) {
      await setProbationPasses(ledger, { providerAddress, passes });
    },
    async lift(providerAddress, reason) {
      await liftDrain(ledger, { providerAddress, reason });
    },
  };
}
