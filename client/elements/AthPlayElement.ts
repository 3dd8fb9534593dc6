/**
 * `<ath-play>`: the play button studios embed, and the player of our own play page. Shadow DOM, no framework;
 * built only on the SDK's exports (`client/sdk/index.ts`).
 *
 * Attributes (also URL parameters, except token and server — see PlaySettings):
 *   game         the game id to play
 *   token        a studio play token (optional; otherwise an anonymous player token is fetched)
 *   quality      auto | low | medium | high | smooth: 540p60, 720p60 (= auto), 1080p60, 720p120 (built-in games)
 *   muted        start without sound
 *   codec        auto | h264 | vp8 (vp8: prefer VP8)
 *   stats        show the stats overlay
 *   server       signaling base URL (default: where this script came from)
 *   diagnostics  off: no window.__athPlayer
 *   relay        stream through the network's TURN relay only (needs a TURN server in signaling's config)
 * Events (bubbling, composed; `event.data` — also `event.detail`): ready, queued, playing, stats, ended, error.
 */

import { formatAthPerHour } from '../../signaling/protocol/money.js';
import {
  AthPlayer,
  type AthPlayerEventMap,
  cloneAthPlayerEvent,
  ELEMENT_EVENT_TYPES,
  type ErrorData,
  PLAY_SETTING_NAMES,
  type PlayerStateName,
  type PlaySettings,
  parsePlaySettings,
  queuedMessage,
} from '../sdk/index.js';
import { ATH_PLAY_STYLES } from './athPlayStyles.js';
import { formatStats } from './formatStats.js';

export type AthPlayElementEventType = (typeof ELEMENT_EVENT_TYPES)[number];
export type AthPlayElementEventMap = Pick<AthPlayerEventMap, AthPlayElementEventType>;

/** Where this script was loaded from: a studio page talks to the server that served `ath-play.js`. */
const SCRIPT_ORIGIN: string | undefined = (() => {
  const script = typeof document === 'undefined' ? null : document.currentScript;
  return script instanceof HTMLScriptElement && script.src ? new URL(script.src).origin : undefined;
})();

/** Settings that need a new AthPlayer when they change (the others apply to the live one). */
const PLAYER_SETTINGS: ReadonlySet<string> = new Set(['token', 'server', 'codec', 'diagnostics', 'quality', 'relay']);

const TEMPLATE = `
<style>${ATH_PLAY_STYLES}</style>
<div class="stage" part="stage">
  <video part="video" playsinline></video>
  <div class="overlay" part="overlay">
    <div class="spinner" hidden></div>
    <button class="play" part="play-button" type="button">▶ Play</button>
    <p class="status" part="status" role="status" aria-live="polite"></p>
  </div>
  <div class="notice" role="alert" hidden></div>
  <div class="toolbar" part="toolbar">
    <button class="unmute" type="button" hidden>🔇 Unmute</button>
    <button class="stats-toggle" type="button" aria-pressed="false" title="Show stream statistics">Stats</button>
    <button class="fullscreen" type="button" title="Fullscreen">Fullscreen</button>
    <button class="quit" type="button" title="End the session" hidden>Quit</button>
  </div>
  <pre class="stats" part="stats" hidden></pre>
  <div class="touchpad" part="touchpad" hidden aria-label="On-screen gamepad">
    <div class="dpad">
      <button type="button" data-key="ArrowUp" class="up" aria-label="Up">▲</button>
      <button type="button" data-key="ArrowLeft" class="left" aria-label="Left">◀</button>
      <button type="button" data-key="ArrowRight" class="right" aria-label="Right">▶</button>
      <button type="button" data-key="ArrowDown" class="down" aria-label="Down">▼</button>
    </div>
    <div class="actions">
      <button type="button" data-key="Enter" class="b" aria-label="B (Enter)">B</button>
      <button type="button" data-key="Space" class="a" aria-label="A (Space)">A</button>
    </div>
  </div>
</div>`;

/**
 * Whether this device is driven by touch (a phone or tablet): the on-screen gamepad then shows while playing.
 * A coarse primary pointer, or touch points with no fine pointer at all.
 */
function touchDevice(): boolean {
  if (typeof matchMedia !== 'function') return false;
  return (
    matchMedia('(pointer: coarse)').matches || (navigator.maxTouchPoints > 0 && !matchMedia('(pointer: fine)').matches)
  );
}

