/**
 * Diagnostics for tests and benchmarks: `window.__athPlayer` shows the live player (the latest one created
 * with `diagnostics` on). Read-only views; not an API for pages — use the `AthPlayer` and its events.
 *
 *   state, sessionId, game, codec   where the player is
 *   stats                           the latest StatsSample (once a second while streaming)
 *   lastFrameMark, frameMarks       { inputSeq, frame, rtpTimestamp, presentedAtMs }: host frame marks matched
 *                                   with the presented frame they name (at least one a second, one per input)
 *   streamInfo                      { encoder, width, height, fps } as the host states it (StreamInfoInput)
 *   firstPresentedFrame, lastPresentedFrame, framesPresented
 *                                   { rtpTimestamp, presentedAtMs, receivedAtMs } of this connection's frames
 *   inputToPhoton                   { seq, sentAtMs, presentedAtMs, latencyMs } per input reflected on screen
 *   inputSeq                        the seq of the last input sent
 *   setupMarks                      ms after the latest Play at which it reached each set-up stage (session,
 *                                   offer, answer, connected, channels, firstFrame)
 *   events                          the last 200 events other than stats/framemark: { type, atMs, data }
 *   player                          the AthPlayer itself (waitForInputReflected, quit, …)
 */
import type { CodecName } from '../../signaling/protocol/index.js';
import type { PresentedFrameMark } from './frameMarks/FrameMarkMatcher.js';
import type { InputToPhotonSample } from './frameMarks/InputToPhotonMeter.js';
import type { PresentedFrame } from './frameMarks/PresentedFrameWatcher.js';
import type { AthPlayerEventMap, AthPlayerEventType, PlayerStateName, TypedEventTarget } from './playerEvents.js';
import type { StatsSample } from './stats/statsMath.js';

export type DiagnosticEvent = { type: AthPlayerEventType; atMs: number; data: unknown };

/** What an AthPlayer shows to diagnostics (kept structural to avoid an import cycle). */
export type DiagnosablePlayer = TypedEventTarget<AthPlayerEventMap> & {
  readonly state: PlayerStateName;
  readonly sessionId: string | undefined;
  readonly game: string | undefined;
  readonly codec: CodecName | undefined;
  readonly stats: StatsSample | undefined;
  readonly lastFrameMark: PresentedFrameMark | undefined;
  readonly frameMarks: readonly PresentedFrameMark[];
  readonly firstPresentedFrame: PresentedFrame | undefined;
  readonly lastPresentedFrame: PresentedFrame | undefined;
  readonly framesPresented: number;
  readonly streamInfo: { encoder: string; width: number; height: number; fps: number } | undefined;
  readonly inputToPhoton: readonly InputToPhotonSample[];
  readonly inputSeq: number;
  readonly setupMarks: Readonly<Record<string, number>>;
};

export type AthPlayerDiagnostics = {
  readonly state: PlayerStateName;
  readonly sessionId: string | undefined;
  readonly game: string | undefined;
  readonly codec: CodecName | undefined;
  readonly stats: StatsSample | undefined;
  readonly lastFrameMark: PresentedFrameMark | undefined;
  readonly frameMarks: readonly PresentedFrameMark[];
  readonly firstPresentedFrame: PresentedFrame | undefined;
  readonly lastPresentedFrame: PresentedFrame | undefined;
  readonly framesPresented: number;
  readonly streamInfo: { encoder: string; width: number; height: number; fps: number } | undefined;
  readonly inputToPhoton: readonly InputToPhotonSample[];
  readonly inputSeq: number;
  readonly setupMarks: Readonly<Record<string, number>>;
  readonly events: readonly DiagnosticEvent[];
  readonly player: DiagnosablePlayer;
};

declare global {
  interface Window {
    /** Diagnostics only (tests, benchmarks): see `client/sdk/diagnostics.ts`. */
    __athPlayer?: AthPlayerDiagnostics;
  }
}

const KEEP_EVENTS = 200;
const LOGGED: readonly AthPlayerEventType[] = [
  'ready',
  'queued',
  'session',
  'playing',
  'ended',
  'error',
  'statechange',
];

/** Installs `window.__athPlayer` for this player; returns the uninstall (run it on close). */
export function installDiagnostics(player: DiagnosablePlayer): () => void {
  if (typeof window === 'undefined') return () => undefined;
  const events: DiagnosticEvent[] = [];
  const unsubscribes = LOGGED.map((type) =>
    player.on(type, (event) => {
      events.push({ type, atMs: performance.now(), data: event.data });
      if (events.length > KEEP_EVENTS) events.shift();
    }),
  );
  const diagnostics: AthPlayerDiagnostics = {
    get state() {
      return player.state;
    },
    get sessionId() {
      return player.sessionId;
    },
    get game() {
      return player.game;
    },
    get codec() {
      return player.codec;
    },
    get stats() {
      return player.stats;
    },
    get lastFrameMark() {
      return player.lastFrameMark;
    },
    get frameMarks() {
      return [...player.frameMarks];
    },
    get firstPresentedFrame() {
      return player.firstPresentedFrame;
    },
    get lastPresentedFrame() {
      return player.lastPresentedFrame;
    },
    get framesPresented() {
      return player.framesPresented;
    },
    get streamInfo() {
      return player.streamInfo;
    },
    get inputToPhoton() {
      return [...player.inputToPhoton];
    },
    get inputSeq() {
      return player.inputSeq;
    },
    get setupMarks() {
      return player.setupMarks;
    },
    get events() {
      return [...events];
    },
    player,
  };
  window.__athPlayer = diagnostics;
  return () => {
    for (const unsubscribe of unsubscribes) unsubscribe();
    if (window.__athPlayer === diagnostics) window.__athPlayer = undefined;
  };
}
