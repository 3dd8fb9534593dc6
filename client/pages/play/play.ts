/**
 * The play page: game tiles from `/api/games`; choosing one sets `<ath-play game=…>` and the `game` URL
 * parameter (so a reload or a shared link opens the same game).
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
const tiles = element('#games', HTMLDivElement);
const status = element('#games-status', HTMLParagraphElement);
let games: GameListingRecord[] = [];

if (!player) throw new Error('play page: missing <ath-play>');
mountWalletPanel(player);
const fromUrl = new URLSearchParams(location.search).get('game');
if (fromUrl) player.setAttribute('game', fromUrl);

function choose(id: string): void {
  player?.setAttribute('game', id);
  const url = new URL(location.href);
  url.searchParams.set('game', id);
  history.replaceState(null, '', url);
  render();
  player?.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
}

function render(): void {
  const selected = player?.getAttribute('game');
  tiles.replaceChildren(...games.map((game) => renderTile(game, game.id === selected, choose)));
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
  const first = games[0];
  if (!player?.getAttribute('game') && first) choose(first.id);
  else render();
}

void refresh();
setInterval(() => void refresh(), REFRESH_MS);
