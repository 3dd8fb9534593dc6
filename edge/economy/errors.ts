/** Error codes of the economy composition (payments, API). Wire codes are used where a player sees them. */
export const EconomyErrorCode = {
  chainRead: 'ATH_ERR_CHAIN_READ',
  /** Stored slash evidence does not match its schema (or cannot be built from a round). */
  slashEvidence: 'ATH_ERR_SLASH_EVIDENCE',
  /** The rewards pool holds less than a payout needs (its escrow earnings included). */
  rewardsUnfunded: 'ATH_ERR_REWARDS_UNFUNDED',
  /** A slasher or rewards key is missing or is the meter's. */
  trustKeys: 'ATH_ERR_TRUST_KEYS',
} as const;

export type EconomyErrorCode = (typeof EconomyErrorCode)[keyof typeof EconomyErrorCode];

declare module '../../signaling/protocol/AthError.js' {
  interface AthErrorCodes {
    economy: EconomyErrorCode;
  }
}
