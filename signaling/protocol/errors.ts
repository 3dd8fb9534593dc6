/** Error codes of the wire formats themselves that never travel as a reply (wire replies: `wireErrorCodes.ts`). */
export const ProtocolErrorCode = {
  /** A data-channel input message does not decode (short, unknown kind, bad field). */
  badInput: 'ATH_ERR_BAD_INPUT',
  /** A wei amount is not a decimal string in uint256 range. */
  badAmount: 'ATH_ERR_BAD_AMOUNT',
} as const;

export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];
