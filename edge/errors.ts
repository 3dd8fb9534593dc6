/** Error codes of the edge node (CLI, config, stack). Sub-folders (chain, ledger, metering) keep their own. */
export const EdgeErrorCode = {
  config: 'ATH_ERR_CONFIG',
  roleFailed: 'ATH_ERR_ROLE_FAILED',
  usage: 'ATH_ERR_USAGE',
} as const;
