// Entry of `/sdk/ath-play.js`, the one self-contained script studios embed: defines `<ath-play>`.
import { defineAthPlay } from './AthPlayElement.js';

defineAthPlay();
