/** The render host's own error codes (wire codes live in `signaling/protocol/wireErrorCodes.ts`). */
export const RenderHostErrorCode = {
  /** No video encoder could be opened for the negotiated codec (NVENC and libx264/libvpx all failed). */
  encoderOpen: 'ATH_ERR_ENCODER_OPEN',
  /** The encoder rejected a frame or returned an error while encoding. */
  encode: 'ATH_ERR_ENCODE',
  /** The Opus encoder could not be opened or failed. */
  audioEncoder: 'ATH_ERR_AUDIO_ENCODER',
  /** The session asked for a game this render host does not have. */
  unknownGame: 'ATH_ERR_UNKNOWN_GAME',
  /** A snapshot handed to `restore` does not belong to this game or does not parse. */
  badSnapshot: 'ATH_ERR_BAD_SNAPSHOT',
  /** The session worker crashed, exited, or could not start. */
  sessionWorker: 'ATH_ERR_SESSION_WORKER',
  /** A message between the main thread and a session worker failed validation. */
  workerMessage: 'ATH_ERR_WORKER_MESSAGE',
  /** WebRTC negotiation failed (bad answer, no common codec, ICE candidate rejected). */
  negotiation: 'ATH_ERR_NEGOTIATION',
  /** A call on a session that is already closed. */
  sessionClosed: 'ATH_ERR_SESSION_CLOSED',
  /** Invalid session parameters (bitrate bounds, codec list, ids). */
  badParameters: 'ATH_ERR_SESSION_PARAMETERS',
} as const;

export type RenderHostErrorCode = (typeof RenderHostErrorCode)[keyof typeof RenderHostErrorCode];

declare module '../signaling/protocol/AthError.js' {
  interface AthErrorCodes {
    renderHost: RenderHostErrorCode;
  }
}
