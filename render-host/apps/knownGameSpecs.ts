import type { GameInfoRecord } from '../../signaling/protocol/index.js';
import { BUILTIN_GAMES } from '../games/index.js';
import { appGameInfo } from './AppManifest.js';
import { loadAppCatalogue } from './loadAppCatalogue.js';

export type GameSpec = { width: number; height: number; fps: number };

/**
 * The size and rate of every game whose manifest ships with ath-edge (the built-in games and the catalogue of
 * Linux games), by id: what checkers hold a container to, whatever the container declares when it registers.
 * A provider's own manifests (`renderHost.appsDir`) are not known to signaling: those games are held to what
 * their host declares.
 */
export async function knownGameSpecs(): Promise<Record<string, GameSpec>> {
  const games: GameInfoRecord[] = [...BUILTIN_GAMES, ...(await loadAppCatalogue()).map(appGameInfo)];
  return Object.fromEntries(games.map((game) => [game.id, { width: game.width, height: game.height, fps: game.fps }]));
}