function query<T extends Element>(root: ParentNode, selector: string, type: { new (): T }): T {
  const element = root.querySelector(selector);
  if (!(element instanceof type)) throw new Error(`ath-play: missing ${selector}`);
  return element;
}

export class AthPlayElement extends HTMLElement {
  static readonly observedAttributes = [...PLAY_SETTING_NAMES];

  readonly #root: ShadowRoot;
  readonly #stage: HTMLDivElement;
  readonly #video: HTMLVideoElement;
  readonly #overlay: HTMLDivElement;
  readonly #spinner: HTMLDivElement;
  readonly #playButton: HTMLButtonElement;
  readonly #status: HTMLParagraphElement;
  readonly #notice: HTMLDivElement;
  readonly #unmuteButton: HTMLButtonElement;
  readonly #statsToggle: HTMLButtonElement;
  readonly #fullscreenButton: HTMLButtonElement;
  readonly #quitButton: HTMLButtonElement;
  readonly #statsPanel: HTMLPreElement;
  readonly #touchpad: HTMLDivElement;
  #player: AthPlayer | undefined;
  #playerUnsubscribes: Array<() => void> = [];
  #settings: PlaySettings | undefined;
  #showStats = false;
  #queuePosition = 0;
  /** The price of the session being started (shown before the wallet signs anything). */
  #priceWeiPerSec: bigint | undefined;
  #message: { text: string; kind: 'info' | 'error' | 'queued' } | undefined;
  #noticeTimer: ReturnType<typeof setTimeout> | undefined;

