/**
 * Everything one session does, inside its worker thread: the 60 Hz clock, the source (game) steps, frame
 * capture + encode (a frame is dropped while an encoder on the pool is busy, or when the clock missed its
 * tick), Opus, the WebRTC peer, input from the data channels, bitrate from the bandwidth estimate, IDR on PLI,
 * stats. The main thread only relays signaling (see StreamSession.ts).
 *
 * Streaming runs in legs: a leg starts when a peer connects and ends when it goes away. The game and the
 * clock pause between legs (a player who reloads finds the game where they left it); a new `negotiate`
 * starts the next leg with a new transport. Media time restarts at 0 each leg, on both tracks at once.
 */
import type { Logger } from 'pino';
import {
  AthError,
  type CodecName,
  decodeInput,
  type EndReasonName,
  FrameMarkInput,
  type IceCandidateInit,
  isAthError,
  PingInput,
  PongInput,
  StreamInfoInput,
} from '../../signaling/protocol/index.js';
import { RenderHostErrorCode } from '../errors.js';
import type { GameInputMessage, GameSnapshot } from '../games/index.js';
import { AudioEncoder, OPUS_CHANNELS, OPUS_FRAME_SAMPLES, OPUS_SAMPLE_RATE } from './AudioEncoder.js';
import { BitrateController } from './BitrateController.js';
import { FramePacer, type FrameTick } from './FramePacer.js';
import { installSenderReportClock } from './installSenderReportClock.js';
import type { MediaSource, SourceVideoFrame } from './MediaSource.js';
import { type InputChannelName, type PeerClosedReason, SessionPeer } from './SessionPeer.js';
import { NO_TEST_HOOKS, type TestHooks } from './TestHooks.js';
import { openVideoEncoder, type VideoEncoder } from './VideoEncoder.js';
import type { IceOptions } from './webrtcConfig.js';
import type { EncoderSettings, StreamStats } from './workerMessages.js';

export type PipelineEvents = {
  offer(sdp: string): void;
  ice(candidate: IceCandidateInit | null): void;
  connected(): void;
  stats(stats: StreamStats): void;
  ended(reason: EndReasonName, message: string): void;
  /** A video frame was handed to the peer (benchmarks: send → display by RTP timestamp). Unix ms. */
  frameSent?(rtpTimestamp: number, sentAtUnixMs: number): void;
};

export type SessionPipelineParameters = {
  source: MediaSource;
  encoder: EncoderSettings;
  audioBitrateBps: number;
  avSync: boolean;
  ice: IceOptions;
  statsIntervalMs: number;
  connectTimeoutMs: number;
  reconnectGraceMs: number;
  /** Degrade the stream on purpose (tests only, see TestHooks.ts). */
  testHooks?: TestHooks;
  events: PipelineEvents;
  log: Logger;
};

const VIDEO_CLOCK_RATE = 90_000;
const SAMPLES_PER_CHUNK = OPUS_FRAME_SAMPLES;
const ENCODE_SAMPLES_KEPT = 240;
/** Encode times sent with one stats message (one per frame: the host's encoder histogram wants each). */
const WINDOW_ENCODE_SAMPLES_MAX = 1024;

/** A tick's frame, before it is rendered. */
type FrameSlot = { leg: Leg; tickIndex: number; frameNumber: number; dueMs: number };
/** A tick's frame, captured. `inputSeq`: the last input the source had applied at capture. */
type VideoSlot = FrameSlot & { inputSeq: number };
/** A frame mark goes out at least this often (frames), input or not: the player's frame counter stays fresh. */
const FRAME_MARK_EVERY_FRAMES = 60;

type Leg = {
  peer: SessionPeer;
  /** Unix ms of media time 0 of this leg (the first tick's due time). */
  epochWallMs: number;
  videoRtpBase: number;
  audioRtpBase: number;
  /** Audio samples produced this leg. */
  audioSamples: number;
  pacer: FramePacer | undefined;
  /** Audio has its own 20 ms clock (same start): packets then arrive evenly, and the browser's audio jitter
   * buffer stays small; on the 60 Hz grid 20 ms chunks would leave at 16.7/33.3 ms intervals. */
  audioPacer: FramePacer | undefined;
  streaming: boolean;
  firstFrameSent: boolean;
  /** The input seq of the last frame mark sent on this leg (undefined: none yet). */
  markedInputSeq: number | undefined;
  /** Frames sent since the last mark. */
  framesSinceMark: number;
  /** When this leg reached each set-up stage (performance.now() ms), logged with its first frame. */
  setup: LegSetup;
  /** The counters at the leg's first frame, until its first second is logged (`#logFirstSecond`). */
  firstSecond: FirstSecondStart | undefined;
};

