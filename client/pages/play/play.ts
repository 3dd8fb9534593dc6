/**
 * The play page opens on the game library: tiles with a picture each, from `/api/games`. Choosing one shows
 * the stage (`<ath-play game=…>`, above the library) and sets the `game` URL parameter, so a reload or a shared
 * link opens on that game's stage. Nothing is chosen for the visitor: no empty stage before a choice.
 */
import { defineAthPlay } from '../../elements/index.js';
import { errorMessageFor, fetchGames, type GameListingRecord } from '../../sdk/index.js';
import { renderTile } from './gameTiles.js';
import { mountWalletPanel } from './walletPanel.js';

const REFRESH_MS = 5_000;

function element<T extends Element>(selector: string, type: { new (): T }): T {
  const found = document.querySelector(selector);
  if (!(found instanceof type)) throw new Error(`play page: missing ${selector}`);
  return found;
}

defineAthPlay();
const player = document.querySelector('ath-play');
const stage = element('#stage', HTMLElement);
const stageTitle = element('#stage-title', HTMLHeadingElement);
const tiles = element('#games', HTMLDivElement);
const status = element('#games-status', HTMLParagraphElement);
let games: GameListingRecord[] = [];

if (!player) throw new Error('play page: missing <ath-play>');
mountWalletPanel(player);
const fromUrl = new URLSearchParams(location.search).get('game');
if (fromUrl) {
  player.setAttribute('game', fromUrl);
  stage.hidden = false;
}

function choose(id: string): void {
  player?.setAttribute('game', id);
  const url = new URL(location.href);
  url.searchParams.set('game', id);
  history.replaceState(null, '', url);
  stage.hidden = false;
  render();
  stage.scrollIntoView({ behavior: 'smooth', block: 'start' });
}

function render(): void {
  const selected = player?.getAttribute('game');
  tiles.replaceChildren(...games.map((game) => renderTile(game, game.id === selected, choose)));
  if (selected) stageTitle.textContent = games.find((game) => game.id === selected)?.title ?? selected;
}

async function refresh(): Promise<void> {
  try {
    games = await fetchGames((input, init) => fetch(input, init), location.origin);
  } catch {
    status.textContent = errorMessageFor('ATH_ERR_SIGNALING_UNREACHABLE');
    status.dataset['kind'] = 'error';
    status.hidden = false;
    return;
  }
  status.dataset['kind'] = 'info';
  status.textContent =
    games.length === 0 ? 'No render host is online yet. Games appear here as soon as one registers.' : '';
  status.hidden = games.length > 0;
  render();
}

void refresh();
setInterval(() => void refresh(), REFRESH_MS);
