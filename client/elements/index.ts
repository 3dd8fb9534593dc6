// `<ath-play>`: the web component built on the SDK. Pages import from here.
export {
  AthPlayElement,
  type AthPlayElementEventMap,
  type AthPlayElementEventType,
  defineAthPlay,
} from './AthPlayElement.js';
export { formatStats } from './formatStats.js';