  /** Typed for the player's events (`playing`, `ended`, … with their `data`), as for any element event. */
  override addEventListener<K extends AthPlayElementEventType>(
    type: K,
    listener: (this: AthPlayElement, event: AthPlayElementEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener<K extends keyof HTMLElementEventMap>(
    type: K,
    listener: (this: AthPlayElement, event: HTMLElementEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | ((event: Event) => unknown),
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener as EventListenerOrEventListenerObject, options);
  }

  override removeEventListener<K extends AthPlayElementEventType>(
    type: K,
    listener: (this: AthPlayElement, event: AthPlayElementEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener<K extends keyof HTMLElementEventMap>(
    type: K,
    listener: (this: AthPlayElement, event: HTMLElementEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | ((event: Event) => unknown),
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener as EventListenerOrEventListenerObject, options);
  }

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: 'open', delegatesFocus: false });
    this.#root.innerHTML = TEMPLATE;
    this.#stage = query(this.#root, '.stage', HTMLDivElement);
    this.#video = query(this.#root, 'video', HTMLVideoElement);
    this.#overlay = query(this.#root, '.overlay', HTMLDivElement);
    this.#spinner = query(this.#root, '.spinner', HTMLDivElement);
    this.#playButton = query(this.#root, '.play', HTMLButtonElement);
    this.#status = query(this.#root, '.status', HTMLParagraphElement);
    this.#notice = query(this.#root, '.notice', HTMLDivElement);
    this.#unmuteButton = query(this.#root, '.unmute', HTMLButtonElement);
    this.#statsToggle = query(this.#root, '.stats-toggle', HTMLButtonElement);
    this.#fullscreenButton = query(this.#root, '.fullscreen', HTMLButtonElement);
    this.#quitButton = query(this.#root, '.quit', HTMLButtonElement);
    this.#statsPanel = query(this.#root, '.stats', HTMLPreElement);
    this.#touchpad = query(this.#root, '.touchpad', HTMLDivElement);
    this.#wireTouchpad();

    this.#playButton.addEventListener('click', () => this.play());
    this.#unmuteButton.addEventListener('click', () => {
      this.#player?.unmute();
      this.#render();
      this.focus();
    });
    this.#statsToggle.addEventListener('click', () => {
      this.#showStats = !this.#showStats;
      this.#render();
      this.focus();
    });
    this.#fullscreenButton.addEventListener('click', () => this.toggleFullscreen());
    this.#quitButton.addEventListener('click', () => this.quit());
  }

  /**
   * The on-screen gamepad: each button holds its key (`data-key`, a KeyboardEvent.code) down while a finger is on
   * it — pointer capture keeps the release even when the finger slides off — so it drives the game exactly as the
   * keyboard does. Several buttons can be held at once (one pointer each).
   */
  #wireTouchpad(): void {
    for (const button of this.#touchpad.querySelectorAll<HTMLButtonElement>('button[data-key]')) {
      const code = button.dataset['key'] ?? '';
      const pointers = new Set<number>();
      const release = (event: PointerEvent) => {
        if (!pointers.delete(event.pointerId) || pointers.size > 0) return;
        button.classList.remove('pressed');
        this.#player?.pressKey(code, false);
      };
      button.addEventListener('pointerdown', (event) => {
        event.preventDefault();
        button.setPointerCapture(event.pointerId);
        pointers.add(event.pointerId);
        if (pointers.size > 1) return;
        button.classList.add('pressed');
        this.#player?.pressKey(code, true);
      });
      button.addEventListener('pointerup', release);
      button.addEventListener('pointercancel', release);
      button.addEventListener('lostpointercapture', release);
      button.addEventListener('contextmenu', (event) => event.preventDefault());
    }
  }

  // ---- public surface ----------------------------------------------------------------------------------

  get game(): string | undefined {
    return this.#settings?.game;
  }

  set game(value: string | undefined) {
    if (value) this.setAttribute('game', value);
    else this.removeAttribute('game');
  }

  /** The SDK player behind the element (undefined while disconnected from the document). */
  get player(): AthPlayer | undefined {
    return this.#player;
  }

  get state(): PlayerStateName {
    return this.#player?.state ?? 'idle';
  }

  /** Starts the chosen game (what the Play button does; call it from a user gesture for sound). */
  play(): void {
    const player = this.#ensurePlayer();
    this.#message = undefined;
    this.focus({ preventScroll: true });
    void player.play({ game: this.#settings?.game });
  }

  quit(): void {
    this.#player?.quit();
  }

  toggleFullscreen(): void {
    if (document.fullscreenElement) {
      void document.exitFullscreen();
      return;
    }
    void this.#stage.requestFullscreen({ navigationUI: 'hide' }).catch((error: unknown) => {
      this.#showNotice(`Fullscreen refused: ${error instanceof Error ? error.message : String(error)}`);
    });
    this.focus({ preventScroll: true });
  }

  /** Typed listener for the element's events; returns its unsubscribe. */
  on<K extends AthPlayElementEventType>(type: K, listener: (event: AthPlayElementEventMap[K]) => void): () => void {
    const wrapped = (event: Event) => listener(event as AthPlayElementEventMap[K]);
    this.addEventListener(type, wrapped);
    return () => this.removeEventListener(type, wrapped);
  }

  // ---- lifecycle ---------------------------------------------------------------------------------------

  connectedCallback(): void {
    if (!this.hasAttribute('tabindex')) this.tabIndex = 0;
    this.#ensurePlayer();
    this.#render();
  }

  disconnectedCallback(): void {
    this.#closePlayer();
  }

  attributeChangedCallback(name: string, oldValue: string | null, newValue: string | null): void {
    if (oldValue === newValue || !this.#player) return;
    const previous = this.#settings;
    this.#settings = this.#readSettings();
    if (name === 'game' && previous?.game !== this.#settings.game) {
      const player = this.#player;
      // Another game chosen: the running session (if any) ends; the Play button starts the new one.
      if (player.game && player.game !== this.#settings.game) player.quit();
      this.#message = undefined;
    } else if (name === 'muted') {
      this.#player.setMuted(this.#settings.muted);
    } else if (name === 'stats') {
      this.#showStats = this.#settings.stats;
    } else if (PLAYER_SETTINGS.has(name) && !this.#player.sessionId) {
      this.#closePlayer();
      this.#ensurePlayer();
    }
    this.#render();
  }

  // ---- player ------------------------------------------------------------------------------------------

  #readSettings(): PlaySettings {
    return parsePlaySettings({
      attribute: (name) => this.getAttribute(name),
      urlParams: new URLSearchParams(location.search),
      defaultServer: SCRIPT_ORIGIN ?? location.origin,
    });
  }

  #ensurePlayer(): AthPlayer {
    if (this.#player) return this.#player;
    this.#settings = this.#readSettings();
    this.#showStats = this.#settings.stats;
    const player = new AthPlayer({ video: this.#video, settings: this.#settings, inputTarget: this });
    this.#player = player;
    for (const type of ELEMENT_EVENT_TYPES) {
      this.#playerUnsubscribes.push(
        player.on(type, (event) => this.dispatchEvent(cloneAthPlayerEvent(event, { bubbles: true, composed: true }))),
      );
    }
    this.#playerUnsubscribes.push(
      player.on('statechange', () => this.#render()),
      player.on('queued', (event) => {
        this.#queuePosition = event.data.position;
        this.#render();
      }),
      player.on('session', (event) => {
        this.#priceWeiPerSec = BigInt(event.data.priceWeiPerSec);
        this.#render();
      }),
      player.on('ended', (event) => {
        this.#message = { text: event.data.message, kind: 'info' };
        this.#render();
      }),
      player.on('error', (event) => this.#onError(event.data)),
      player.on('playing', () => {
        this.#message = undefined;
        this.#render();
      }),
      player.on('ready', () => {
        // Connected again: a "cannot reach the server" message is over.
        if (this.#message?.kind === 'error' && player.state !== 'error') this.#message = undefined;
        this.#render();
      }),
      player.on('stats', () => this.#renderStats()),
    );
    void player.connect();
    return player;
  }

  #closePlayer(): void {
    for (const unsubscribe of this.#playerUnsubscribes.splice(0)) unsubscribe();
    this.#player?.close();
    this.#player = undefined;
    if (this.#noticeTimer !== undefined) clearTimeout(this.#noticeTimer);
  }

  #onError(error: ErrorData): void {
    if (error.fatal) {
      this.#message = { text: error.message, kind: 'error' };
      this.#render();
      return;
    }
    const playing = this.#player?.state === 'playing';
    if (error.retrying && !playing) {
      this.#message = { text: `${error.message} Retrying…`, kind: 'error' };
      this.#render();
      return;
    }
    this.#showNotice(error.retrying ? `${error.message} Retrying…` : error.message);
  }

  #showNotice(text: string): void {
    this.#notice.textContent = text;
    this.#notice.hidden = false;
    if (this.#noticeTimer !== undefined) clearTimeout(this.#noticeTimer);
    this.#noticeTimer = setTimeout(() => {
      this.#notice.hidden = true;
    }, 4_000);
  }

  // ---- rendering ---------------------------------------------------------------------------------------

  #render(): void {
    const player = this.#player;
    const state = player?.state ?? 'idle';
    const game = this.#settings?.game;
    const inSession = ['requesting', 'queued', 'starting', 'playing'].includes(state);
    const waiting = ['connecting', 'requesting', 'starting'].includes(state) || (state === 'idle' && !!player);

    this.#overlay.hidden = state === 'playing';
    this.#spinner.hidden = !waiting || this.#message?.kind === 'error';
    this.#playButton.hidden = inSession || !game;
    this.#playButton.textContent = state === 'ended' || state === 'error' ? '▶ Play again' : '▶ Play';
    this.#quitButton.hidden = !inSession;
    this.#unmuteButton.hidden = !(state === 'playing' && player?.autoplayMuted);
    this.#statsToggle.setAttribute('aria-pressed', String(this.#showStats));
    this.#touchpad.hidden = !(state === 'playing' && touchDevice());

    const status = this.#statusFor(state, game);
    this.#status.textContent = status.text;
    this.#status.dataset['kind'] = status.kind;
    this.#status.dataset['state'] = state;
    this.#renderStats();
  }

  #statusFor(state: PlayerStateName, game: string | undefined): { text: string; kind: string } {
    if (state === 'queued') return { text: queuedMessage(this.#queuePosition), kind: 'queued' };
    if (this.#message && (state === 'ended' || state === 'error' || this.#message.kind === 'error')) {
      return this.#message;
    }
    switch (state) {
      case 'idle':
      case 'connecting':
        return { text: 'Connecting…', kind: 'info' };
      case 'requesting':
        return { text: 'Finding a render host…', kind: 'info' };
      case 'starting':
        return {
          text:
            this.#priceWeiPerSec === undefined
              ? 'Starting the stream…'
              : `Starting the stream… ${formatAthPerHour(this.#priceWeiPerSec)}`,
          kind: 'info',
        };
      case 'closed':
        return { text: '', kind: 'info' };
      default:
        return { text: game ? 'Ready. Press Play.' : 'Choose a game to play.', kind: 'info' };
    }
  }

  #renderStats(): void {
    const visible = this.#showStats && !!this.#player?.sessionId;
    this.#statsPanel.hidden = !visible;
    if (visible) this.#statsPanel.textContent = formatStats(this.#player?.stats).join('\n');
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'ath-play': AthPlayElement;
  }
}

/** Registers `<ath-play>` once (the studio script and the play page may both load it). */
export function defineAthPlay(): void {
  if (typeof customElements !== 'undefined' && !customElements.get('ath-play')) {
    customElements.define('ath-play', AthPlayElement);
  }
}
