import type {
  CodecName,
  EndReasonName,
  GameInfoRecord,
  IceCandidateInit,
  IceServerRecord,
  QualityName,
} from '../../signaling/protocol/index.js';

/** What a running session tells the host (and through it, signaling). */
export type SessionDriverEvents = {
  offer(sdp: string): void;
  ice(candidate: IceCandidateInit | null): void;
  /** WebRTC is up and the first frame went out: the lease is confirmed. */
  connected(): void;
  /** Every few seconds: what was delivered, for delivery verification and AFK detection. */
  report(report: { fpsMilli: number; framesSent: number; bitrateBps: number; inputIdleMs: number }): void;
  ended(reason: EndReasonName, message: string): void;
};

/** What a provider (and the stream benchmark) sees of a live session on `GET /sessions`. */
export type SessionStatsView = {
  fps: number;
  framesSent: number;
  framesDropped: number;
  /**
   * Of `framesDropped`: frames an encoder on the pool was still busy for (the rest are ticks the clock missed — an
   * encoder on the session's thread, x264 up to 720p60, shows its overruns there).
   */
  framesDroppedEncoderBusy?: number;
  encodeMsP50: number;
  encodeMsP95: number;
  encoder: string;
  codec: string;
  width: number;
  height: number;
  bitrateBps: number;
  rttMs?: number;
  inputIdleMs: number;
};

/**
 * The host's handle on one session, whatever runs it (the built-in game in a worker, or an external game
 * captured from its own display). Everything is idempotent; `close` frees every resource of the session.
 */
export type SessionDriver = {
  acceptAnswer(sdp: string): Promise<void>;
  addIceCandidate(candidate: IceCandidateInit | null): Promise<void>;
  relayInput(bytes: Uint8Array): void;
  /**
   * A player came back (reload, network blip): new WebRTC transport, same game state. `iceServers`: what signaling
   * issued with the resume (fresh TURN credentials), used from the new transport on; the previous ones when absent.
   */
  restartTransport(codecs: CodecName[], iceServers?: IceServerRecord[]): Promise<void>;
  close(reason: EndReasonName): Promise<void>;
  /** The latest stats of the stream, once it has any. */
  stats(): SessionStatsView | undefined;
};

export type SessionDriverFactoryParameters = {
  sessionId: string;
  game: GameInfoRecord;
  codecs: CodecName[];
  /** The player's quality rung (a built-in game's size, frame rate and bitrate); absent: auto. */
  quality?: QualityName;
  /** STUN/TURN servers signaling issued for this session (`start-session`); the host adds its NAT settings. */
  iceServers?: IceServerRecord[];
  events: SessionDriverEvents;
};

export type SessionDriverFactory = (params: SessionDriverFactoryParameters) => Promise<SessionDriver>;
