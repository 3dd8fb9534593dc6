/** Signaling's own error codes (wire codes live in `protocol/wireErrorCodes.ts`). */
export const SignalingErrorCode = {
  uwsFallback: 'ATH_ERR_UWS_NOT_NATIVE',
  listen: 'ATH_ERR_SIGNALING_LISTEN',
  badToken: 'ATH_ERR_UNAUTHORIZED',
  tokenExpired: 'ATH_ERR_TOKEN_EXPIRED',
  /** An HTTP request whose body, query or parameters fail the route's schema (400). */
  badRequest: 'ATH_ERR_BAD_REQUEST',
  /** No such route or resource (404). */
  notFound: 'ATH_ERR_NOT_FOUND',
  /** The shared store (Redis) cannot be reached or started. */
  redis: 'ATH_ERR_REDIS',
  /** Tests: the throw-away coturn (signaling/ice/testing) is missing or did not start. */
  testTurn: 'ATH_ERR_TEST_TURN',
} as const;

export type SignalingErrorCode = (typeof SignalingErrorCode)[keyof typeof SignalingErrorCode];

declare module './protocol/AthError.js' {
  interface AthErrorCodes {
    signaling: SignalingErrorCode;
  }
}
