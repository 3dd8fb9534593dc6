/**
 * The client's own error codes (the browser side). Codes that come from signaling are the wire codes in
 * `signaling/protocol/wireErrorCodes.ts`; both kinds reach the page as `error` events with a human message
 * (`sdk/errorMessages.ts`).
 */
export const ClientErrorCode = {
  /** The browser decodes neither H.264 (constrained baseline) nor VP8: found before contacting the server. */
  codecUnsupported: 'ATH_ERR_CODEC_UNSUPPORTED',
  /** The signaling WebSocket cannot connect, or dropped and did not come back within the reconnect window. */
  signalingUnreachable: 'ATH_ERR_SIGNALING_UNREACHABLE',
  /** An HTTP API call failed (network, status, or a body that does not match its schema). */
  http: 'ATH_ERR_HTTP',
  /** Signaling sent a frame that does not parse as a server message. */
  badServerFrame: 'ATH_ERR_BAD_SERVER_FRAME',
  /** The WebRTC connection to the render host failed or could not be negotiated. */
  webrtc: 'ATH_ERR_WEBRTC_FAILED',
  /** Play was asked for without a game. */
  noGame: 'ATH_ERR_NO_GAME',
  /** The player was closed. */
  closed: 'ATH_ERR_PLAYER_CLOSED',
  /** Signaling offered a session dearer than the player's price ceiling: the wallet did not sign it. */
  priceAboveCeiling: 'ATH_ERR_PRICE_ABOVE_CEILING',
  /** The client bundle could not be built (esbuild). */
  build: 'ATH_ERR_CLIENT_BUILD',
} as const;

export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

declare module '../signaling/protocol/AthError.js' {
  interface AthErrorCodes {
    client: ClientErrorCode;
  }
}
