// The built-in games of a render host, behind the GameRuntime seam.
export { BUILTIN_GAMES, type CreateGameRuntimeOptions, createGameRuntime } from './createGameRuntime.js';
export {
  type CreateGameRuntimeParameters,
  GAME_AUDIO_CHANNELS,
  GAME_AUDIO_SAMPLE_RATE,
  type GameInputMessage,
  type GameRuntime,
  type GameSnapshot,
} from './GameRuntime.js';
export { NEON_DRIFT_INFO, NeonDrift } from './neonDrift/NeonDrift.js';
