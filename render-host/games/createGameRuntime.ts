import { AthError, type GameInfoRecord } from '../../signaling/protocol/index.js';
import { RenderHostErrorCode } from '../errors.js';
import type { CreateGameRuntimeParameters, GameRuntime } from './GameRuntime.js';
import { NEON_DRIFT_INFO, NeonDrift } from './neonDrift/NeonDrift.js';

type CatalogueEntry = { info: GameInfoRecord; create: (params: CreateGameRuntimeParameters) => GameRuntime };

const CATALOGUE: readonly CatalogueEntry[] = [{ info: NEON_DRIFT_INFO, create: (params) => new NeonDrift(params) }];

/** The games built into every render host (rendered in-process, no external program). */
export const BUILTIN_GAMES: readonly GameInfoRecord[] = CATALOGUE.map((entry) => entry.info);

export type CreateGameRuntimeOptions = CreateGameRuntimeParameters & { game: string };

/** Instantiates a built-in game; throws AthError ATH_ERR_UNKNOWN_GAME for any other id. */
export function createGameRuntime({ game, ...params }: CreateGameRuntimeOptions): GameRuntime {
  const entry = CATALOGUE.find((candidate) => candidate.info.id === game);
  if (!entry) {
    throw new AthError({ code: RenderHostErrorCode.unknownGame, shortMessage: 'no such built-in game', details: game });
  }
  return entry.create(params);
}
