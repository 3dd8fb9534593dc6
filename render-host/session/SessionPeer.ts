/**
 * The render host's end of one WebRTC connection (werift): it makes the offer — a sendonly video track, a
 * sendonly audio track, the `input` (reliable, ordered) and `input-state` (unreliable, unordered) data
 * channels — takes the answer, and sends what the pipeline encodes, RTP-packetized by werift's packetizers
 * with the playout-delay extension on every video packet, each frame's packets paced (PacketPacer.ts). Nothing media-specific happens here beyond that.
 */
import type { Logger } from 'pino';
import {
  H264Packetizer,
  MediaStream,
  OpusPacketizer,
  type PacketizerBase,
  type RTCDataChannel,
  RTCPeerConnection,
  type RTCRtpSender,
  type RTCRtpTransceiver,
  RtcpTransportLayerFeedback,
  type RtpPacket,
  TransportWideCC,
  Vp8Packetizer,
} from 'werift';
import {
  AthError,
  type CodecName,
  candidateInit,
  type IceCandidateInit,
  PLAYOUT_DELAY_URI,
  type VideoFormat,
} from '../../signaling/protocol/index.js';
import { RenderHostErrorCode } from '../errors.js';
import { DeliveryMonitor, type DeliveryReport } from './DeliveryMonitor.js';
import { type DirectRtpSendReturnType, directRtpSend } from './directRtpSend.js';
import { PacketPacer } from './PacketPacer.js';
import { TypedEmitter } from './TypedEmitter.js';
import {
  announces,
  audioHeaderExtensions,
  basePeerConfig,
  type IceOptions,
  OFFERER_BUNDLE_POLICY,
  PLAYOUT_DELAY_ZERO,
  videoHeaderExtensions,
  withAnnouncedCandidates,
} from './webrtcConfig.js';

export type InputChannelName = 'input' | 'input-state';
export type PeerClosedReason = 'failed' | 'closed' | 'disconnected' | 'channel-closed' | 'silent';

export type SessionPeerEvents = {
  ice: [candidate: IceCandidateInit | null];
  /** ICE and DTLS are up: media can flow. */
  connected: [];
  /** The connection is gone for good (fires once). */
  closed: [reason: PeerClosedReason];
  input: [bytes: Uint8Array, channel: InputChannelName];
  /** The receiver lost the picture (PLI): the next frame must be an IDR. */
  keyframeRequest: [];
  /** Transport-wide-cc feedback on the video packets, decoded (queue delay, loss, delivered rate). */
  delivery: [report: DeliveryReport];
};

export type CreateSessionPeerParameters = {
  /** Video codecs the player decodes, most preferred first: the offer lists them in that order. */
  codecs: readonly CodecName[];
  /** What the pipeline encodes: the offer's H.264 profile-level-id states its level; the pacer its interval. */
  format: VideoFormat;
  /** The encoder's starting target bitrate (the pacer's rate follows the target: `setTargetBitrate`). */
  startBitrateBps?: number;
  ice?: IceOptions;
  /**
   * Put video and audio in one MediaStream (`a=msid`) so the browser lip-syncs them. Sync may make the browser
   * hold video back to match audio's longer jitter buffer: it costs latency.
   */
  avSync: boolean;
  /** How long ICE may stay `disconnected` before the peer counts as gone. */
  disconnectGraceMs?: number;
  /** How long a connected receiver may send no RTCP at all before it counts as gone. */
  silenceTimeoutMs?: number;
  log: Logger;
};

export type SessionPeerStats = {
  pliCount: number;
  nackCount: number;
  rttMs: number | undefined;
  videoPacketsSent: number;
  audioPacketsSent: number;
  videoBytesSent: number;
  /** RTP packets (video and audio) sent by directRtpSend's short path / through werift's own sendRtp. */
  rtpDirectPackets: number;
  rtpWeriftPackets: number;
};

const DEFAULT_DISCONNECT_GRACE_MS = 3000;
/** A frame's packets leave within this part of the frame interval (4.2 ms at 60 fps). */
const PACING_SPREAD_OF_FRAME = 0.25;
const DEFAULT_PACING_START_BPS = 4_000_000;
/**
 * A browser whose tab closes says nothing werift notices: no DTLS alert or SCTP abort gets through, and
 * werift's ICE consent expires only after 30 s. But a receiver sends RTCP all the time (Chromium: TWCC feedback
 * every ~100 ms, receiver reports every second), so RTCP silence is the quick tell.
 */
