/** Error codes of the edge node (CLI, config, stack). Sub-folders (chain, ledger, metering) keep their own. */
export const EdgeErrorCode = {
  /** A setting is missing or invalid (flag, env, config file) (exit status 2). */
  config: 'ATH_ERR_CONFIG',
  /** A role process of the dev stack did not start. */
  roleFailed: 'ATH_ERR_ROLE_FAILED',
  /** The command line is wrong: unknown command or flag, a flag without its value (exit status 2). */
  usage: 'ATH_ERR_USAGE',
  /** A signaling server named by --signaling did not answer (down, wrong address). */
  signalingUnreachable: 'ATH_ERR_SIGNALING_UNREACHABLE',
  /** A signaling server answered with an error or with something that is not ath-edge's API. */
  signalingAnswer: 'ATH_ERR_SIGNALING_ANSWER',
} as const;

export type EdgeErrorCode = (typeof EdgeErrorCode)[keyof typeof EdgeErrorCode];

declare module '../signaling/protocol/AthError.js' {
  interface AthErrorCodes {
    edge: EdgeErrorCode;
  }
}
