/** Signaling's own error codes (wire codes live in `protocol/wireErrorCodes.ts`). */
export const SignalingErrorCode = {
  uwsFallback: 'ATH_ERR_UWS_NOT_NATIVE',
  listen: 'ATH_ERR_SIGNALING_LISTEN',
  badToken: 'ATH_ERR_UNAUTHORIZED',
  tokenExpired: 'ATH_ERR_TOKEN_EXPIRED',
} as const;
