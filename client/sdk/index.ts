// The player SDK: streams, no widgets. `<ath-play>` (client/elements) and the pages use only these exports.
export { AthPlayer, type AthPlayerParameters, type PlayParameters, RECONNECT_WINDOW_MS } from './AthPlayer.js';
export { type CodecPreference, decodableCodecs, orderCodecs } from './codecs.js';
export type { AthPlayerDiagnostics, DiagnosticEvent } from './diagnostics.js';
export { END_REASON_MESSAGES, errorMessageFor, queuedMessage } from './errorMessages.js';
export type { PresentedFrameMark } from './frameMarks/FrameMarkMatcher.js';
export type { InputToPhotonSample } from './frameMarks/InputToPhotonMeter.js';
export type { PresentedFrame } from './frameMarks/PresentedFrameWatcher.js';
export { type FetchLike, fetchGames, type GameListingRecord } from './httpApi.js';
export {
  DEFAULT_PLAY_SETTINGS,
  PLAY_SETTING_NAMES,
  type PlaySettingName,
  type PlaySettings,
  parsePlaySettings,
  type Quality,
} from './PlaySettings.js';
export {
  type AthPlayerEventMap,
  type AthPlayerEventType,
  type AthPlayerEventUnion,
  cloneAthPlayerEvent,
  ELEMENT_EVENT_TYPES,
  type EndedData,
  type ErrorData,
  type FrameMarkData,
  PlayerEndedEvent,
  PlayerErrorEvent,
  PlayerFrameMarkEvent,
  PlayerPlayingEvent,
  PlayerQueuedEvent,
  PlayerReadyEvent,
  PlayerSessionEvent,
  PlayerStateEvent,
  type PlayerStateName,
  PlayerStatsEvent,
  type PlayingData,
  type QueuedData,
  type ReadyData,
  type SessionData,
  type StateData,
  TypedEventTarget,
} from './playerEvents.js';
export type { StatsSample } from './stats/statsMath.js';
export {
  type AccountView,
  type ChainInfo,
  type ChargesView,
  fetchAccount,
  fetchChainInfo,
  fetchCharges,
} from './wallet/chainApi.js';
export { burnerWallet, injectedWallet, type PlayerWallet, type SignedSessionAuth } from './wallet/PlayerWallet.js';
