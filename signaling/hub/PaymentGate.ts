import type { PaymentTermsRecord, PeerMessageOf } from '../protocol/index.js';
import type { HostRecord } from '../store/HostRegistry.js';
import type { SessionRecord } from './SessionRecord.js';
import type { Sponsorship } from './Sponsorship.js';

export type PlayTokenRequest = {
  playToken: string;
  game: string;
  /** The page's Origin header on the WebSocket upgrade; undefined when the browser sent none. */
  pageOrigin: string | undefined;
  /** The page is signaling's own (the iframe embed, which is only framed by the token's origin). */
  sameOrigin: boolean;
};

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
  /**
   * Checks a play token before Play (expiry, game, origin, cap, the studio's escrow). Throws AthError with a
   * wire code: ATH_ERR_UNAUTHORIZED, ATH_ERR_TOKEN_EXPIRED, ATH_ERR_ORIGIN_NOT_ALLOWED, ATH_ERR_CAP_EXHAUSTED…
   */
  admitPlayToken?(request: PlayTokenRequest): Promise<Sponsorship>;
  /**
   * The hub session ended while `authorize`/`authorizeSponsored` was recording it (the player quit, the
   * authorization timer fired): nothing was metered, so the recorded session ends with nothing charged and
   * commits nothing of the payer's escrow any more. Idempotent.
   */
  abandoned?(session: SessionRecord): Promise<void>;
  /** Records a leased sponsored session for billing with the studio's stored authorization. */
  authorizeSponsored?(
    session: SessionRecord,
    host: HostRecord,
    sponsorship: Sponsorship,
  ): Promise<{ payerAddress: `0x${string}` }>;
};