/** Where a leg's first second after its first frame stood at its start (a newcomer's first impression). */
type FirstSecondStart = {
  atMs: number;
  sent: number;
  keyframes: number;
  dropped: number;
  droppedBusy: number;
  encodeMs: number[];
};

/** A leg's set-up, stage by stage: where the time between a Play and its first frame goes on the host. */
type LegSetup = {
  negotiateMs: number;
  offerMs?: number;
  answerMs?: number;
  encoderOpenMs?: number;
  connectedMs?: number;
  firstFrameMs?: number;
};

/** How long a close waits for the peer's own close (werift) before it counts the session closed anyway. */
const PEER_CLOSE_WAIT_MS = 2_000;

function random32(): number {
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

export class SessionPipeline {
  readonly #p: SessionPipelineParameters;
  readonly #source: MediaSource;
  readonly #log: Logger;
  readonly #audioEncoder: AudioEncoder | undefined;
  readonly #bitrate: BitrateController;
  #encoder: VideoEncoder | undefined;
  #leg: Leg | undefined;
  #ended = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #keyframePending = true;
  /** Frame number stamped into the tag: counts ticks across legs, so drops show as gaps. */
  #frameNumber = 0;
  #connectTimer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  readonly #statsTimer: NodeJS.Timeout;
  #audioChain: Promise<void> = Promise.resolve();
  /** Audio samples produced in the whole session (the source's and the encoder's continuous clock). */
  #audioPts = 0;
  // Counters (session totals) and the current stats window.
  #framesSent = 0;
  #framesDropped = 0;
  #framesDroppedBusy = 0;
  #keyframesSent = 0;
  #inputMessages = 0;
  #badInputMessages = 0;
  #lastInputAtMs: number | undefined;
  #streamingSinceMs: number | undefined;
  #windowStartMs = performance.now();
  #windowFrames = 0;
  #windowVideoBytes = 0;
  #windowAudioBytes = 0;
  #encodeMs: number[] = [];
  /** Encode time of every frame since the last stats message, for the host's per-frame histogram. */
  #windowEncodeMs: number[] = [];
  /** A tick whose frame waits, briefly and not yet rendered, for the encoder to finish the previous one. */
  #deferred: FrameSlot | undefined;
  /** How late after its tick a frame may still be rendered and sent: a third of a frame period. */
  readonly #lateSlackMs: number;
  #testHooks: TestHooks;
  /** The ICE settings the next leg's peer uses: the session's at first, a resume's fresh TURN credentials later. */
  #ice: IceOptions;
  /** Under an fps cap: the cap period (of this leg) whose frame was last let through. */
  #lastCappedPeriod = -1;

  constructor(params: SessionPipelineParameters) {
    this.#p = params;
    this.#ice = params.ice;
    this.#source = params.source;
    this.#log = params.log;
    this.#audioEncoder = params.source.hasAudio ? AudioEncoder.open({ bitrateBps: params.audioBitrateBps }) : undefined;
    this.#bitrate = new BitrateController({
      minBitrateBps: params.encoder.minBitrateBps,
      startBitrateBps: params.encoder.startBitrateBps,
      maxBitrateBps: params.encoder.maxBitrateBps,
      onTarget: (bitrateBps) => {
        this.#log.debug({ bitrateBps, delivery: this.#bitrate.lastReport }, 'encoder bitrate');
        this.#encoder?.setBitrate(bitrateBps);
        this.#leg?.peer.setTargetBitrate(bitrateBps);
      },
    });
    this.#statsTimer = setInterval(() => this.#emitStats(), params.statsIntervalMs);
    this.#lateSlackMs = 1000 / params.source.fps / 3;
    this.#testHooks = { ...(params.testHooks ?? NO_TEST_HOOKS) };
  }

  /** Tests only: cap the frame rate and/or delay data-channel replies from now on (see TestHooks.ts). */
  setTestHooks(hooks: TestHooks): void {
    this.#testHooks = { ...hooks };
  }

  /**
   * Starts a leg: a new peer and its offer. A running leg is closed first (the player came back). `ice` replaces the
   * ICE settings from this leg on (a resume carries TURN credentials issued for it; the first ones may have expired).
   */
  async negotiate(codecs: readonly CodecName[], ice?: IceOptions): Promise<void> {
    this.#assertOpen();
    if (ice) this.#ice = ice;
    await this.#endLeg();
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    const setup: LegSetup = { negotiateMs: performance.now() };
    const { width, height, fps } = this.#source;
    const peer = await SessionPeer.create({
      codecs,
      format: { width, height, fps },
      startBitrateBps: this.#bitrate.targetBps,
      ice: this.#ice,
      avSync: this.#p.avSync,
      log: this.#log,
    });
    if (this.#closed) {
      await peer.close();
      return;
    }
    const leg: Leg = {
      peer,
      epochWallMs: 0,
      videoRtpBase: random32(),
      audioRtpBase: random32(),
      audioSamples: 0,
      pacer: undefined,
      audioPacer: undefined,
      streaming: false,
      firstFrameSent: false,
      firstSecond: undefined,
      markedInputSeq: undefined,
      framesSinceMark: 0,
      setup,
    };
    this.#leg = leg;
    this.#wirePeer(leg);
    setup.offerMs = performance.now();
    this.#p.events.offer(peer.takeOffer());
    // werift gathers every candidate (host, STUN, TURN) before the offer: tell the player there are no more.
    this.#p.events.ice(null);
    this.#armConnectTimeout();
    // While the player answers (a signaling round trip and the browser's own work), open the encoder for the
    // codec it prefers — the one its answer normally selects; `acceptAnswer` reopens if it chose another.
    const preferred = codecs[0];
    if (!this.#encoder && preferred) setImmediate(() => this.#openEncoderEarly(leg, preferred));
  }

  #openEncoderEarly(leg: Leg, codec: CodecName): void {
    if (this.#encoder || this.#closed || leg !== this.#leg || leg.setup.answerMs !== undefined) return;
    try {
      this.#encoder = this.#openEncoder(codec);
    } catch (error) {
      // acceptAnswer tries again and reports it.
      this.#log.debug({ err: error, codec }, 'early encoder open failed');
    }
  }

  #openEncoder(codec: CodecName): VideoEncoder {
    const { encoder, failures } = openVideoEncoder({
      codec,
      width: this.#source.width,
      height: this.#source.height,
      fps: this.#source.fps,
      bitrateBps: this.#bitrate.targetBps,
      prefer: this.#p.encoder.prefer,
    });
    if (failures.length > 0) {
      const level = this.#p.encoder.prefer === 'nvenc' ? 'warn' : 'debug';
      this.#log[level]({ failures: failures.map((f) => `${f.name}: ${f.error.message}`) }, 'encoder fallback');
    }
    this.#log.info({ codec, encoder: encoder.name }, 'encoder open');
    return encoder;
  }

  async acceptAnswer(sdp: string): Promise<void> {
    this.#assertOpen();
    const leg = this.#leg;
    if (!leg) {
      throw new AthError({ code: RenderHostErrorCode.negotiation, shortMessage: 'an answer arrived before any offer' });
    }
    leg.setup.answerMs ??= performance.now();
    const codec = await leg.peer.acceptAnswer(sdp);
    // A close that came meanwhile has freed (or is freeing) the encoders: opening one now would outlive it.
    this.#assertOpen();
    if (!this.#encoder || this.#encoder.codec !== codec) {
      const previous = this.#encoder;
      this.#encoder = undefined;
      await previous?.close();
      this.#assertOpen();
      this.#encoder = this.#openEncoder(codec);
    }
    leg.setup.encoderOpenMs ??= performance.now();
    this.#keyframePending = true;
    this.#maybeStartStreaming(leg);
  }

  async addIceCandidate(candidate: IceCandidateInit | null): Promise<void> {
    this.#assertOpen();
    await this.#leg?.peer.addIceCandidate(candidate);
  }

  /** Input from a data channel (or relayed through signaling when `channel` is undefined). */
  handleInput(bytes: Uint8Array, channel?: InputChannelName): void {
    if (this.#closed) return;
    let message: ReturnType<typeof decodeInput>;
    try {
      message = decodeInput(bytes);
    } catch (error) {
      this.#badInputMessages += 1;
      this.#log.debug({ err: error, bytes: bytes.byteLength, channel }, 'malformed input');
      return;
    }
    if (message instanceof PingInput) {
      // Answered at once, before anything else: the player (or a checker) measures RTT on this path.
      const peer = this.#leg?.peer;
      if (!channel || !peer) return;
      const pong = new PongInput(message.id, message.sentAtMs + (this.#testHooks.forgePongAheadMs ?? 0)).serialize();
      const delayMs = this.#testHooks.dataChannelDelayMs;
      if (delayMs > 0) setTimeout(() => peer.reply(channel, pong), delayMs).unref();
      else peer.reply(channel, pong);
      return;
    }
    // Pongs answer nothing here; frame marks go the other way (host → player) and mean nothing coming in.
    if (message instanceof PongInput || message instanceof FrameMarkInput || message instanceof StreamInfoInput) return;
    this.#inputMessages += 1;
    this.#lastInputAtMs = performance.now();
    this.#applyInput(message);
  }

  #applyInput(message: GameInputMessage): void {
    try {
      this.#source.applyInput(message);
    } catch (error) {
      this.#badInputMessages += 1;
      this.#log.debug({ err: error }, 'input rejected by the source');
    }
  }

  snapshot(): GameSnapshot | undefined {
    return this.#source.snapshot();
  }

  // ---- legs ------------------------------------------------------------------------------------------------

  #wirePeer(leg: Leg): void {
    const { peer } = leg;
    peer.on('ice', (candidate) => this.#p.events.ice(candidate));
    peer.on('connected', () => {
      leg.setup.connectedMs ??= performance.now();
      this.#maybeStartStreaming(leg);
    });
    peer.on('closed', (reason) => this.#onPeerClosed(leg, reason));
    peer.on('input', (bytes, channel) => this.handleInput(bytes, channel));
    peer.on('keyframeRequest', () => {
      this.#log.debug('PLI: next frame is an IDR');
      this.#keyframePending = true;
    });
    peer.on('delivery', (report) => {
      this.#log.trace(report, 'transport feedback');
      this.#bitrate.onDelivery(report, performance.now());
    });
  }

  #maybeStartStreaming(leg: Leg): void {
    if (leg !== this.#leg || leg.streaming || !leg.peer.connected || !this.#encoder || this.#closed) return;
    leg.streaming = true;
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    this.#keyframePending = true;
    this.#streamingSinceMs ??= performance.now();
    this.#lastCappedPeriod = -1;
    const pacer = new FramePacer({ fps: this.#source.fps, onTick: (tick) => this.#onTick(leg, tick) });
    leg.pacer = pacer;
    if (this.#audioEncoder) {
      const chunksPerSecond = OPUS_SAMPLE_RATE / SAMPLES_PER_CHUNK;
      leg.audioPacer = new FramePacer({ fps: chunksPerSecond, onTick: (tick) => this.#produceAudio(leg, tick) });
    }
    const startMs = performance.now();
    leg.epochWallMs = performance.timeOrigin + startMs;
    for (const [sender, clockRate, rtpBase] of [
      [leg.peer.videoSender, VIDEO_CLOCK_RATE, leg.videoRtpBase],
      [leg.peer.audioSender, OPUS_SAMPLE_RATE, leg.audioRtpBase],
    ] as const) {
      if (!installSenderReportClock({ sender, clockRate, rtpBase, epochWallMs: leg.epochWallMs })) {
        this.#log.warn('werift sender fields changed: sender reports keep werift’s own clock (A/V sync off)');
      }
    }
    pacer.start(startMs);
    leg.audioPacer?.start(startMs);
    this.#log.info({ codec: this.#encoder.codec }, 'streaming');
  }

  #onPeerClosed(leg: Leg, reason: PeerClosedReason): void {
    if (leg !== this.#leg || this.#closed) return;
    this.#log.info({ reason }, 'peer gone; waiting for the player to come back');
    void this.#endLeg();
    this.#reconnectTimer = setTimeout(
      () => this.#end('player-left', `The player left (${reason}).`),
      this.#p.reconnectGraceMs,
    );
  }

  async #endLeg(): Promise<void> {
    const leg = this.#leg;
    if (!leg) return;
    this.#leg = undefined;
    leg.pacer?.stop();
    leg.audioPacer?.stop();
    leg.streaming = false;
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    this.#source.releaseInput?.();
    await leg.peer.close();
  }

  #armConnectTimeout(): void {
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    this.#connectTimer = setTimeout(
      () => this.#end('connect-timeout', 'The WebRTC connection did not come up in time.'),
      this.#p.connectTimeoutMs,
    );
  }

  // ---- the frame clock -------------------------------------------------------------------------------------

  #onTick(leg: Leg, tick: FrameTick): void {
    if (leg !== this.#leg || !leg.streaming) return;
    // The simulation keeps real time: missed ticks are stepped (and count as dropped frames).
    for (let i = 0; i <= tick.missed; i++) this.#source.tick();
    this.#frameNumber += tick.missed + 1;
    this.#framesDropped += tick.missed;
    if (tick.missed > 0) this.#log.trace({ missed: tick.missed, lateMs: tick.lateMs }, 'ticks missed');
    if (this.#cappedOut(tick)) {
      this.#framesDropped += 1;
      return;
    }
    this.#produceVideo(leg, tick);
  }

  /** Under the `fpsCap` test hook, whether this tick's frame is left out (one frame per cap period). */
  #cappedOut(tick: FrameTick): boolean {
    const cap = this.#testHooks.fpsCap;
    if (cap === undefined || cap >= this.#source.fps) return false;
    const period = Math.floor((tick.index * cap) / this.#source.fps);
    if (period === this.#lastCappedPeriod) return true;
    this.#lastCappedPeriod = period;
    return false;
  }

  #produceVideo(leg: Leg, tick: FrameTick): void {
    if (this.#deferred) this.#drop(this.#deferred.frameNumber, 'encoder still busy at the next tick');
    this.#deferred = undefined;
    const encoder = this.#encoder;
    if (!encoder) {
      this.#drop(this.#frameNumber, 'no encoder');
      return;
    }
    const slot: FrameSlot = { leg, tickIndex: tick.index, frameNumber: this.#frameNumber, dueMs: tick.dueMs };
    if (encoder.busy) {
      // (Only an encoder on the thread pool — NVENC, x264 above 720p60 — can be busy at a tick: up to 720p60 x264
      // and libvpx encode on this thread, within the tick that captured the frame; when they run long, the next
      // ticks are missed instead.)
      // Not queued: this frame waits for the encoder at most a third of a period; if the encoder is not free by
      // then (or the next tick comes first), it is dropped. It waits unrendered: the source's state is this
      // tick's until the next one (the clock steps it), so a capture when the encoder frees shows the same
      // picture, and a frame that is dropped costs no rendering, read-out or colour conversion. On a loaded box
      // that is most of what a dropped frame used to cost (≈3–4 ms of a 720p frame's CPU).
      this.#deferred = slot;
      return;
    }
    this.#captureAndEncode(encoder, slot);
  }

  #captureAndEncode(encoder: VideoEncoder, slot: FrameSlot): void {
    const frame = this.#source.captureVideo(encoder.inputBuffer);
    this.#encode(encoder, { ...slot, inputSeq: this.#source.lastInputSeq }, frame);
  }

  #drop(frameNumber: number, why: string): void {
    this.#framesDropped += 1;
    this.#framesDroppedBusy += 1;
    this.#log.trace({ frame: frameNumber, why }, 'frame dropped');
  }

  #onEncoderFree(): void {
    const slot = this.#deferred;
    this.#deferred = undefined;
    if (!slot) return;
    const encoder = this.#encoder;
    if (!encoder || encoder.busy || slot.leg !== this.#leg || performance.now() - slot.dueMs > this.#lateSlackMs) {
      this.#drop(slot.frameNumber, 'encoder freed too late');
      return;
    }
    this.#captureAndEncode(encoder, slot);
  }

  #encode(encoder: VideoEncoder, { leg, tickIndex, frameNumber, inputSeq }: VideoSlot, frame: SourceVideoFrame): void {
    const keyframe = this.#keyframePending;
    this.#keyframePending = false;
    const rtpTimestamp = (leg.videoRtpBase + Math.round((tickIndex * VIDEO_CLOCK_RATE) / this.#source.fps)) >>> 0;
    void encoder
      .encode({
        pixels: frame.pixels,
        layout: frame.layout,
        // Encoder time is session-wide (monotonic across legs); RTP time restarts with each leg.
        pts90k: frameNumber * (VIDEO_CLOCK_RATE / this.#source.fps),
        keyframe,
      })
      .then((encoded) => {
        if (!encoded || leg !== this.#leg || this.#closed) return;
        const packets = leg.peer.sendVideo(encoded.data, rtpTimestamp);
        if (packets === 0) return;
        this.#markFrame(leg, { inputSeq, rtpTimestamp, frameNumber });
        this.#p.events.frameSent?.(rtpTimestamp, performance.timeOrigin + performance.now());
        this.#framesSent += 1;
        this.#windowFrames += 1;
        this.#windowVideoBytes += encoded.data.length;
        if (encoded.keyframe) this.#keyframesSent += 1;
        this.#encodeMs.push(encoded.encodeMs);
        if (this.#encodeMs.length > ENCODE_SAMPLES_KEPT) this.#encodeMs.shift();
        if (this.#windowEncodeMs.length < WINDOW_ENCODE_SAMPLES_MAX) this.#windowEncodeMs.push(encoded.encodeMs);
        this.#log.trace(
          { frame: frameNumber, bytes: encoded.data.length, packets, encodeMs: encoded.encodeMs },
          'frame sent',
        );
        if (!leg.firstFrameSent) {
          leg.firstFrameSent = true;
          leg.setup.firstFrameMs = performance.now();
          leg.firstSecond = {
            atMs: leg.setup.firstFrameMs,
            sent: this.#framesSent,
            keyframes: this.#keyframesSent,
            dropped: this.#framesDropped,
            droppedBusy: this.#framesDroppedBusy,
            encodeMs: [],
          };
          this.#logSetup(leg.setup, encoded.encodeMs);
          this.#p.events.connected();
        } else if (leg.firstSecond) {
          leg.firstSecond.encodeMs.push(encoded.encodeMs);
          if (performance.now() - leg.firstSecond.atMs >= 1_000) this.#logFirstSecond(leg, leg.firstSecond);
        }
      })
      .catch((error: unknown) => {
        if (this.#closed) return;
        // A keyframe that failed must be retried, or the player may wait for one forever.
        if (keyframe) this.#keyframePending = true;
        this.#log.error({ err: error }, 'video encode failed');
        this.#end('error', 'The video encoder failed.');
      })
      .finally(() => this.#onEncoderFree());
  }

  /** One line per leg: ms from `negotiate` to each stage (offer out, answer in, encoder open, ICE + DTLS up, first frame). */
  #logSetup(setup: LegSetup, firstEncodeMs: number): void {
    const since = (ms: number | undefined) => (ms === undefined ? null : Math.round(ms - setup.negotiateMs));
    this.#log.info(
      {
        setupMs: {
          offer: since(setup.offerMs),
          answer: since(setup.answerMs),
          encoderOpen: since(setup.encoderOpenMs),
          connected: since(setup.connectedMs),
          firstFrame: since(setup.firstFrameMs),
        },
        firstEncodeMs: Math.round(firstEncodeMs * 10) / 10,
        negotiatedAtUnixMs: Math.round(performance.timeOrigin + setup.negotiateMs),
      },
      'first frame sent',
    );
  }

  /**
   * One line per leg, one second after its first frame: frames sent and dropped by cause, and encode times, in
   * that second — what decides whether a newcomer's first second holds 60 fps (`bench:stream -- --startup`).
   */
  #logFirstSecond(leg: Leg, start: FirstSecondStart): void {
    leg.firstSecond = undefined;
    const sorted = [...start.encodeMs].sort((a, b) => a - b);
    const droppedBusy = this.#framesDroppedBusy - start.droppedBusy;
    this.#log.info(
      {
        firstSecond: {
          sent: this.#framesSent - start.sent,
          keyframes: this.#keyframesSent - start.keyframes,
          droppedEncoderBusy: droppedBusy,
          droppedTicksMissed: this.#framesDropped - start.dropped - droppedBusy,
          encodeMsP50: Math.round(percentile(sorted, 0.5) * 10) / 10,
          encodeMsMax: Math.round((sorted.at(-1) ?? 0) * 10) / 10,
          encodesOver16Ms: sorted.filter((ms) => ms > 1000 / 60).length,
        },
      },
      'first second streamed',
    );
  }

  /**
   * Tells the player, on the `input` channel right behind the frame's packets, which input first took effect in
   * the frame with this RTP timestamp (see FrameMarkInput): the first frame of a leg, every frame whose input
   * seq moved, and one frame a second regardless (with a StreamInfoInput: the encoder in use). Nothing is drawn
   * into the picture.
   */
  #markFrame(
    leg: Leg,
    { inputSeq, rtpTimestamp, frameNumber }: Pick<VideoSlot, 'inputSeq' | 'frameNumber'> & { rtpTimestamp: number },
  ): void {
    leg.framesSinceMark += 1;
    const first = leg.markedInputSeq === undefined;
    const periodic = leg.framesSinceMark >= FRAME_MARK_EVERY_FRAMES;
    if (!first && !periodic && leg.markedInputSeq === inputSeq) return;
    // Media flows from DTLS on; the channels open a round trip later: until a mark got through, the next
    // frame tries again (it is still the first).
    if (!leg.peer.reply('input', new FrameMarkInput(inputSeq, rtpTimestamp, frameNumber).serialize())) return;
    leg.markedInputSeq = inputSeq;
    leg.framesSinceMark = 0;
    const encoder = this.#encoder;
    if ((first || periodic) && encoder) {
      // What actually encodes this stream (NVENC, or the fallback it fell back to), for the stats overlay.
      const { width, height, fps } = this.#source;
      leg.peer.reply('input', new StreamInfoInput(encoder.name, width, height, fps).serialize());
    }
  }

  /** One 20 ms chunk per audio tick (more after missed ticks: audio is never dropped). */
  #produceAudio(leg: Leg, tick: FrameTick): void {
    const encoder = this.#audioEncoder;
    if (!encoder || leg !== this.#leg || !leg.streaming) return;
    // Chunk k covers media time [20k, 20k + 20) ms and leaves at 20k ms: audio runs up to a chunk ahead of
    // the picture, which suits lip-sync (the browser's audio path is the slower one, so sync delays audio
    // rather than holding video back).
    const wantedSamples = (tick.index + 1) * SAMPLES_PER_CHUNK;
    while (leg.audioSamples < wantedSamples) {
      const start = leg.audioSamples;
      leg.audioSamples += SAMPLES_PER_CHUNK;
      const pts = this.#audioPts;
      this.#audioPts += SAMPLES_PER_CHUNK;
      const pcm = new Int16Array(SAMPLES_PER_CHUNK * OPUS_CHANNELS);
      this.#source.readAudio(pcm, pts);
      const rtpTimestamp = (leg.audioRtpBase + start) >>> 0;
      // Chained, never dropped: a gap in audio is heard; Opus takes well under a millisecond per chunk.
      this.#audioChain = this.#audioChain
        .then(() => encoder.encode(pcm, pts))
        .then((packets) => {
          if (leg !== this.#leg) return;
          for (const packet of packets) {
            leg.peer.sendAudio(packet, rtpTimestamp);
            this.#windowAudioBytes += packet.length;
          }
        })
        .catch((error: unknown) => {
          if (this.#closed) return;
          this.#log.error({ err: error }, 'audio encode failed');
          this.#end('error', 'The audio encoder failed.');
        });
    }
  }

  // ---- stats and lifecycle ---------------------------------------------------------------------------------

  #emitStats(): void {
    if (this.#closed) return;
    const now = performance.now();
    const seconds = Math.max(0.001, (now - this.#windowStartMs) / 1000);
    const sorted = [...this.#encodeMs].sort((a, b) => a - b);
    const peer = this.#leg?.peer.stats();
    const estimate = this.#bitrate.lastReport?.deliveredBps;
    const idleSince = this.#lastInputAtMs ?? this.#streamingSinceMs ?? now;
    const stats: StreamStats = {
      fps: Math.round((this.#windowFrames / seconds) * 10) / 10,
      framesSent: this.#framesSent,
      framesDropped: this.#framesDropped,
      framesDroppedEncoderBusy: this.#framesDroppedBusy,
      bitrateBps: Math.round(((this.#windowVideoBytes + this.#windowAudioBytes) * 8) / seconds),
      videoBitrateBps: Math.round((this.#windowVideoBytes * 8) / seconds),
      targetBitrateBps: this.#bitrate.targetBps,
      ...(estimate !== undefined ? { estimateBitrateBps: Math.round(estimate) } : {}),
      ...(this.#bitrate.lastReport
        ? {
            queueDelayMs: Math.round(this.#bitrate.lastReport.queueDelayMs * 10) / 10,
            lossFraction: Math.round(this.#bitrate.lastReport.lossFraction * 10_000) / 10_000,
          }
        : {}),
      windowEncodeMs: this.#windowEncodeMs.map((ms) => Math.round(ms * 100) / 100),
      encodeMsP50: Math.round(percentile(sorted, 0.5) * 100) / 100,
      encodeMsP95: Math.round(percentile(sorted, 0.95) * 100) / 100,
      encoder: this.#encoder?.name ?? 'none',
      codec: this.#encoder?.codec ?? 'none',
      width: this.#source.width,
      height: this.#source.height,
      keyframesSent: this.#keyframesSent,
      pliCount: peer?.pliCount ?? 0,
      nackCount: peer?.nackCount ?? 0,
      ...(peer?.rttMs !== undefined ? { rttMs: Math.round(peer.rttMs * 10) / 10 } : {}),
      audioPacketsSent: peer?.audioPacketsSent ?? 0,
      inputIdleMs: Math.round(now - idleSince),
      inputMessages: this.#inputMessages,
      badInputMessages: this.#badInputMessages,
      playoutDelay: this.#leg?.peer.playoutDelayNegotiated ?? false,
    };
    this.#windowStartMs = now;
    this.#windowFrames = 0;
    this.#windowVideoBytes = 0;
    this.#windowAudioBytes = 0;
    this.#windowEncodeMs = [];
    this.#p.events.stats(stats);
  }

  #assertOpen(): void {
    if (this.#closed) throw new AthError({ code: RenderHostErrorCode.sessionClosed, shortMessage: 'session closed' });
  }

  /** Ends the session from inside (error, timeout, player gone): reports once, then closes. */
  #end(reason: EndReasonName, message: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#p.events.ended(reason, message);
    void this.close().catch((error: unknown) => this.#log.error({ err: error }, 'close after end failed'));
  }

  /**
   * Stops the clock, closes the peer (sockets), frees both encoders (after their in-flight work) and the
   * source. Idempotent: every call gets the same promise, so nobody proceeds to terminate the worker early.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#statsTimer);
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    // The clock stops at once; the peer's sockets close meanwhile, but the FFmpeg objects do not wait for them
    // (the worker may be stopped only once these are freed, see nativeWork.ts).
    const legEnded = this.#endLeg();
    // The chain handles its own errors (see #produceAudio): this only waits for the last chunk.
    await this.#audioChain;
    await Promise.all([this.#encoder?.close(), this.#audioEncoder?.close()]);
    await this.#source.close();
    await Promise.race([legEnded, new Promise((resolve) => setTimeout(resolve, PEER_CLOSE_WAIT_MS).unref())]);
  }

  /** Wraps anything thrown by a command into the error the main thread gets. */
  static toReplyError(error: unknown): AthError {
    if (isAthError(error)) return error;
    return new AthError({
      code: RenderHostErrorCode.sessionWorker,
      shortMessage: 'session command failed',
      cause: error,
    });
  }
}