const DEFAULT_SILENCE_TIMEOUT_MS = 3000;

type WeriftSenderEstimator = { rtpPacketSent: (info: unknown) => void; receiveTWCC: (feedback: unknown) => void };

/**
 * Stops werift's own bandwidth estimator (`sender.senderBWE`, private in its types) from keeping books: the
 * session's estimate comes from DeliveryMonitor (see there for why werift's is not used). werift 0.25.2 records
 * every video packet in it — a new object per packet, sorted bookkeeping that never deletes (it iterates the
 * record's fields, not its own map), so its map grows to 65,536 live entries, ≈2 min into a 720p60 stream — and
 * walks each TWCC feedback through it. Returns false (and changes nothing) where the fields are not there.
 */
export function muteWeriftEstimator(sender: RTCRtpSender): boolean {
  const estimator = (sender as unknown as { senderBWE?: Partial<WeriftSenderEstimator> }).senderBWE;
  if (typeof estimator?.rtpPacketSent !== 'function' || typeof estimator.receiveTWCC !== 'function') return false;
  estimator.rtpPacketSent = () => undefined;
  estimator.receiveTWCC = () => undefined;
  return true;
}

export class SessionPeer extends TypedEmitter<SessionPeerEvents> {
  readonly #pc: RTCPeerConnection;
  readonly #video: RTCRtpTransceiver;
  readonly #audio: RTCRtpTransceiver;
  readonly #channels: Record<InputChannelName, RTCDataChannel>;
  readonly #log: Logger;
  readonly #ice: IceOptions;
  readonly #disconnectGraceMs: number;
  readonly #unsubscribe: (() => void)[] = [];
  #offerSdp = '';
  #offerSent = false;
  #videoCodec: CodecName | undefined;
  #videoPacketizer: (PacketizerBase & { packetize(data: Buffer, ts: number): RtpPacket[] }) | undefined;
  readonly #audioPacketizer = new OpusPacketizer();
  #playoutDelayId: number | undefined;
  #connected = false;
  #closed = false;
  #watchedDtls: RTCRtpSender['dtlsTransport'] | undefined;
  #disconnectTimer: NodeJS.Timeout | undefined;
  readonly #silenceTimeoutMs: number;
  #lastRtcpAtMs = 0;
  #silenceTimer: NodeJS.Timeout | undefined;
  #pliCount = 0;
  #nackCount = 0;
  #videoPacketsSent = 0;
  #audioPacketsSent = 0;
  #videoBytesSent = 0;
  readonly #delivery = new DeliveryMonitor();
  readonly #pacer: PacketPacer<RtpPacket>;
  /** Each sender's short send path (directRtpSend.ts). */
  readonly #videoSend: DirectRtpSendReturnType;
  readonly #audioSend: DirectRtpSendReturnType;

