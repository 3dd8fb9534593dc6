/**
 * A receive-only WebRTC peer in Node (werift) for a render host's stream: it answers the host's offer,
 * counts complete video frames (marker bit, no sequence gap), tells keyframes, optionally decodes video
 * (node-av), keeps the host's frame marks (which input first took effect in which RTP frame), decodes Opus to measure that sound arrives, requests keyframes (PLI),
 * sends input and measures RTT over the `input` data channel. Tests use it; so will the checker nodes,
 * which probe render hosts exactly like a player would.
 */
import {
  AVERROR_EAGAIN,
  Codec,
  CodecContext,
  FF_DECODER_H264,
  FF_DECODER_OPUS,
  FF_DECODER_VP8,
  Frame,
  Packet,
} from 'node-av';
import {
  H264RtpPayload,
  type MediaStreamTrack,
  type RTCDataChannel,
  RTCPeerConnection,
  type RTCRtpTransceiver,
  type RtpPacket,
  Vp8RtpPayload,
} from 'werift';
import {
  AthError,
  type CodecName,
  candidateInit,
  decodeInput,
  EXTENSION_IDS,
  FrameMarkInput,
  type IceCandidateInit,
  PingInput,
  PongInput,
  StreamInfoInput,
} from '../../../signaling/protocol/index.js';
import { RenderHostErrorCode } from '../../errors.js';
import { TypedEmitter } from '../TypedEmitter.js';
import { basePeerConfig, type IceOptions } from '../webrtcConfig.js';

export type ReceivedVideoFrame = {
  rtpTimestamp: number;
  keyframe: boolean;
  /** Annex-B access unit (H.264) or VP8 frame, reassembled from the packets. */
  data: Buffer;
  packets: number;
  receivedAtMs: number;
  /** Every packet of the frame carried the playout-delay extension (min = max = 0). */
  playoutDelayZero: boolean;
};

export type DecodedVideoFrame = { width: number; height: number; rtpTimestamp: number; receivedAtMs: number };

/** A frame mark from the host (FrameMarkInput) and when it arrived. */
export type ReceivedFrameMark = { inputSeq: number; rtpTimestamp: number; frame: number; receivedAtMs: number };

