/**
 * The player SDK: connects to signaling, asks for a game, answers the render host's WebRTC offer, shows the
 * stream in the `<video>` it is given, captures input, measures the stream, and reports everything as typed
 * events (`playerEvents.ts`). It draws no widgets: `<ath-play>` is the UI built on it.
 *
 * Flow: GET /api/config → POST /api/session (token kept in sessionStorage) → WebSocket with the token in the
 * subprotocol → hello/welcome → play → queued | session → offer → answer + ICE → first frame → playing.
 * A dropped WebSocket is retried for RECONNECT_WINDOW_MS and the session resumed (`resumeSessionId`); so is
 * a page reload (the session id waits in sessionStorage).
 */

import {
  type AthErrorCode,
  type CodecName,
  FrameMarkInput,
  isAthError,
  PongInput,
  PROTOCOL_VERSION,
  type ServerMessage,
  type ServerMessageOf,
  type StreamEncoderName,
  StreamInfoInput,
  sessionAuthWire,
  toAthError,
  weiToString,
} from '../../signaling/protocol/index.js';
import { ClientErrorCode } from '../errors.js';
import { type CodecPreference, decodableCodecs, insistedCodec, orderCodecs } from './codecs.js';
import { installDiagnostics } from './diagnostics.js';
import { END_REASON_MESSAGES, errorMessageFor } from './errorMessages.js';
import { FrameMarkMatcher, type PresentedFrameMark } from './frameMarks/FrameMarkMatcher.js';
import { InputToPhotonMeter, type InputToPhotonSample } from './frameMarks/InputToPhotonMeter.js';
import { type PresentedFrame, PresentedFrameWatcher } from './frameMarks/PresentedFrameWatcher.js';
import {
  createPlayerSession,
  type FetchLike,
  fetchClientConfig,
  fetchGames,
  type GameListingRecord,
} from './httpApi.js';
import { InputCapture } from './input/InputCapture.js';
import type { OutgoingInput } from './input/inputMapping.js';
import type { PlaySettings } from './PlaySettings.js';
import {
  type AthPlayerEventMap,
  type ErrorData,
  PlayerChargeEvent,
  PlayerEndedEvent,
  PlayerErrorEvent,
  PlayerFrameMarkEvent,
  PlayerPaidEvent,
  PlayerPlayingEvent,
  PlayerQueuedEvent,
  PlayerReadyEvent,
  PlayerSessionEvent,
  PlayerStateEvent,
  type PlayerStateName,
  PlayerStatsEvent,
  PlayerWalletEvent,
  TypedEventTarget,
} from './playerEvents.js';
import { probeHosts } from './probeHosts.js';
import { SignalingClient, type SignalingCloseInfo, type WebSocketFactory } from './SignalingClient.js';
import { StreamConnection } from './StreamConnection.js';
import { SessionStore, type StorageLike } from './sessionStore.js';
import { RttPinger } from './stats/RttPinger.js';
import {
  computeStatsSample,
  extractRawStats,
  playerReportFields,
  type RawStats,
  type StatsSample,
} from './stats/statsMath.js';
import { type ChainInfo, fetchAccount, fetchChainInfo, requestFaucet } from './wallet/chainApi.js';
import { burnerWallet, depositFromBurner, ensureBurnerEscrow, type PlayerWallet } from './wallet/PlayerWallet.js';

/** How long a lost signaling connection is retried (and its session resumable): signaling's reconnect window. */
export const RECONNECT_WINDOW_MS = 30_000;
const STATS_INTERVAL_MS = 1_000;
/** `player-report` every this many stats samples (5 s). */
const REPORT_EVERY_SAMPLES = 5;
const KEEP_FRAME_MARKS = 120;

export type AthPlayerParameters = {
  video: HTMLVideoElement;
  settings: PlaySettings;
  /** Receives keyboard input while focused (the `<ath-play>` host); defaults to the video. */
  inputTarget?: HTMLElement;
  /** Defaults to `sessionStorage`. */
  storage?: StorageLike;
  fetch?: FetchLike;
  createSocket?: WebSocketFactory;
  /** Who pays for sessions on a billing network; default: a burner key on the embedded chain. */
  wallet?: PlayerWallet;
  /** Where a burner key is kept (default `localStorage`). */
  walletStorage?: StorageLike;
  /**
   * More signaling servers of the same network (HTTP base URLs), tried in turn when `settings.server` cannot
   * be reached. The network's own list (`/api/config` `servers`) is added at each connect.
   */
  servers?: readonly string[];
};

export type PlayParameters = {
  /** Defaults to `settings.game`. */
  game?: string;
};

type PlayIntent = {
  game: string;
  codecs: CodecName[];
  resumeSessionId: string | undefined;
  /** Pressed by the user (a failed resume then starts afresh) rather than an automatic resume. */
  userInitiated: boolean;
  startedAtMs: number;
};

type LiveSession = {
  id: string;
  game: string;
  hostId: string | undefined;
  resumed: boolean;
  /** When Play was pressed (or the resume began), for first-frame time. */
  startedAtMs: number;
  /** Play → first frame went (or is queued) to signaling: once per session, never for a resume. */
  setupReported?: boolean;
  /** STUN/TURN servers and policy from the latest `session` message (TURN credentials for this session). */
  iceServers?: ServerMessageOf<'session'>['iceServers'];
  iceTransportPolicy?: ServerMessageOf<'session'>['iceTransportPolicy'];
};

function defaultLocalStorage(): StorageLike | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}