  private constructor(params: CreateSessionPeerParameters) {
    super(params.log);
    this.#log = params.log;
    this.#ice = params.ice ?? {};
    this.#disconnectGraceMs = params.disconnectGraceMs ?? DEFAULT_DISCONNECT_GRACE_MS;
    this.#silenceTimeoutMs = params.silenceTimeoutMs ?? DEFAULT_SILENCE_TIMEOUT_MS;
    this.#pacer = new PacketPacer<RtpPacket>({
      send: (packet) => this.#sendVideoPacket(packet),
      spreadMs: (1000 / params.format.fps) * PACING_SPREAD_OF_FRAME,
      targetBitrateBps: params.startBitrateBps ?? DEFAULT_PACING_START_BPS,
    });
    this.#pc = new RTCPeerConnection({
      ...basePeerConfig(params.codecs, params.ice, params.format),
      // Not werift's max-compat: it would leave two ICE transports' sockets open after close (see webrtcConfig.ts).
      bundlePolicy: OFFERER_BUNDLE_POLICY,
    });
    const streams = params.avSync ? { streams: [new MediaStream()] } : {};
    this.#video = this.#pc.addTransceiver('video', { direction: 'sendonly', ...streams });
    this.#audio = this.#pc.addTransceiver('audio', { direction: 'sendonly', ...streams });
    // Fixed extension ids, the same in both m-lines (see signaling/protocol/mediaWire.ts); createOffer keeps non-empty lists.
    for (const sender of [this.#video.sender, this.#audio.sender]) {
      if (!muteWeriftEstimator(sender)) {
        params.log.debug('werift sender fields changed: its own bandwidth estimator keeps running (unused)');
      }
    }
    this.#video.headerExtensions = videoHeaderExtensions();
    this.#audio.headerExtensions = audioHeaderExtensions();
    const onSendError = (error: unknown) => this.#log.debug({ err: error }, 'RTP send failed');
    this.#videoSend = directRtpSend(this.#video.sender, onSendError);
    this.#audioSend = directRtpSend(this.#audio.sender, onSendError);
    this.#channels = {
      input: this.#pc.createDataChannel('input', { ordered: true }),
      'input-state': this.#pc.createDataChannel('input-state', { ordered: false, maxRetransmits: 0 }),
    };
    this.#wire();
    this.#watchDtls();
  }

  /** Creates the connection and its offer (ICE gathering included: the offer carries the host candidates). */
  static async create(params: CreateSessionPeerParameters): Promise<SessionPeer> {
    const peer = new SessionPeer(params);
    try {
      await peer.#pc.setLocalDescription(await peer.#pc.createOffer());
      // Candidates the host's settings withhold (internal addresses behind NAT) never leave it.
      peer.#offerSdp = withAnnouncedCandidates(peer.#pc.localDescription?.sdp ?? '', peer.#ice);
      if (!peer.#offerSdp) throw new Error('no local description after setLocalDescription');
    } catch (error) {
      await peer.close();
      throw new AthError({
        code: RenderHostErrorCode.negotiation,
        shortMessage: 'could not create the offer',
        cause: error,
      });
    }
    return peer;
  }

  /** The offer, with candidates. Reading it marks the offer as sent: later candidates go out as `ice`. */
  takeOffer(): string {
    this.#offerSent = true;
    return this.#offerSdp;
  }

  get videoCodec(): CodecName | undefined {
    return this.#videoCodec;
  }

  get connected(): boolean {
    return this.#connected;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Whether the answer kept the playout-delay extension (Chromium does). */
  get playoutDelayNegotiated(): boolean {
    return this.#playoutDelayId !== undefined;
  }

  /** Applies the player's answer; returns the video codec it selected (what the encoder must produce). */
  async acceptAnswer(sdp: string): Promise<CodecName> {
    if (this.#closed) throw new AthError({ code: RenderHostErrorCode.sessionClosed, shortMessage: 'peer closed' });
    try {
      await this.#pc.setRemoteDescription({ type: 'answer', sdp });
    } catch (error) {
      throw new AthError({ code: RenderHostErrorCode.negotiation, shortMessage: 'answer rejected', cause: error });
    }
    // werift takes an answer without media sections; it then has not accepted our video m-line at all.
    if (this.#video.currentDirection !== 'sendonly') {
      throw new AthError({
        code: RenderHostErrorCode.negotiation,
        shortMessage: 'the answer does not accept the video track',
        details: `direction ${String(this.#video.currentDirection)}`,
      });
    }
    const selected = this.#video.codecs.find((codec) => codec.name.toLowerCase() !== 'rtx');
    const name = selected?.name.toUpperCase();
    if (name !== 'H264' && name !== 'VP8') {
      throw new AthError({
        code: RenderHostErrorCode.negotiation,
        shortMessage: 'the answer selected no video codec this host encodes',
        details: String(selected?.name),
      });
    }
    this.#videoCodec = name;
    // BUNDLE may have moved the m-lines onto another transport.
    this.#watchDtls();
    this.#videoPacketizer = name === 'H264' ? new H264Packetizer({ inputFormat: 'annexb' }) : new Vp8Packetizer();
    this.#playoutDelayId = this.#video.headerExtensions.find((ext) => ext.uri === PLAYOUT_DELAY_URI)?.id;
    this.#log.debug(
      { codec: name, playoutDelayId: this.#playoutDelayId, audioCodec: this.#audio.codecs[0]?.name },
      'answer accepted',
    );
    return name;
  }

  async addIceCandidate(candidate: IceCandidateInit | null): Promise<void> {
    if (this.#closed) return;
    try {
      // The browser's end-of-candidates is not passed on: werift ends its checks at once when it arrives
      // before any pair exists — e.g. while it still resolves the browser's mDNS (.local) candidate, or
      // before the browser's first check has taught it a peer-reflexive one — and declares ICE failed
      // ~100 ms after the offer. Without it werift keeps checking until a pair succeeds; a session that
      // never connects is ended by the setup timeout instead.
      if (candidate === null) return;
      await this.#pc.addIceCandidate(candidateInit(candidate));
    } catch (error) {
      throw new AthError({
        code: RenderHostErrorCode.negotiation,
        shortMessage: 'ICE candidate rejected',
        cause: error,
      });
    }
  }

  get videoSender(): RTCRtpSender {
    return this.#video.sender;
  }

  get audioSender(): RTCRtpSender {
    return this.#audio.sender;
  }

  /**
   * Packetizes one encoded frame and hands its packets to the pacer, which sends an ordinary frame at once and
   * spreads a large one (keyframe) over the next quarter of a frame interval; returns the number of RTP packets
   * (0 when not connected).
   */
  sendVideo(frame: Buffer, rtpTimestamp: number): number {
    const packetizer = this.#videoPacketizer;
    if (!this.#connected || this.#closed || !packetizer) return 0;
    const packets = packetizer.packetize(frame, rtpTimestamp >>> 0);
    const queued: Array<{ item: RtpPacket; bytes: number }> = [];
    for (const packet of packets) {
      if (this.#playoutDelayId !== undefined) {
        packet.header.extensions.push({ id: this.#playoutDelayId, payload: PLAYOUT_DELAY_ZERO });
      }
      queued.push({ item: packet, bytes: packet.header.serializeSize + packet.payload.length });
    }
    this.#pacer.enqueue(queued);
    this.#videoPacketsSent += packets.length;
    return packets.length;
  }

  /** The encoder's target bitrate: the pacer's rate follows it. */
  setTargetBitrate(bitrateBps: number): void {
    this.#pacer.setTargetBitrate(bitrateBps);
  }

  /** The longest a video packet waited in the pacer since the last call, ms. */
  takePacerMaxQueueMs(): number {
    return this.#pacer.takeMaxQueueMs();
  }

  #sendVideoPacket(packet: RtpPacket): void {
    if (!this.#connected || this.#closed) return;
    this.#videoBytesSent += packet.payload.length;
    const size = packet.header.serializeSize + packet.payload.length;
    const transport = this.#video.sender.dtlsTransport;
    const wideSeqBefore = transport.transportSequenceNumber;
    void this.#videoSend.send(packet);
    // Both send paths assign the transport-wide seq synchronously: read it back to match feedback.
    if (transport.transportSequenceNumber !== wideSeqBefore) {
      this.#delivery.recordSent(transport.transportSequenceNumber, size, performance.now());
    }
  }

  sendAudio(opusPacket: Buffer, rtpTimestamp: number): void {
    if (!this.#connected || this.#closed) return;
    for (const packet of this.#audioPacketizer.packetize(opusPacket, rtpTimestamp >>> 0)) {
      // Both send paths stamp SSRC, seq, mid and transport-wide seq and hand the packet down synchronously,
      // so packets leave in call order without awaiting each one.
      void this.#audioSend.send(packet);
      this.#audioPacketsSent += 1;
    }
  }

  /**
   * Sends on a data channel: a pong on the channel its ping came from, frame marks on `input`. False when the
   * channel is not open (yet: media may flow before SCTP is up) or the send failed.
   */
  reply(channel: InputChannelName, bytes: Uint8Array): boolean {
    const dc = this.#channels[channel];
    if (dc.readyState !== 'open') return false;
    try {
      dc.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return true;
    } catch (error) {
      this.#log.debug({ err: error, channel }, 'data channel send failed');
      return false;
    }
  }

  stats(): SessionPeerStats {
    let rttMs: number | undefined;
    for (const stat of this.#video.sender.collectStats(Date.now())) {
      const rtt = (stat as { type: string; roundTripTime?: number }).roundTripTime;
      if (stat.type === 'remote-inbound-rtp' && typeof rtt === 'number') rttMs = rtt * 1000;
    }
    return {
      pliCount: this.#pliCount,
      nackCount: this.#nackCount,
      rttMs,
      videoPacketsSent: this.#videoPacketsSent,
      audioPacketsSent: this.#audioPacketsSent,
      videoBytesSent: this.#videoBytesSent,
      rtpDirectPackets: this.#videoSend.directCount + this.#audioSend.directCount,
      rtpWeriftPackets: this.#videoSend.weriftCount + this.#audioSend.weriftCount,
    };
  }

  #wire(): void {
    const sub = <T extends unknown[]>(
      event: { subscribe: (fn: (...args: T) => void) => { unSubscribe: () => void } },
      fn: (...args: T) => void,
    ) => {
      const { unSubscribe } = event.subscribe(fn);
      this.#unsubscribe.push(unSubscribe);
    };
    sub(this.#pc.onIceCandidate, (candidate) => {
      // Candidates gathered before the offer went out are already in its SDP.
      if (!this.#offerSent || !candidate) return;
      const init = candidate.toJSON();
      if (!announces(init.candidate ?? '', this.#ice)) return;
      this.safeEmit('ice', {
        candidate: init.candidate ?? '',
        sdpMid: init.sdpMid ?? null,
        sdpMLineIndex: init.sdpMLineIndex ?? null,
      });
    });
    sub(this.#pc.connectionStateChange, (state) => {
      this.#log.debug({ state }, 'connection state');
      if (state === 'connected') {
        if (this.#disconnectTimer) clearTimeout(this.#disconnectTimer);
        this.#disconnectTimer = undefined;
        this.#onMediaUp();
      } else if (state === 'disconnected') {
        this.#disconnectTimer ??= setTimeout(() => this.#end('disconnected'), this.#disconnectGraceMs);
      } else if (state === 'failed' || state === 'closed') {
        this.#end(state);
      }
    });
    for (const name of ['input', 'input-state'] as const) {
      const channel = this.#channels[name];
      sub(channel.onMessage, (data) => {
        if (typeof data === 'string') {
          // Text is never valid input; hand it on as bytes so it is counted as malformed like the rest.
          this.safeEmit('input', new TextEncoder().encode(data), name);
          return;
        }
        this.safeEmit('input', new Uint8Array(data.buffer, data.byteOffset, data.byteLength), name);
      });
    }
    // The player's page closes the input channel only when it leaves (tab closed, navigated away).
    sub(this.#channels.input.stateChange, (state) => {
      if (state === 'closed' && this.#connected) this.#end('channel-closed');
    });
    for (const sender of [this.#video.sender, this.#audio.sender]) {
      sub(sender.onRtcp, () => {
        this.#lastRtcpAtMs = performance.now();
      });
    }
    const video = this.#video.sender;
    sub(video.onPictureLossIndication, () => {
      this.#pliCount += 1;
      this.safeEmit('keyframeRequest');
    });
    sub(video.onGenericNack, () => {
      this.#nackCount += 1;
    });
    // werift's own estimate (senderBWE) misreads the feedback: see DeliveryMonitor.ts.
    sub(video.onRtcp, (packet) => {
      if (!(packet instanceof RtcpTransportLayerFeedback) || !(packet.feedback instanceof TransportWideCC)) return;
      const report = this.#delivery.onFeedback(packet.feedback, performance.now());
      if (report) this.safeEmit('delivery', report);
    });
  }

  /**
   * werift's connection state says `connected` only once SCTP (the data channels) is up too, one more round
   * trip of cold code after DTLS (70–230 ms measured at start-up). Media needs DTLS alone: its handshake done
   * and the player's certificate checked against the fingerprint in the answer, werift sets the transport
   * `connected` and SRTP is keyed. So the session counts as up from there; input that arrives before the
   * channels open goes through signaling (`relayInput`).
   */
  #watchDtls(): void {
    const transport = this.#video.sender.dtlsTransport;
    if (this.#watchedDtls === transport) return;
    this.#watchedDtls = transport;
    const { unSubscribe } = transport.onStateChange.subscribe((state) => {
      if (state === 'connected' && transport === this.#video.sender.dtlsTransport) this.#onMediaUp();
    });
    this.#unsubscribe.push(unSubscribe);
  }

  #onMediaUp(): void {
    if (this.#connected || this.#closed) return;
    this.#connected = true;
    this.#lastRtcpAtMs = performance.now();
    this.#silenceTimer = setInterval(() => {
      if (performance.now() - this.#lastRtcpAtMs > this.#silenceTimeoutMs) this.#end('silent');
    }, 500);
    this.safeEmit('connected');
  }

  #end(reason: PeerClosedReason): void {
    if (this.#closed) return;
    this.safeEmit('closed', reason);
    void this.close();
  }

  /** Closes the connection (sockets, DTLS, SCTP). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#connected = false;
    if (this.#disconnectTimer) clearTimeout(this.#disconnectTimer);
    if (this.#silenceTimer) clearInterval(this.#silenceTimer);
    this.#pacer.close();
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    try {
      await this.#pc.close();
    } catch (error) {
      this.#log.debug({ err: error }, 'peer connection close failed');
    }
    this.removeAllListeners();
  }
}
