/** Error codes of the chain layer. */
export const ChainErrorCode = {
  compile: 'ATH_ERR_CONTRACT_COMPILE',
  anvil: 'ATH_ERR_ANVIL',
  deploy: 'ATH_ERR_DEPLOY',
  config: 'ATH_ERR_CHAIN_CONFIG',
  transaction: 'ATH_ERR_CHAIN_TX',
} as const;

export type ChainErrorCode = (typeof ChainErrorCode)[keyof typeof ChainErrorCode];

declare module '../../signaling/protocol/AthError.js' {
  interface AthErrorCodes {
    chain: ChainErrorCode;
  }
}
