/**
 * The iframe embed (`/embed/:game?token=…`): one `<ath-play>` filling the frame, playing with the studio's play
 * token, and reporting its events to the parent page with `postMessage` — to the token's allowed origin only
 * (signaling writes it into the page and also forbids any other origin to frame it, CSP frame-ancestors).
 * With a token it plays only when framed (so: by the token's origin); opened on its own it refuses.
 *
 * Messages: `{ source: 'ath-play', type, data }`, type ∈ ready | queued | playing | stats | ended | error.
 * The parent may send `{ source: 'ath-play', command: 'play' | 'quit' }` (from the allowed origin only).
 */
import { defineAthPlay } from '../../elements/index.js';
import { allowedOriginOf, gameFromPath } from './embedTarget.js';

const EMBED_EVENT_TYPES = ['ready', 'queued', 'playing', 'stats', 'ended', 'error'] as const;

function main(): void {
  defineAthPlay();
  const params = new URLSearchParams(location.search);
  const allowedOrigin = allowedOriginOf(
    document.querySelector('meta[name="ath-allowed-origin"]')?.getAttribute('content'),
  );
  const element = document.createElement('ath-play');
  const game = gameFromPath(location.pathname) ?? params.get('game');
  if (game) element.setAttribute('game', game);
  const token = params.get('token');
  const parentWindow = window.parent !== window ? window.parent : undefined;
  if (token && !parentWindow) {
    // A play token is bound to its studio's page: here that means framed by it (CSP frame-ancestors lets only
    // the token's origin frame this page). Opened in a window of its own — another site sending its visitors
    // here — the page is signaling's own origin, which the server's origin check lets through: refused here.
    const refused = document.createElement('p');
    refused.className = 'embed-refused';
    refused.textContent = allowedOrigin
      ? `This game plays only inside ${allowedOrigin}.`
      : 'This play token is unknown or no longer valid.';
    document.body.append(refused);
    return;
  }
  if (token) element.setAttribute('token', token);
  for (const name of ['quality', 'muted', 'codec', 'stats'] as const) {
    const value = params.get(name);
    if (value !== null) element.setAttribute(name, value);
  }
  if (parentWindow && allowedOrigin) {
    for (const type of EMBED_EVENT_TYPES) {
      element.addEventListener(type, (event) => {
        // Structured clone of plain data only (the event object itself cannot cross windows).
        const data: unknown = JSON.parse(JSON.stringify((event as Event & { data?: unknown }).data ?? null));
        parentWindow.postMessage({ source: 'ath-play', type, data }, allowedOrigin);
      });
    }
    window.addEventListener('message', (event: MessageEvent) => {
      if (event.origin !== allowedOrigin || event.source !== parentWindow) return;
      const command = (event.data as { source?: unknown; command?: unknown } | null)?.command;
      if (command === 'play') element.play();
      else if (command === 'quit') element.quit();
    });
  }
  document.body.append(element);
}

if (typeof document !== 'undefined') main();
