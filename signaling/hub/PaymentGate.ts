import type { PaymentTermsRecord, PeerMessageOf } from '../protocol/index.js';
import type { HostRecord } from './HostRegistry.js';
import type { SessionRecord } from './SignalingHub.js';

/**
 * What signaling needs from the economy (implemented in edge/, which signaling must not import): the terms
 * a player is asked to authorize for a leased session, and the check of that authorization. Without a gate
 * the network does not bill and sessions need no authorization.
 */
export type PaymentGate = {
  /** How long after the lease the authorization may take before the session ends unpaid. */
  readonly authTimeoutMs: number;
  terms(session: SessionRecord, host: HostRecord): PaymentTermsRecord;
  /**
   * Verifies the signed SessionAuth against the terms and the payer's escrow, and records the session for
   * billing. Throws AthError with a wire code (bad signature, insufficient funds…).
   */
  authorize(
    session: SessionRecord,
    host: HostRecord,
    message: PeerMessageOf<'session-auth'>,
  ): Promise<{ payerAddress: `0x${string}` }>;
};