/** RTP timestamp order (mod 2^32): a at or after b. */
export function rtpAtOrAfter(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

export type StreamReceiverEvents = {
  frame: [frame: ReceivedVideoFrame];
  decoded: [frame: DecodedVideoFrame];
  mark: [mark: ReceivedFrameMark];
  audio: [packet: RtpPacket];
};

export type ConnectStreamReceiverParameters = {
  /** The render host's offer. */
  offerSdp: string;
  /** Video codecs this receiver accepts, most preferred first (the answer keeps that order). */
  codecs?: CodecName[];
  /** Decode every video frame with node-av (costs a few ms of CPU per frame). */
  decodeVideo?: boolean;
  /** Decode Opus to measure the sound level (cheap). */
  decodeAudio?: boolean;
  ice?: IceOptions;
};

export type VideoCounters = {
  codec: CodecName | undefined;
  packets: number;
  bytes: number;
  framesComplete: number;
  framesIncomplete: number;
  keyframes: number;
  framesDecoded: number;
  decodeErrors: number;
  /** Packets without the playout-delay extension (should stay 0 with a render host). */
  packetsWithoutPlayoutDelay: number;
};

export type AudioCounters = {
  codec: string | undefined;
  packets: number;
  bytes: number;
  decodedSamples: number;
  peakLevel: number;
};

type FrameAssembly = { timestamp: number; packets: RtpPacket[]; broken: boolean };

class Decoder {
  readonly #ctx = new CodecContext();
  readonly #packet = new Packet();
  readonly #frame = new Frame();
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(name: 'h264' | 'vp8' | 'opus') {
    const codec = Codec.findDecoderByName(
      name === 'h264' ? FF_DECODER_H264 : name === 'vp8' ? FF_DECODER_VP8 : FF_DECODER_OPUS,
    );
    if (!codec) throw new AthError({ code: RenderHostErrorCode.encode, shortMessage: `no ${name} decoder` });
    this.#ctx.allocContext3(codec);
    if (name === 'opus') {
      this.#ctx.sampleRate = 48_000;
    }
    const ret = this.#ctx.open2Sync(codec, null);
    if (ret < 0)
      throw new AthError({ code: RenderHostErrorCode.encode, shortMessage: `could not open ${name} decoder` });
    this.#packet.alloc();
    this.#frame.alloc();
  }

  /** Decodes in order (one at a time on the libuv pool); `onFrame` sees each decoded frame synchronously. */
  decode(data: Buffer, onFrame: (frame: Frame) => void, onError: (error: unknown) => void): void {
    this.#chain = this.#chain.then(async () => {
      if (this.#closed) return;
      try {
        this.#packet.data = data;
        const sent = await this.#ctx.sendPacket(this.#packet);
        if (sent < 0 && sent !== AVERROR_EAGAIN) throw new Error(`sendPacket ${sent}`);
        for (;;) {
          if (this.#closed) return;
          const ret = await this.#ctx.receiveFrame(this.#frame);
          if (ret < 0) break;
          onFrame(this.#frame);
          this.#frame.unref();
        }
      } catch (error) {
        onError(error);
      }
    });
  }

  async close(): Promise<void> {
    await this.#chain;
    if (this.#closed) return;
    this.#closed = true;
    this.#ctx.freeContext();
    this.#packet.free();
    this.#frame.free();
  }
}

export class StreamReceiver extends TypedEmitter<StreamReceiverEvents> {
  readonly #pc: RTCPeerConnection;
  readonly #params: ConnectStreamReceiverParameters;
  readonly video: VideoCounters = {
    codec: undefined,
    packets: 0,
    bytes: 0,
    framesComplete: 0,
    framesIncomplete: 0,
    keyframes: 0,
    framesDecoded: 0,
    decodeErrors: 0,
    packetsWithoutPlayoutDelay: 0,
  };
  readonly audio: AudioCounters = { codec: undefined, packets: 0, bytes: 0, decodedSamples: 0, peakLevel: 0 };
  #videoTrack: MediaStreamTrack | undefined;
  #assembly: FrameAssembly | undefined;
  #lastSeq: number | undefined;
  #videoDecoder: Decoder | undefined;
  #audioDecoder: Decoder | undefined;
  #lastDecoded: DecodedVideoFrame | undefined;
  readonly #channels = new Map<string, RTCDataChannel>();
  readonly #pings = new Map<number, (rttMs: number) => void>();
  #nextPingId = 1;
  #closed = false;
  #lastMark: ReceivedFrameMark | undefined;
  #streamInfo: StreamInfoInput | undefined;
  #lastCompleteRtp: number | undefined;
  /** Input messages the host sent back that were neither pongs nor frame marks (should stay 0). */
  unexpectedMessages = 0;

  private constructor(params: ConnectStreamReceiverParameters) {
    super();
    this.#params = params;
    this.#pc = new RTCPeerConnection(basePeerConfig(params.codecs ?? ['H264', 'VP8'], params.ice));
    this.#pc.onTransceiverAdded.subscribe((transceiver) => this.#watch(transceiver));
    this.#pc.onDataChannel.subscribe((channel) => {
      this.#channels.set(channel.label, channel);
      channel.onMessage.subscribe((data) => this.#onChannelMessage(data));
    });
  }

  /** Answers the offer; send `answerSdp` back to the host. */
  static async connect(
    params: ConnectStreamReceiverParameters,
  ): Promise<{ receiver: StreamReceiver; answerSdp: string }> {
    const receiver = new StreamReceiver(params);
    const pc = receiver.#pc;
    await pc.setRemoteDescription({ type: 'offer', sdp: params.offerSdp });
    for (const transceiver of pc.getTransceivers()) receiver.#watch(transceiver);
    await pc.setLocalDescription(await pc.createAnswer());
    const answerSdp = pc.localDescription?.sdp;
    if (!answerSdp) throw new AthError({ code: RenderHostErrorCode.negotiation, shortMessage: 'no answer' });
    return { receiver, answerSdp };
  }

  async addIceCandidate(candidate: IceCandidateInit | null): Promise<void> {
    if (candidate === null) return;
    await this.#pc.addIceCandidate(candidateInit(candidate));
  }

  get connectionState(): string {
    return this.#pc.connectionState;
  }

  /** The host's newest frame mark (every leg's first frame, every frame where input moved, one a second). */
  get lastMark(): ReceivedFrameMark | undefined {
    return this.#lastMark;
  }

  /** What the host says encodes the stream (StreamInfoInput), once it has said so. */
  get streamInfo(): StreamInfoInput | undefined {
    return this.#streamInfo;
  }

  /** Whether a complete frame at or after this RTP timestamp has arrived (the marked frame, or a later one). */
  receivedFrameAtOrAfter(rtpTimestamp: number): boolean {
    return this.#lastCompleteRtp !== undefined && rtpAtOrAfter(this.#lastCompleteRtp, rtpTimestamp);
  }

  /** The newest decoded frame (with `decodeVideo`). */
  get lastDecoded(): DecodedVideoFrame | undefined {
    return this.#lastDecoded;
  }

  #watchedTransceivers = new Set<RTCRtpTransceiver>();

  #watch(transceiver: RTCRtpTransceiver): void {
    if (this.#watchedTransceivers.has(transceiver)) return;
    this.#watchedTransceivers.add(transceiver);
    transceiver.onTrack.subscribe((track) => {
      if (track.kind === 'video') {
        this.#videoTrack = track;
        track.onReceiveRtp.subscribe((packet) => this.#onVideoPacket(packet));
      } else {
        track.onReceiveRtp.subscribe((packet) => this.#onAudioPacket(packet));
      }
    });
  }

  #onVideoPacket(packet: RtpPacket): void {
    const name = this.#videoTrack?.codec?.name.toUpperCase();
    const codec: CodecName | undefined = name === 'H264' || name === 'VP8' ? name : undefined;
    if (!codec) return;
    if (this.video.codec !== codec) {
      this.video.codec = codec;
      if (this.#params.decodeVideo) this.#videoDecoder = new Decoder(codec === 'H264' ? 'h264' : 'vp8');
    }
    this.video.packets += 1;
    this.video.bytes += packet.payload.length;
    const { header } = packet;
    const playout = header.extensions.find((ext) => ext.id === EXTENSION_IDS.playoutDelay);
    if (playout?.payload.length !== 3 || playout.payload.some((b) => b !== 0)) {
      this.video.packetsWithoutPlayoutDelay += 1;
    }
    const gap = this.#lastSeq !== undefined && ((this.#lastSeq + 1) & 0xffff) !== header.sequenceNumber;
    this.#lastSeq = header.sequenceNumber;
    if (!this.#assembly || this.#assembly.timestamp !== header.timestamp) {
      if (this.#assembly) this.video.framesIncomplete += 1;
      this.#assembly = { timestamp: header.timestamp, packets: [], broken: gap };
    } else if (gap) {
      this.#assembly.broken = true;
    }
    this.#assembly.packets.push(packet);
    if (!header.marker) return;
    const assembly = this.#assembly;
    this.#assembly = undefined;
    if (assembly.broken) {
      this.video.framesIncomplete += 1;
      return;
    }
    this.#completeFrame(codec, assembly);
  }

  #completeFrame(codec: CodecName, assembly: FrameAssembly): void {
    let keyframe = false;
    const parts: Buffer[] = [];
    try {
      if (codec === 'H264') {
        let fragment: Buffer | undefined;
        for (const packet of assembly.packets) {
          const payload = H264RtpPayload.deSerialize(packet.payload, fragment);
          fragment = payload.fragment;
          keyframe ||= payload.isKeyframe;
          if (payload.payload) parts.push(payload.payload);
        }
      } else {
        for (const [i, packet] of assembly.packets.entries()) {
          const payload = Vp8RtpPayload.deSerialize(packet.payload);
          if (i === 0) keyframe = payload.isKeyframe;
          parts.push(payload.payload);
        }
      }
    } catch {
      this.video.framesIncomplete += 1;
      return;
    }
    const frame: ReceivedVideoFrame = {
      rtpTimestamp: assembly.timestamp,
      keyframe,
      data: Buffer.concat(parts),
      packets: assembly.packets.length,
      receivedAtMs: performance.now(),
      playoutDelayZero: assembly.packets.every((p) =>
        p.header.extensions.some((ext) => ext.id === EXTENSION_IDS.playoutDelay),
      ),
    };
    this.video.framesComplete += 1;
    this.#lastCompleteRtp = frame.rtpTimestamp;
    if (keyframe) this.video.keyframes += 1;
    this.safeEmit('frame', frame);
    this.#videoDecoder?.decode(
      frame.data,
      (decoded) => {
        this.video.framesDecoded += 1;
        this.#lastDecoded = {
          width: decoded.width,
          height: decoded.height,
          rtpTimestamp: frame.rtpTimestamp,
          receivedAtMs: frame.receivedAtMs,
        };
        this.safeEmit('decoded', this.#lastDecoded);
      },
      () => {
        this.video.decodeErrors += 1;
      },
    );
  }

  #onAudioPacket(packet: RtpPacket): void {
    this.audio.packets += 1;
    this.audio.bytes += packet.payload.length;
    const codec = this.#pc.getTransceivers().find((t) => t.kind === 'audio')?.codecs[0]?.name;
    this.audio.codec = codec;
    this.safeEmit('audio', packet);
    if (!this.#params.decodeAudio) return;
    this.#audioDecoder ??= new Decoder('opus');
    this.#audioDecoder.decode(
      packet.payload,
      (frame) => {
        this.audio.decodedSamples += frame.nbSamples;
        // Planar float is FFmpeg's native Opus output: scan the first plane for the peak.
        const plane = frame.data?.[0];
        if (!plane) return;
        const samples = new Float32Array(plane.buffer, plane.byteOffset, Math.floor(plane.byteLength / 4));
        for (const s of samples) this.audio.peakLevel = Math.max(this.audio.peakLevel, Math.abs(s));
      },
      () => undefined,
    );
  }

  #onChannelMessage(data: string | Buffer): void {
    if (typeof data === 'string') {
      this.unexpectedMessages += 1;
      return;
    }
    try {
      const message = decodeInput(data);
      if (message instanceof PongInput) {
        const resolve = this.#pings.get(message.id);
        this.#pings.delete(message.id);
        resolve?.(performance.now() - message.sentAtMs);
        return;
      }
      if (message instanceof FrameMarkInput) {
        const { seq: inputSeq, rtpTimestamp, frame } = message;
        this.#lastMark = { inputSeq, rtpTimestamp, frame, receivedAtMs: performance.now() };
        this.safeEmit('mark', this.#lastMark);
        return;
      }
      if (message instanceof StreamInfoInput) {
        this.#streamInfo = message;
        return;
      }
    } catch {
      // falls through: counted below
    }
    this.unexpectedMessages += 1;
  }

  /** Resolves once the named data channel is open. */
  async channelOpen(label: 'input' | 'input-state' = 'input', timeoutMs = 10_000): Promise<void> {
    const started = performance.now();
    while (this.#channels.get(label)?.readyState !== 'open') {
      if (this.#closed || performance.now() - started > timeoutMs) {
        throw new AthError({
          code: RenderHostErrorCode.negotiation,
          shortMessage: `data channel ${label} did not open`,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Sends raw bytes on a data channel (any bytes: tests send malformed ones too). */
  send(bytes: Uint8Array, label: 'input' | 'input-state' = 'input'): void {
    const channel = this.#channels.get(label);
    if (channel?.readyState !== 'open') {
      throw new AthError({ code: RenderHostErrorCode.negotiation, shortMessage: `data channel ${label} not open` });
    }
    channel.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  /** Round trip of a ping on the `input` channel, ms (rejects after `timeoutMs`). */
  ping(timeoutMs = 5000): Promise<number> {
    const id = this.#nextPingId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pings.delete(id);
        reject(new AthError({ code: RenderHostErrorCode.negotiation, shortMessage: 'no pong' }));
      }, timeoutMs);
      this.#pings.set(id, (rttMs) => {
        clearTimeout(timer);
        resolve(rttMs);
      });
      this.send(new PingInput(id, performance.now()).serialize());
    });
  }

  /** Asks the host for a keyframe (RTCP PLI), as a browser does after losing the picture. */
  async requestKeyframe(): Promise<void> {
    const ssrc = this.#videoTrack?.ssrc;
    const receiver = this.#pc.getTransceivers().find((t) => t.kind === 'video')?.receiver;
    if (ssrc === undefined || !receiver) {
      throw new AthError({ code: RenderHostErrorCode.negotiation, shortMessage: 'no video track yet' });
    }
    await receiver.sendRtcpPLI(ssrc);
  }

  /** Polls until `predicate` holds (bounded: rejects after `timeoutMs`). */
  async waitFor(what: string, predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
    const started = performance.now();
    while (!predicate()) {
      if (performance.now() - started > timeoutMs) {
        throw new AthError({
          code: RenderHostErrorCode.negotiation,
          shortMessage: `timed out waiting for ${what}`,
          details: JSON.stringify({ video: this.video, audio: this.audio, state: this.connectionState }),
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const resolve of this.#pings.values()) resolve(Number.NaN);
    this.#pings.clear();
    await this.#pc.close();
    await this.#videoDecoder?.close();
    await this.#audioDecoder?.close();
    this.removeAllListeners();
  }
}
