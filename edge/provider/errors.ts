/** Error codes of `ath-edge provider` (joining the network as a provider). */
export const ProviderErrorCode = {
  /** The stake could not be put up: wrong tier, too little ATH, a reverted transaction. */
  stake: 'ATH_ERR_PROVIDER_STAKE',
} as const;

export type ProviderErrorCode = (typeof ProviderErrorCode)[keyof typeof ProviderErrorCode];

declare module '../../signaling/protocol/AthError.js' {
  interface AthErrorCodes {
    provider: ProviderErrorCode;
  }
}