function defaultStorage(): StorageLike | undefined {
  try {
    return globalThis.sessionStorage;
  } catch {
    // Storage disabled (sandboxed iframe): the player works, reload-resume does not.
    return undefined;
  }
}

function base64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export class AthPlayer extends TypedEventTarget<AthPlayerEventMap> {
  readonly settings: PlaySettings;
  readonly #video: HTMLVideoElement;
  readonly #inputTarget: HTMLElement;
  readonly #store: SessionStore;
  readonly #fetch: FetchLike;
  readonly #createSocket: WebSocketFactory | undefined;
  readonly #pinger = new RttPinger();
  readonly #meter = new InputToPhotonMeter();
  readonly #marks = new FrameMarkMatcher();
  readonly #presentedMarks: PresentedFrameMark[] = [];
  #lastPresented: PresentedFrame | undefined;
  #firstPresented: PresentedFrame | undefined;
  #framesPresented = 0;
  /** What the host says it streams (StreamInfoInput): the encoder in use, the encoded size and frame rate. */
  #streamInfo: StreamInfoInput | undefined;
  readonly #games = new Map<string, GameListingRecord>();
  readonly #unsubscribes: Array<() => void> = [];
  #state: PlayerStateName = 'idle';
  #signaling: SignalingClient | undefined;
  /** performance.now() when the latest Play reached each set-up stage (see `setupMarks`). */
  #setupMarks: Record<string, number> = {};
  #connecting: Promise<void> | undefined;
  #sleep: { timer: ReturnType<typeof setTimeout>; wake: () => void } | undefined;
  #intent: PlayIntent | undefined;
  #session: LiveSession | undefined;
  #connection: StreamConnection | undefined;
  #input: InputCapture | undefined;
  #watcher: PresentedFrameWatcher | undefined;
  #statsTimer: ReturnType<typeof setInterval> | undefined;
  #lastRaw: RawStats | undefined;
  #lastSample: StatsSample | undefined;
  #samplesSinceReport = 0;
  /** Play → first frame (ms), waiting for the next `player-report`. */
  #pendingFirstFrameMs: number | undefined;
  #seq = 0;
  #codec: CodecName | undefined;
  #autoplayMuted = false;
  #lastError: ErrorData | undefined;
  #closed = false;
  #chain: ChainInfo | undefined;
  /** The connection whose first frame was shown (so `playing` is announced once per connection). */
  #playingOn: StreamConnection | undefined;
  /** Resolves to the wallet that pays (undefined: the network does not bill, or no wallet could be had). */
  #wallet: Promise<PlayerWallet | undefined> | undefined;
  readonly #walletParam: PlayerWallet | undefined;
  readonly #walletStorage: StorageLike | undefined;
  /** Signaling servers to try, in turn: the configured one first, then the network's others. */
  readonly #servers: string[];
  #serverIndex = 0;

  constructor({
    video,
    settings,
    inputTarget,
    storage,
    fetch: fetcher,
    createSocket,
    wallet,
    walletStorage,
    servers = [],
  }: AthPlayerParameters) {
    super();
    this.settings = settings;
    this.#servers = [...new Set([settings.server, ...servers])];
    this.#video = video;
    this.#inputTarget = inputTarget ?? video;
    this.#store = new SessionStore(storage ?? defaultStorage(), settings.server);
    this.#fetch = fetcher ?? ((input, init) => globalThis.fetch(input, init));
    this.#createSocket = createSocket;
    this.#walletParam = wallet;
    this.#walletStorage = walletStorage ?? defaultLocalStorage();
    video.playsInline = true;
    video.autoplay = true;
    video.muted = settings.muted;
    const onPageHide = () => this.#rememberSession();
    globalThis.addEventListener?.('pagehide', onPageHide);
    this.#unsubscribes.push(() => globalThis.removeEventListener?.('pagehide', onPageHide));
    if (settings.diagnostics) this.#unsubscribes.push(installDiagnostics(this));
  }

  // ---- state -------------------------------------------------------------------------------------------

  get state(): PlayerStateName {
    return this.#state;
  }

  get sessionId(): string | undefined {
    return this.#session?.id;
  }

  get game(): string | undefined {
    return this.#session?.game ?? this.#intent?.game;
  }

  /** The codec of the stream being decoded (from the stats). */
  get codec(): CodecName | undefined {
    return this.#codec;
  }

  /** The latest stats sample (once a second while streaming). */
  get stats(): StatsSample | undefined {
    return this.#lastSample;
  }

  get lastError(): ErrorData | undefined {
    return this.#lastError;
  }

  /** The stream started muted because the browser refused sound without a click: call `unmute()` on one. */
  get autoplayMuted(): boolean {
    return this.#autoplayMuted;
  }

  get muted(): boolean {
    return this.#video.muted;
  }

  /** The newest host frame mark matched with its presented frame (input seq, host frame number, RTP ts). */
  get lastFrameMark(): PresentedFrameMark | undefined {
    return this.#presentedMarks.at(-1);
  }

  /** The latest matched frame marks, oldest first. */
  get frameMarks(): readonly PresentedFrameMark[] {
    return this.#presentedMarks;
  }

  /** What the host says it streams: the encoder in use (NVENC or libx264), the encoded size and frame rate. */
  get streamInfo(): { encoder: StreamEncoderName; width: number; height: number; fps: number } | undefined {
    const info = this.#streamInfo;
    return info ? { encoder: info.encoder, width: info.width, height: info.height, fps: info.fps } : undefined;
  }

  /**
   * Diagnostics: when the latest Play (or resume) reached each stage, ms after it — `session` (slot leased),
   * `offer` (the host's offer arrived), `answer` (answer sent), `connected` (ICE + DTLS up), `channels` (input
   * channel open), `firstFrame` (first frame presented): where the time to the first frame goes.
   */
  get setupMarks(): Readonly<Record<string, number>> {
    const start = this.#setupMarks.play;
    if (start === undefined) return {};
    return Object.fromEntries(
      Object.entries(this.#setupMarks).map(([stage, atMs]) => [stage, Math.round(atMs - start)]),
    );
  }

  #mark(stage: string): void {
    this.#setupMarks[stage] ??= performance.now();
  }

  /** The newest presented video frame (RTP timestamp, presentation time) of this connection. */
  get lastPresentedFrame(): PresentedFrame | undefined {
    return this.#lastPresented;
  }

  /** The first presented frame of this connection (Play → first frame). */
  get firstPresentedFrame(): PresentedFrame | undefined {
    return this.#firstPresented;
  }

  /** Frames presented on this connection. */
  get framesPresented(): number {
    return this.#framesPresented;
  }

  /** Diagnostics: input→photon samples (input sent → first frame reflecting it presented). */
  get inputToPhoton(): readonly InputToPhotonSample[] {
    return this.#meter.samples;
  }

  /**
   * Presses (`down`) or releases a key by its `KeyboardEvent.code` as if typed — what the on-screen touch
   * gamepad sends. Ignored until the stream's input is attached.
   */
  pressKey(code: string, down: boolean): void {
    this.#input?.virtualKey(code, down);
  }

  /** The seq of the last input sent in this session. */
  get inputSeq(): number {
    return this.#seq;
  }

  /** The paying wallet, prepared in the background on connect (funded from the faucet on the dev chain). */
  wallet(): Promise<PlayerWallet | undefined> {
    this.#wallet ??= this.#prepareWallet();
    return this.#wallet;
  }

  /** Deposits test ATH from the burner wallet into the escrow (embedded chain; the faucet tops it up). */
  async deposit(amountWei: bigint): Promise<void> {
    const wallet = await this.wallet();
    const chain = this.#chain;
    if (!wallet || !chain || wallet.kind !== 'burner' || !this.#walletStorage) {
      throw new Error('deposits from the page need the burner wallet of the embedded chain');
    }
    const burner = burnerWallet(this.#walletStorage);
    const account = await fetchAccount(this.#fetch, this.#server, burner.address);
    if (BigInt(account.tokenWei) < amountWei && chain.faucet)
      await requestFaucet(this.#fetch, this.#server, burner.address);
    await depositFromBurner({ wallet: burner, chain, amountWei });
  }

  async #prepareWallet(): Promise<PlayerWallet | undefined> {
    let chain: ChainInfo;
    try {
      chain = await fetchChainInfo(this.#fetch, this.#server);
      this.#chain = chain;
    } catch {
      return undefined; // this network does not bill
    }
    if (this.#walletParam) {
      this.emit(
        new PlayerWalletEvent({
          address: this.#walletParam.address,
          kind: this.#walletParam.kind,
          freeEscrowWei: undefined,
        }),
      );
      return this.#walletParam;
    }
    if (!this.#walletStorage) return undefined;
    const burner = burnerWallet(this.#walletStorage);
    try {
      const free = await ensureBurnerEscrow({
        wallet: burner,
        chain,
        server: this.#server,
        fetch: this.#fetch,
        minimumWei: 20n * 10n ** 18n,
        depositWei: 200n * 10n ** 18n,
      });
      this.emit(new PlayerWalletEvent({ address: burner.address, kind: 'burner', freeEscrowWei: free.toString() }));
    } catch (error) {
      this.#report(ClientErrorCode.http, {
        details: `wallet: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
    return burner;
  }

  /** Signs the session's terms with the paying wallet and sends the SessionAuth. */
  async #authorize(message: ServerMessageOf<'session'>): Promise<void> {
    const terms = message.payment;
    if (!terms) return;
    const wallet = await this.wallet();
    if (!wallet) {
      this.#report(ClientErrorCode.http, { details: 'this network bills, but no wallet is available to pay' });
      return;
    }
    try {
      const { auth, signature } = await wallet.signSessionAuth(message.sessionId as `0x${string}`, terms, {
        maxPriceWeiPerSec: this.settings.maxPriceWeiPerSec,
      });
      this.#signaling?.send({
        type: 'session-auth',
        sessionId: message.sessionId,
        auth: sessionAuthWire(auth),
        signature,
      });
    } catch (error) {
      if (isAthError(error) && error.code === ClientErrorCode.priceAboveCeiling) {
        // Dearer than the player agreed to: nothing signed, and the session is given back at once.
        if (this.#session?.id === message.sessionId) this.#failSession(error.code, error.shortMessage);
        else this.#signaling?.send({ type: 'quit', sessionId: message.sessionId });
        return;
      }
      this.#report(ClientErrorCode.http, { details: `signing the session authorization failed: ${String(error)}` });
    }
  }

  // ---- commands ----------------------------------------------------------------------------------------

  /**
   * Connects to signaling (retrying for up to RECONNECT_WINDOW_MS) and resumes a session this tab left
   * within the window. Never rejects: failures arrive as `error` events and the `error` state.
   */
  connect(): Promise<void> {
    if (this.#closed || this.#signaling?.open) return Promise.resolve();
    // With a studio play token the studio pays: no player wallet is prepared.
    if (!this.settings.token) void this.wallet();
    this.#connecting ??= this.#connectLoop(false).finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /**
   * Asks for a game (call it from the Play click: the click lets the stream start with sound). Checks the
   * browser's codecs first. Never rejects: what happens next arrives as events.
   */
  async play({ game = this.settings.game }: PlayParameters = {}): Promise<void> {
    if (this.#closed) return;
    if (!game) {
      this.#report(ClientErrorCode.noGame, { fatal: true });
      return;
    }
    const codecs = this.#codecs();
    if (codecs.length === 0) {
      this.#report(ClientErrorCode.codecUnsupported, {
        fatal: true,
        details: 'RTCRtpReceiver.getCapabilities("video") lists neither H.264 constrained baseline nor VP8',
      });
      return;
    }
    this.#unlockAudio();
    const active = this.#session ?? this.#intent;
    if (active?.game === game && ['requesting', 'queued', 'starting', 'playing'].includes(this.#state)) return;
    if (this.#session) this.quit();
    const stored = this.#store.session(Date.now());
    this.#intent = {
      game,
      codecs,
      resumeSessionId: stored?.game === game ? stored.sessionId : undefined,
      userInitiated: true,
      startedAtMs: performance.now(),
    };
    this.#setupMarks = { play: this.#intent.startedAtMs };
    if (stored?.game === game) this.#seq = Math.max(this.#seq, stored.inputSeq);
    if (!this.#games.has(game)) void this.listGames().catch(() => undefined);
    this.#setState('requesting');
    if (this.#signaling?.open) this.#sendPlay();
    else await this.connect();
  }

  /** Ends the session (frees the slot at once). */
  quit(): void {
    const session = this.#session;
    this.#intent = undefined;
    if (!session) {
      if (this.#state === 'requesting') this.#setState(this.#signaling?.open ? 'ready' : 'idle');
      return;
    }
    this.#signaling?.send({ type: 'quit', sessionId: session.id });
    this.#endSession({ sessionId: session.id, reason: 'player-quit', message: END_REASON_MESSAGES['player-quit'] });
  }

  /** Turns the sound on; call it from a user gesture when `autoplayMuted`. */
  unmute(): void {
    this.#autoplayMuted = false;
    this.#video.muted = false;
    void this.#video.play().catch((error: unknown) => this.#onVideoPlayError(error));
  }

  setMuted(muted: boolean): void {
    if (!muted) {
      this.unmute();
      return;
    }
    this.#video.muted = true;
  }

  /** The games the registered hosts serve (`GET /api/games`). Rejects with an AthError. */
  async listGames(): Promise<GameListingRecord[]> {
    const games = await fetchGames(this.#fetch, this.#server);
    for (const game of games) this.#games.set(game.id, game);
    return games;
  }

  /**
   * Resolves with the input→photon sample of input `seq` once a frame reflecting it is presented (the host's
   * frame mark matched by RTP timestamp), or undefined after `timeoutMs`.
   */
  waitForInputReflected(seq: number, timeoutMs = 5_000): Promise<InputToPhotonSample | undefined> {
    const found = () => this.#meter.samples.find((s) => s.seq >= seq);
    const now = found();
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        unsubscribe();
        resolve(undefined);
      }, timeoutMs);
      const unsubscribe = this.on('framemark', () => {
        const sample = found();
        if (!sample) return;
        clearTimeout(timer);
        unsubscribe();
        resolve(sample);
      });
    });
  }

  /**
   * Idempotent. Leaves the session resumable (a reload within the window picks it up); call `quit()` first
   * to end it.
   */
  close(): void {
    if (this.#closed) return;
    this.#rememberSession();
    this.#closed = true;
    this.#teardownMedia();
    this.#sleep?.wake();
    this.#signaling?.close(1000, 'player closed');
    this.#signaling = undefined;
    for (const unsubscribe of this.#unsubscribes.splice(0)) unsubscribe();
    this.#setState('closed');
  }

  // ---- signaling ---------------------------------------------------------------------------------------

  async #connectLoop(reconnecting: boolean): Promise<void> {
    const deadlineMs = Date.now() + RECONNECT_WINDOW_MS;
    if (!this.#session && !this.#intent && this.#state !== 'requesting') this.#setState('connecting');
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        await this.#openSignaling(reconnecting);
        return;
      } catch (error) {
        const athError = toAthError(error, ClientErrorCode.signalingUnreachable, 'cannot reach signaling');
        if (athError.code === 'ATH_ERR_PROTOCOL_VERSION') {
          this.#giveUp(athError.code, athError.message);
          return;
        }
        if (Date.now() >= deadlineMs) {
          this.#giveUp(ClientErrorCode.signalingUnreachable, athError.message);
          return;
        }
        if (attempt === 0) {
          this.#report(ClientErrorCode.signalingUnreachable, { retrying: true, details: athError.message });
        }
        // The next attempt goes to the next server of the network (the same one when there is only one).
        this.#serverIndex = (this.#serverIndex + 1) % this.#servers.length;
        await this.#pause(Math.min(2_000, 250 * 2 ** attempt));
      }
    }
  }

  /** The signaling server in use (HTTP base URL). */
  get #server(): string {
    return this.#servers[this.#serverIndex % this.#servers.length] ?? this.settings.server;
  }

  /** Signaling servers this player may use: the configured ones, and those its network named. */
  get servers(): readonly string[] {
    return this.#servers;
  }

  async #openSignaling(reconnected: boolean): Promise<void> {
    const config = await fetchClientConfig(this.#fetch, this.#server);
    for (const server of config.servers ?? []) if (!this.#servers.includes(server)) this.#servers.push(server);
    if (config.protocolVersion !== PROTOCOL_VERSION) {
      throw toAthError(
        new Error(`server speaks protocol ${config.protocolVersion}, this page ${PROTOCOL_VERSION}`),
        'ATH_ERR_PROTOCOL_VERSION',
        'protocol version mismatch',
      );
    }
    const { token, fromStorage } = await this.#token();
    let client: SignalingClient;
    try {
      client = await SignalingClient.connect({
        url: config.wsPlayerUrl,
        token,
        createSocket: this.#createSocket,
        agent: typeof navigator === 'undefined' ? undefined : `ath-play ${navigator.userAgent}`,
        listeners: {
          message: (message) => this.#onMessage(message),
          invalid: (error) => this.#report(error.code, { details: error.message }),
          closed: (info) => this.#onSignalingClosed(info),
        },
      });
    } catch (error) {
      // The HTTP API answered but the upgrade failed: a stored token may be stale (server restarted with a
      // new secret). The browser hides the 401, so drop it and get a fresh one next time.
      if (fromStorage) this.#store.forgetPlayer();
      throw error;
    }
    if (this.#closed) {
      client.close();
      return;
    }
    this.#signaling = client;
    this.emit(
      new PlayerReadyEvent({
        peerId: client.welcome.peerId,
        protocolVersion: client.welcome.protocolVersion,
        reconnected,
      }),
    );
    this.#afterConnect();
  }

  async #token(): Promise<{ token: string; fromStorage: boolean }> {
    // A studio play token (settings.token) travels with Play; the socket itself uses an anonymous player token.
    const stored = this.#store.player(Date.now());
    if (stored) return { token: stored.token, fromStorage: true };
    const fresh = await createPlayerSession(this.#fetch, this.#server);
    this.#store.savePlayer(fresh);
    return { token: fresh.token, fromStorage: false };
  }

  /** Connected: send the pending Play, resume the session this tab had, or wait for Play. */
  #afterConnect(): void {
    if (this.#intent) {
      this.#sendPlay();
      return;
    }
    const stored = this.#store.session(Date.now());
    const resumeId =
      this.#session?.id ??
      (stored && (!this.settings.game || stored.game === this.settings.game) ? stored.sessionId : undefined);
    const game = this.#session?.game ?? stored?.game;
    const codecs = this.#codecs();
    if (resumeId && game && codecs.length > 0) {
      if (stored?.sessionId === resumeId) this.#seq = Math.max(this.#seq, stored.inputSeq);
      this.#intent = {
        game,
        codecs,
        resumeSessionId: resumeId,
        userInitiated: false,
        startedAtMs: performance.now(),
      };
      if (!this.#session) this.#setState('requesting');
      this.#sendPlay();
      return;
    }
    this.#setState('ready');
  }

  #sendPlay(): void {
    const intent = this.#intent;
    if (!intent) return;
    this.#signaling?.send({
      type: 'play',
      game: intent.game,
      codecs: intent.codecs,
      ...(this.settings.quality !== 'auto' ? { quality: this.settings.quality } : {}),
      ...(intent.resumeSessionId ? { resumeSessionId: intent.resumeSessionId } : {}),
      // Only signaling was lost: the stream still plays, so the session resumes without renegotiating.
      ...(intent.resumeSessionId && intent.resumeSessionId === this.#session?.id && this.#state === 'playing'
        ? { keepStream: true }
        : {}),
      // The player pays: no host dearer than its ceiling (a studio's play token pays on the studio's terms).
      ...(this.settings.token
        ? { playToken: this.settings.token }
        : { maxPriceWeiPerSec: weiToString(this.settings.maxPriceWeiPerSec) }),
      ...browserTimeZone(),
    });
  }

  #onSignalingClosed(info: SignalingCloseInfo): void {
    this.#signaling = undefined;
    if (this.#closed || info.code === 4000) return;
    // Not a clean close (the server went down, or the network): try the next server of the network first.
    if (info.code !== 1000 && info.code !== 1001) this.#serverIndex = (this.#serverIndex + 1) % this.#servers.length;
    // A live stream keeps playing while signaling is away; the session is resumed on reconnect.
    this.#connecting ??= this.#connectLoop(true).finally(() => {
      this.#connecting = undefined;
    });
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleep = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleep = { timer, wake };
    });
  }

  // ---- server messages ---------------------------------------------------------------------------------

  #onMessage(message: ServerMessage): void {
    if (this.#closed) return;
    switch (message.type) {
      case 'queued':
        this.#onQueued(message);
        return;
      case 'session':
        this.#onSession(message);
        return;
      case 'offer':
        void this.#onOffer(message);
        return;
      case 'ice':
        if (message.sessionId === this.#connection?.sessionId) {
          void this.#connection.addRemoteCandidate(message.candidate);
        }
        return;
      case 'session-ended':
        if (message.sessionId === this.#session?.id) this.#endSession(message);
        return;
      case 'charge':
        if (message.sessionId === this.#session?.id) {
          this.emit(
            new PlayerChargeEvent({
              sessionId: message.sessionId,
              cumulativeWei: message.cumulativeWei,
              deliveredSec: message.deliveredSec,
              maxAmountWei: message.maxAmountWei,
            }),
          );
        }
        return;
      case 'payment-accepted':
        if (message.sessionId === this.#session?.id) {
          this.emit(new PlayerPaidEvent({ sessionId: message.sessionId, payerAddress: message.payerAddress }));
        }
        return;
      case 'probe-request':
        // The indexer wants our RTT to its candidates before it leases a slot.
        void probeHosts({ request: message }).then((results) => {
          this.#signaling?.send({ type: 'probe-results', sessionId: message.sessionId, results });
        });
        return;
      case 'error':
        this.#onServerError(message);
        return;
      default:
        // welcome again, answer, input, host messages: not for a player.
        console.debug('ath-edge: ignored signaling message', message.type);
    }
  }

  /** Adopts the session a `queued`/`session` message is about, if it answers our request or is ours. */
  #adopt(sessionId: string, game: string, hostId: string | undefined, resumed: boolean): LiveSession | undefined {
    if (this.#session?.id === sessionId) {
      this.#session.hostId = hostId ?? this.#session.hostId;
      this.#session.resumed ||= resumed;
      if (this.#intent) this.#session.startedAtMs = this.#intent.startedAtMs;
      this.#intent = undefined;
      return this.#session;
    }
    const intent = this.#intent;
    if (!intent || intent.game !== game) {
      // Answers a Play the user took back: end it so it does not hold a slot.
      this.#signaling?.send({ type: 'quit', sessionId });
      return undefined;
    }
    if (this.#session) this.#teardownMedia();
    if (intent.resumeSessionId !== sessionId) {
      this.#seq = 0;
      this.#meter.reset();
    }
    this.#session = { id: sessionId, game, hostId, resumed, startedAtMs: intent.startedAtMs };
    this.#intent = undefined;
    this.#rememberSession();
    return this.#session;
  }

  #onQueued(message: ServerMessageOf<'queued'>): void {
    const session = this.#adopt(message.sessionId, message.game, undefined, false);
    if (!session) return;
    this.#setState('queued');
    this.emit(new PlayerQueuedEvent({ sessionId: session.id, game: session.game, position: message.position }));
  }

  #onSession(message: ServerMessageOf<'session'>): void {
    const session = this.#adopt(message.sessionId, message.game, message.hostId, message.resumed);
    if (!session) return;
    session.iceServers = message.iceServers;
    session.iceTransportPolicy = message.iceTransportPolicy;
    this.#mark('session');
    if (this.#state !== 'playing') this.#setState('starting');
    // Sampling (and reporting) starts with the session, not with the offer: see #reportNoPicture.
    this.#statsTimer ??= setInterval(() => void this.#sampleStats(), STATS_INTERVAL_MS);
    // The price is shown (the `session` event) before the wallet is asked to sign anything.
    this.emit(
      new PlayerSessionEvent({
        sessionId: session.id,
        hostId: message.hostId,
        game: session.game,
        slot: message.slot,
        resumed: message.resumed,
        priceWeiPerSec: message.priceWeiPerSec,
      }),
    );
    if (message.payment) void this.#authorize(message);
  }

  async #onOffer(message: ServerMessageOf<'offer'>): Promise<void> {
    const session = this.#session;
    if (!session || message.sessionId !== session.id) return;
    // A new offer (first, or after a resume) replaces the transport; input capture and the session stay.
    this.#mark('offer');
    this.#connection?.close();
    this.#watcher?.close();
    const connection = new StreamConnection({
      sessionId: session.id,
      insistedCodec: insistedCodec(this.settings.codec),
      ...(session.iceServers ? { iceServers: session.iceServers } : {}),
      iceTransportPolicy: this.settings.relay ? 'relay' : (session.iceTransportPolicy ?? 'all'),
      sendAnswer: (sdp) => this.#signaling?.send({ type: 'answer', sessionId: session.id, sdp }),
      sendIce: (candidate) => this.#signaling?.send({ type: 'ice', sessionId: session.id, candidate }),
      onInput: (input) => {
        if (input instanceof PongInput) this.#pinger.pong(input, performance.now());
        else if (input instanceof FrameMarkInput && this.#connection === connection) this.#onFrameMark(input);
        else if (input instanceof StreamInfoInput && this.#connection === connection) this.#streamInfo = input;
      },
      onBadInput: (error) => this.#report(error.code, { details: error.message }),
      onConnectionState: (state) => this.#onConnectionState(connection, state),
      onChannelsOpen: () => {
        this.#mark('channels');
        // Input flows as soon as it can reach the host (the first frame may still be on its way).
        if (this.#session === session) this.#attachInput(session);
        this.#sendPing();
      },
    });
    this.#connection = connection;
    this.#marks.reset();
    this.#lastPresented = undefined;
    this.#firstPresented = undefined;
    this.#framesPresented = 0;
    this.#pinger.reset();
    this.#lastRaw = undefined;
    try {
      await connection.acceptOffer(message.sdp);
    } catch (error) {
      if (this.#connection !== connection) return;
      this.#failSession(isAthError(error) ? error.code : ClientErrorCode.webrtc, String(error));
      return;
    }
    if (this.#connection !== connection) return;
    this.#mark('answer');
    this.#video.srcObject = connection.stream;
    void this.#startVideo();
    this.#watcher = new PresentedFrameWatcher({
      video: this.#video,
      onFrame: (frame) => this.#onPresentedFrame(connection, frame),
    });
    this.#statsTimer ??= setInterval(() => void this.#sampleStats(), STATS_INTERVAL_MS);
  }

  #onServerError(message: ServerMessageOf<'error'>): void {
    const intent = this.#intent;
    const code = message.code;
    if (message.ref === 'play' && intent) {
      if (intent.resumeSessionId && (code === 'ATH_ERR_SESSION_NOT_FOUND' || code === 'ATH_ERR_NOT_YOUR_SESSION')) {
        // The session to resume is gone: a pressed Play starts afresh; an automatic resume just stops.
        this.#store.forgetSession();
        if (this.#session?.id === intent.resumeSessionId) this.#dropSession();
        if (intent.userInitiated) {
          intent.resumeSessionId = undefined;
          this.#sendPlay();
        } else {
          this.#intent = undefined;
          this.#setState('ready');
        }
        return;
      }
      this.#intent = undefined;
      this.#report(code, { fatal: true, details: message.message });
      return;
    }
    const session = this.#session;
    if (session && message.sessionId === session.id && SESSION_GONE.has(code)) {
      this.#failSession(code, message.message);
      return;
    }
    this.#report(code, { details: `${message.ref ?? '?'}: ${message.message}` });
  }

  // ---- media -------------------------------------------------------------------------------------------

  async #startVideo(): Promise<void> {
    try {
      await this.#video.play();
    } catch (error) {
      this.#onVideoPlayError(error);
    }
  }

  #onVideoPlayError(error: unknown): void {
    const name = error instanceof DOMException ? error.name : '';
    if (name === 'AbortError') return; // a newer srcObject replaced this one
    if (name === 'NotAllowedError' && !this.#video.muted) {
      // No user gesture (an automatic resume after reload): start muted, `unmute()` on the next click.
      this.#video.muted = true;
      this.#autoplayMuted = true;
      void this.#video.play().catch((again: unknown) => this.#onVideoPlayError(again));
      return;
    }
    this.#report(ClientErrorCode.webrtc, { details: `video.play(): ${String(error)}` });
  }

  /** Called in the Play click: the gesture lets the stream start with sound. */
  #unlockAudio(): void {
    this.#video.muted = this.settings.muted;
    this.#autoplayMuted = false;
  }

  #onFirstFrame(connection: StreamConnection): void {
    const session = this.#session;
    // Called for every presented frame: only the first frame of a connection starts `playing`.
    if (!session || this.#connection !== connection || this.#playingOn === connection) return;
    this.#playingOn = connection;
    this.#mark('firstFrame');
    this.#setState('playing');
    if (!session.resumed && !session.setupReported) {
      // Play → first frame goes to signaling with the next sample (≤ 1 s), not after a whole report period.
      session.setupReported = true;
      this.#pendingFirstFrameMs = Math.round(performance.now() - session.startedAtMs);
      this.#samplesSinceReport = REPORT_EVERY_SAMPLES - 1;
    }
    this.#attachInput(session);
    this.emit(
      new PlayerPlayingEvent({
        sessionId: session.id,
        game: session.game,
        codec: this.#codec,
        resumed: session.resumed,
        firstFrameMs: performance.now() - session.startedAtMs,
      }),
    );
  }

  #attachInput(session: LiveSession): void {
    if (this.#input) return;
    this.#input = new InputCapture({
      video: this.#video,
      keyboardTarget: this.#inputTarget,
      inputMode: this.#games.get(session.game)?.inputMode ?? 'absolute',
      nextSeq: () => ++this.#seq,
      send: (input) => this.#sendInput(input),
    });
    this.#inputTarget.focus({ preventScroll: true });
  }

  #sendInput(input: OutgoingInput): void {
    const session = this.#session;
    if (!session) return;
    let sent = this.#connection?.send(input.channel, input.bytes) ?? false;
    if (!sent && input.channel === 'input') {
      // The data channel is not (yet, or no longer) open: edges go through signaling rather than get lost.
      sent = this.#signaling?.send({ type: 'input', sessionId: session.id, data: base64(input.bytes) }) ?? false;
    }
    if (sent) this.#meter.noteSent(input.seq, performance.now());
  }

  #onPresentedFrame(connection: StreamConnection, frame: PresentedFrame): void {
    if (this.#connection !== connection) return;
    this.#framesPresented += 1;
    this.#firstPresented ??= frame;
    this.#lastPresented = frame;
    this.#onFirstFrame(connection);
    if (frame.rtpTimestamp === undefined) return;
    for (const mark of this.#marks.onPresented(frame.rtpTimestamp, frame.presentedAtMs)) this.#onMarkPresented(mark);
  }

  #onFrameMark(input: FrameMarkInput): void {
    const mark = this.#marks.onMark({ inputSeq: input.seq, rtpTimestamp: input.rtpTimestamp, frame: input.frame });
    if (mark) this.#onMarkPresented(mark);
  }

  #onMarkPresented(mark: PresentedFrameMark): void {
    this.#presentedMarks.push(mark);
    if (this.#presentedMarks.length > KEEP_FRAME_MARKS) this.#presentedMarks.shift();
    this.#meter.notePresented(mark.inputSeq, mark.presentedAtMs);
    this.emit(new PlayerFrameMarkEvent(mark));
  }

  #onConnectionState(connection: StreamConnection, state: RTCPeerConnectionState): void {
    if (this.#connection !== connection) return;
    if (state === 'connected') this.#mark('connected');
    if (state === 'failed') {
      this.#failSession(ClientErrorCode.webrtc, 'the peer connection failed');
    } else if (state === 'disconnected') {
      this.#report(ClientErrorCode.webrtc, { details: 'the peer connection is interrupted; waiting for it' });
    }
  }

  #sendPing(): void {
    const connection = this.#connection;
    if (connection?.channelOpen('input')) connection.send('input', this.#pinger.ping(performance.now()));
  }

  async #sampleStats(): Promise<void> {
    const connection = this.#connection;
    const session = this.#session;
    if (!session) return;
    if (!connection) {
      this.#reportNoPicture(session, undefined);
      return;
    }
    this.#sendPing();
    let report: RTCStatsReport;
    try {
      report = await connection.pc.getStats();
    } catch {
      return; // closed meanwhile
    }
    if (this.#connection !== connection) return;
    const raw = extractRawStats(report.values(), performance.now());
    const sample = computeStatsSample({
      previous: this.#lastRaw,
      current: raw,
      pingRttMs: this.#pinger.rttMs,
      inputToPhotonMs: this.#meter.recentMedianMs(),
      hostEncoder: this.#streamInfo?.encoder,
    });
    this.#lastRaw = raw;
    this.#lastSample = sample;
    this.#codec = sample.codec ?? this.#codec;
    this.emit(new PlayerStatsEvent(sample));
    if (this.#state === 'playing' && ++this.#samplesSinceReport >= REPORT_EVERY_SAMPLES) {
      this.#samplesSinceReport = 0;
      const firstFrameMs = this.#pendingFirstFrameMs;
      this.#pendingFirstFrameMs = undefined;
      this.#signaling?.send({
        type: 'player-report',
        sessionId: session.id,
        ...playerReportFields(sample),
        ...(firstFrameMs === undefined ? {} : { firstFrameMs: Math.min(firstFrameMs, 600_000) }),
      });
      this.#rememberSession();
    } else if (this.#state === 'starting') {
      this.#reportNoPicture(session, sample);
    }
  }

  /**
   * Waiting for the first picture, the player reports what it gets (nothing: 0 fps) every report period. The
   * meter bills on the host's word; only a player's report under the floor disputes it, so a player that kept
   * quiet until its first frame could be billed for as long as a host that never streams kept it waiting.
   */
  #reportNoPicture(session: LiveSession, sample: StatsSample | undefined): void {
    if (this.#state !== 'starting' || ++this.#samplesSinceReport < REPORT_EVERY_SAMPLES) return;
    this.#samplesSinceReport = 0;
    this.#signaling?.send({
      type: 'player-report',
      sessionId: session.id,
      ...(sample ? playerReportFields(sample) : { fpsMilli: 0, rttMicros: 0, framesDecoded: 0, packetsLost: 0 }),
    });
  }

  // ---- endings -----------------------------------------------------------------------------------------

  #endSession(ended: { sessionId: string; reason: ServerMessageOf<'session-ended'>['reason']; message: string }): void {
    this.#dropSession();
    this.#store.forgetSession();
    this.#setState('ended');
    this.emit(
      new PlayerEndedEvent({
        sessionId: ended.sessionId,
        reason: ended.reason,
        message: ended.message || END_REASON_MESSAGES[ended.reason],
      }),
    );
  }

  /** The session cannot go on: tell signaling (frees the slot), forget it, report. */
  #failSession(code: AthErrorCode, details: string): void {
    const session = this.#session;
    if (session) this.#signaling?.send({ type: 'quit', sessionId: session.id });
    this.#dropSession();
    this.#store.forgetSession();
    this.#report(code, { fatal: true, details });
  }

  /** Gives up reconnecting: whatever session there was is lost with signaling. */
  #giveUp(code: AthErrorCode, details: string): void {
    this.#intent = undefined;
    this.#dropSession();
    this.#store.forgetSession();
    this.#report(code, { fatal: true, details });
  }

  #dropSession(): void {
    this.#teardownMedia();
    this.#session = undefined;
    this.#pendingFirstFrameMs = undefined;
  }

  #teardownMedia(): void {
    this.#input?.close();
    this.#input = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
    this.#connection?.close();
    this.#connection = undefined;
    if (this.#statsTimer !== undefined) clearInterval(this.#statsTimer);
    this.#statsTimer = undefined;
    this.#lastRaw = undefined;
    this.#samplesSinceReport = 0;
    this.#pinger.reset();
    this.#meter.reset();
    if (this.#video.srcObject) this.#video.srcObject = null;
  }

  #rememberSession(): void {
    const session = this.#session;
    if (!session || this.#closed) return;
    this.#store.saveSession({ sessionId: session.id, game: session.game, seenAtMs: Date.now(), inputSeq: this.#seq });
  }

  // ---- helpers -----------------------------------------------------------------------------------------

  #codecs(): CodecName[] {
    const capabilities =
      typeof RTCRtpReceiver === 'undefined' ? undefined : RTCRtpReceiver.getCapabilities?.('video')?.codecs;
    return orderCodecs(decodableCodecs(capabilities), this.settings.codec satisfies CodecPreference);
  }

  #report(code: AthErrorCode, { fatal = false, retrying = false, details }: ReportOptions): void {
    const data: ErrorData = { code, message: errorMessageFor(code), details, fatal, retrying };
    this.#lastError = data;
    if (fatal) this.#setState('error');
    this.emit(new PlayerErrorEvent(data));
  }

  #setState(state: PlayerStateName): void {
    const previous = this.#state;
    if (previous === state || previous === 'closed') return;
    this.#state = state;
    this.emit(new PlayerStateEvent({ state, previous }));
  }
}

type ReportOptions = { fatal?: boolean; retrying?: boolean; details?: string | undefined };

/** Error codes that, about our live session, mean it is over. */
const SESSION_GONE: ReadonlySet<AthErrorCode> = new Set([
  'ATH_ERR_SESSION_NOT_FOUND',
  'ATH_ERR_NOT_YOUR_SESSION',
  'ATH_ERR_HOST_LOST',
]);

/** The browser's IANA time zone, when it names a place (signaling starts looking for hosts near it). */
function browserTimeZone(): { timeZone?: string } {
  try {
    const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    return timeZone && /^[A-Za-z][A-Za-z0-9_+/-]{0,63}$/.test(timeZone) ? { timeZone } : {};
  } catch {
    return {};
  }
}
