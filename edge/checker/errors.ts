/** The checker node's own error codes (wire codes live in `signaling/protocol/wireErrorCodes.ts`). */
export const CheckerErrorCode = {
  /** The probe could not be answered or measured (bad offer, channel not open, no pong). */
  probe: 'ATH_ERR_PROBE',
  /** Signaling refused the checker's registration or is not an ath-edge signaling server. */
  registration: 'ATH_ERR_CHECKER_REGISTRATION',
} as const;

export type CheckerErrorCode = (typeof CheckerErrorCode)[keyof typeof CheckerErrorCode];

declare module '../../signaling/protocol/AthError.js' {
  interface AthErrorCodes {
    checker: CheckerErrorCode;
  }
}
