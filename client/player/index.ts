// `@ath-edge/player`: the player SDK and `<ath-play>` as an npm package (ESM, with type declarations). Studios
// import from here; the package is built by `npm run build:player` (client/player/buildPlayerPackage.ts).
export {
  AthPlayElement,
  type AthPlayElementEventMap,
  type AthPlayElementEventType,
  defineAthPlay,
} from '../elements/index.js';
export { ClientErrorCode } from '../errors.js';
export {
  AthPlayer,
  type AthPlayerEventMap,
  type AthPlayerEventType,
  type AthPlayerEventUnion,
  type AthPlayerParameters,
  DEFAULT_PLAY_SETTINGS,
  ELEMENT_EVENT_TYPES,
  type EndedData,
  type ErrorData,
  errorMessageFor,
  PLAY_SETTING_NAMES,
  PlayerEndedEvent,
  PlayerErrorEvent,
  PlayerPlayingEvent,
  PlayerQueuedEvent,
  PlayerReadyEvent,
  PlayerSessionEvent,
  PlayerStateEvent,
  type PlayerStateName,
  PlayerStatsEvent,
  type PlayingData,
  type PlayParameters,
  type PlaySettingName,
  type PlaySettings,
  parsePlaySettings,
  type Quality,
  type QueuedData,
  type ReadyData,
  type SessionData,
  type StateData,
  type StatsSample,
} from '../sdk/index.js';
export { ATH_PLAYER_VERSION } from './version.js';
