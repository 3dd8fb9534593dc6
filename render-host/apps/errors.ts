/** Error codes of external games (render-host/apps): grep a code to find its throw. */
export const AppsErrorCode = {
  /** A manifest (built-in or from the provider's directory) does not match the schema. */
  badManifest: 'ATH_ERR_APP_MANIFEST',
  /** No catalogue entry with this id. */
  unknownApp: 'ATH_ERR_UNKNOWN_APP',
  /** The game's binary or a helper (Xvfb, xdotool, pulseaudio, parec) is not installed. */
  missingBinary: 'ATH_ERR_APP_MISSING_BINARY',
  /** No virtual display could be started (Xvfb failed, or no free display number). */
  display: 'ATH_ERR_DISPLAY',
  /** The session's PulseAudio server did not come up. */
  audioServer: 'ATH_ERR_AUDIO_SERVER',
  /** The game could not be started. */
  gameStart: 'ATH_ERR_GAME_START',
  /** The game exited (or was killed) while its session was live. */
  gameCrashed: 'ATH_ERR_GAME_CRASHED',
  /** The game's readiness check did not pass in time (e.g. no non-black frame). */
  gameNotReady: 'ATH_ERR_GAME_NOT_READY',
  /** Screen capture (node-av x11grab) failed to open or to grab. */
  capture: 'ATH_ERR_CAPTURE',
  /** The audio capture (parec on the sink monitor) failed. */
  audioCapture: 'ATH_ERR_AUDIO_CAPTURE',
  /** The xdotool injector could not start or died. */
  input: 'ATH_ERR_INPUT_INJECTOR',
  /** A call on a workload or source that is already closed. */
  closed: 'ATH_ERR_APP_CLOSED',
  /** The provider setup (apt-get) failed. */
  setup: 'ATH_ERR_PROVIDER_SETUP',
} as const;

export type AppsErrorCode = (typeof AppsErrorCode)[keyof typeof AppsErrorCode];

declare module '../../signaling/protocol/AthError.js' {
  interface AthErrorCodes {
    renderHostApps: AppsErrorCode;
  }
}
