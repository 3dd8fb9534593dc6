/** Error codes of the economy composition (payments, API). Wire codes are used where a player sees them. */
export const EconomyErrorCode = {
  chainRead: 'ATH_ERR_CHAIN_READ',
} as const;

export type EconomyErrorCode = (typeof EconomyErrorCode)[keyof typeof EconomyErrorCode];

declare module '../../signaling/protocol/AthError.js' {
  interface AthErrorCodes {
    economy: EconomyErrorCode;
  }
}
