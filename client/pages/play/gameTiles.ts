/** The game tiles of the play page, built with DOM APIs (server text goes in as text, never as HTML). */
import type { GameListingRecord } from '../../sdk/index.js';
import { gameArtUrl } from './gameArt.js';

export type Availability = { text: string; kind: 'free' | 'busy' | 'offline' };

export function availability(game: Pick<GameListingRecord, 'hostsUp' | 'freeSlots'>): Availability {
  if (game.hostsUp === 0) return { text: 'Offline', kind: 'offline' };
  if (game.freeSlots === 0) return { text: 'All slots busy · you will queue', kind: 'busy' };
  return { text: `${game.freeSlots} free slot${game.freeSlots === 1 ? '' : 's'}`, kind: 'free' };
}

export function describeGame(game: GameListingRecord): string {
  const controls = game.inputMode === 'relative' ? 'mouse look' : 'keyboard · mouse · gamepad';
  return `${game.width}×${game.height} · ${game.fps} fps · ${controls}${game.audio ? ' · sound' : ''}`;
}

export function renderTile(
  game: GameListingRecord,
  selected: boolean,
  onChoose: (id: string) => void,
): HTMLButtonElement {
  const tile = document.createElement('button');
  tile.type = 'button';
  tile.className = 'tile';
  tile.dataset['game'] = game.id;
  tile.setAttribute('aria-pressed', String(selected));
  // The picture first: the library is what the page opens on (the title below says what it is, so alt="").
  const art = document.createElement('img');
  art.className = 'tile-art';
  art.src = gameArtUrl(game);
  art.alt = '';
  art.width = 320;
  art.height = 180;
  art.decoding = 'async';
  tile.append(art);
  const part = (className: string, text: string) => {
    const element = document.createElement('span');
    element.className = className;
    element.textContent = text;
    tile.append(element);
    return element;
  };
  part('tile-title', game.title);
  part('tile-description', game.description);
  part('tile-meta', describeGame(game));
  const state = availability(game);
  part('badge', state.text).dataset['kind'] = state.kind;
  tile.addEventListener('click', () => onChoose(game.id));
  return tile;
}
