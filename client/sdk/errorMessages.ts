/**
 * Human messages for every error a player can meet, by code. The server's own text goes into `details`
 * (for developers); people read these.
 */
import type { AthErrorCode, EndReasonName } from '../../signaling/protocol/index.js';

const MESSAGES: Partial<Record<AthErrorCode, string>> = {
  ATH_ERR_NO_FREE_SLOT: 'No free slot right now. Try again in a moment.',
  ATH_ERR_HOST_LOST: 'The render host was lost. Press Play to start again.',
  ATH_ERR_HOST_REJECTED: 'The render host could not start the game. Press Play to try another.',
  ATH_ERR_CODEC_UNSUPPORTED:
    'This browser cannot decode H.264 or VP8 video, so the stream cannot play here. Try a recent Chrome, Edge or Firefox.',
  ATH_ERR_UNKNOWN_GAME: 'That game is not available right now: no render host serves it.',
  ATH_ERR_ALREADY_PLAYING: 'You already have a game running in another tab or window. Close it there first.',
  ATH_ERR_SIGNALING_UNREACHABLE: 'Cannot reach the ath-edge server. Check your connection.',
  ATH_ERR_PROTOCOL_VERSION: 'This page is out of date for the server. Reload the page.',
  ATH_ERR_UNAUTHORIZED: 'Your play pass was refused. Reload the page to get a new one.',
  ATH_ERR_TOKEN_EXPIRED: 'Your play pass expired. Reload the page to get a new one.',
  ATH_ERR_SESSION_NOT_FOUND: 'That session has already ended. Press Play to start a new one.',
  ATH_ERR_NOT_YOUR_SESSION: 'That session belongs to someone else.',
  ATH_ERR_RATE_LIMITED: 'Too many requests. Wait a moment, then try again.',
  ATH_ERR_INSUFFICIENT_FUNDS: 'The play balance is used up.',
  ATH_ERR_UNPAID_SESSIONS:
    'Several sessions from here ended before payment was authorized. Wait a few minutes, then press Play again.',
  ATH_ERR_CAP_EXHAUSTED: 'This game’s play budget on this site is used up.',
  ATH_ERR_ORIGIN_NOT_ALLOWED: 'This site is not allowed to start this game.',
  ATH_ERR_WEBRTC_FAILED: 'The video connection to the render host failed. Press Play to try again.',
  ATH_ERR_HTTP: 'The ath-edge server did not answer as expected. Try again in a moment.',
  ATH_ERR_BAD_SERVER_FRAME: 'The server sent something this page does not understand. Reload the page.',
  ATH_ERR_NO_GAME: 'Choose a game first.',
  ATH_ERR_PRICE_ABOVE_CEILING: 'The only render host offered costs more than your price limit, so nothing was signed.',
  ATH_ERR_INTERNAL: 'Something went wrong on the server. Try again in a moment.',
};

/** `code` may be one this page does not know (a newer server's): it gets the general message. */
export function errorMessageFor(code: string): string {
  return MESSAGES[code as AthErrorCode] ?? 'Something went wrong. Try again in a moment.';
}

/** Shown while waiting in line. */
export function queuedMessage(position: number): string {
  return `No free slot right now — you are #${position} in line`;
}

/** Why a session ended, when the server gave no text of its own. */
export const END_REASON_MESSAGES: Record<EndReasonName, string> = {
  'player-quit': 'You ended the session.',
  'player-left': 'The session ended because this page left.',
  afk: 'The session ended after a long time without input.',
  'host-lost': 'The render host was lost. Press Play to start again.',
  'host-stopped': 'The render host stopped the session.',
  'game-crashed': 'The game crashed on the render host. Press Play to start again.',
  'connect-timeout': 'The stream could not be connected in time. Press Play to try again.',
  'insufficient-funds': 'The play balance is used up.',
  drained: 'The render host was taken out of service. Press Play to start again.',
  error: 'The session ended because of an error.',
};
