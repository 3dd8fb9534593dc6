/**
 * The checker's end of a probe: a receive-only werift peer that answers the container's offer as a player would
 * (H.264 or VP8 video, Opus audio, data channel `input`, a few key presses like a player's), then measures on
 * real RTP — complete frames per second over a window, loss from sequence numbers, RFC 3550 jitter, the picture
 * size the stream really carries (SPS / VP8 key-frame header, videoSize.ts) — and RTT as the median of
 * data-channel pings, timed on the checker's own clock: ids are unpredictable and the send time is the
 * checker's record, never the time the host echoes (a host could forge that to look closer). It never decodes:
 * counting complete frames needs only RTP headers, so one checker can watch several probes on a small machine.
 */

import { randomBytes } from 'node:crypto';
import {
  type RTCDataChannel,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  type RTCRtpTransceiver,
  useNACK,
  usePLI,
  useSdesMid,
} from 'werift';
import { type IceOptions, iceServersForWerift, STUN_GATHER_TIMEOUT_SEC } from '../../render-host/index.js';
import {
  AthError,
  candidateInit,
  decodeProbePong,
  EXTENSION_IDS,
  encodeProbePing,
  H264_RECEIVER_FMTP,
  type IceCandidateInit,
  KeyInput,
  keyIdFromCode,
  PLAYOUT_DELAY_URI,
  PROBE_PING_CHANNEL,
} from '../../signaling/protocol/index.js';
import { CheckerErrorCode } from './errors.js';
import type { ProbeMeasurement } from './judgeProbe.js';
import { median, RtpProbeStats } from './RtpProbeStats.js';
import { h264RtpSize, type VideoSize, vp8RtpSize } from './videoSize.js';

export type ProbeWindowOptions = {
  /** After the first video packet, before the window opens (the encoder's first frames, ICE settling). */
  warmupMs: number;
  /** The frame-rate window. */
  windowMs: number;
  /** Pings sent during the window (≥ 10); RTT is their median. */
  pings: number;
  /** Give up on connecting (no video packet) after this. */
  connectTimeoutMs: number;
  pingTimeoutMs: number;
};

export const DEFAULT_PROBE_WINDOW: ProbeWindowOptions = {
  // A probe is a fresh player session: its first second (worker, encoder, first keyframe) is not its steady state.
  warmupMs: 1_000,
  windowMs: 3_000,
  pings: 12,
  connectTimeoutMs: 10_000,
  pingTimeoutMs: 2_000,
};

/** A checker's ICE settings: its own (port range, STUN) plus the servers of the probe's assignment. */
export type ProbeIceOptions = Pick<IceOptions, 'iceServers' | 'portRange' | 'transportPolicy' | 'useIpv6'>;

export class ProbeReceiver {
  readonly stats = new RtpProbeStats();
  readonly #pc: RTCPeerConnection;
  readonly #watched = new Set<RTCRtpTransceiver>();
  /** Pings in flight: the checker's own send time for each (unpredictable) id. */
  readonly #pings = new Map<number, { sentAtMs: number; resolve: (rttMs: number) => void }>();
  #channel: RTCDataChannel | undefined;
  #size: VideoSize | undefined;
  #inputSeq = 1;
  #closed = false;

  private constructor(ice: ProbeIceOptions) {
    this.#pc = new RTCPeerConnection({
      // werift's default ICE server is a public STUN host: a checker on loopback or a LAN needs none, and
      // elsewhere gets the network's servers (TURN credentials issued per probe) from its assignment.
      iceServers: iceServersForWerift(ice.iceServers ?? []),
      ...(ice.portRange ? { icePortRange: ice.portRange } : {}),
      ...(ice.transportPolicy === 'relay' ? { iceTransportPolicy: 'relay' as const } : {}),
      iceStunGatherTimeout: STUN_GATHER_TIMEOUT_SEC,
      iceUseIpv6: ice.useIpv6 ?? false,
      codecs: {
        video: [
          new RTCRtpCodecParameters({
            mimeType: 'video/H264',
            clockRate: 90_000,
            rtcpFeedback: [useNACK(), usePLI()],
            parameters: H264_RECEIVER_FMTP,
          }),
          new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90_000, rtcpFeedback: [useNACK(), usePLI()] }),
        ],
        audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48_000, channels: 2 })],
      },
      headerExtensions: {
        video: [
          new RTCRtpHeaderExtensionParameters({ id: EXTENSION_IDS.mid, uri: useSdesMid().uri }),
          new RTCRtpHeaderExtensionParameters({ id: EXTENSION_IDS.playoutDelay, uri: PLAYOUT_DELAY_URI }),
        ],
        audio: [new RTCRtpHeaderExtensionParameters({ id: EXTENSION_IDS.mid, uri: useSdesMid().uri })],
      },
    });
    this.#pc.onTransceiverAdded.subscribe((transceiver) => this.#watch(transceiver));
    this.#pc.onDataChannel.subscribe((channel) => {
      if (channel.label !== PROBE_PING_CHANNEL) return;
      this.#channel = channel;
      channel.onMessage.subscribe((data) => this.#onChannelMessage(data));
    });
  }

  /** Answers the container's offer; send `answerSdp` back through signaling. */
  static async answer(
    offerSdp: string,
    ice: ProbeIceOptions = {},
  ): Promise<{ receiver: ProbeReceiver; answerSdp: string }> {
    const receiver = new ProbeReceiver(ice);
    const pc = receiver.#pc;
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
      for (const transceiver of pc.getTransceivers()) receiver.#watch(transceiver);
      await pc.setLocalDescription(await pc.createAnswer());
    } catch (cause) {
      await receiver.close();
      throw new AthError({ code: CheckerErrorCode.probe, shortMessage: 'could not answer the probe offer', cause });
    }
    const answerSdp = pc.localDescription?.sdp;
    if (!answerSdp) throw new AthError({ code: CheckerErrorCode.probe, shortMessage: 'no answer SDP' });
    return { receiver, answerSdp };
  }

  async addIceCandidate(candidate: IceCandidateInit | null): Promise<void> {
    if (candidate === null || this.#closed) return;
    await this.#pc.addIceCandidate(candidateInit(candidate));
  }

  get connectionState(): string {
    return this.#pc.connectionState;
  }

  /** The picture size the stream carries (from its SPS or VP8 key-frame header), once seen. */
  get videoSize(): VideoSize | undefined {
    return this.#size;
  }

  /**
   * Waits for video, lets it settle, then measures one window: frames over the window and pings spread
   * across it. Never throws for a bad container — a dead one measures as not live.
   */
  async measure(options: ProbeWindowOptions = DEFAULT_PROBE_WINDOW): Promise<ProbeMeasurement> {
    const firstPacket = await this.#until(() => this.stats.snapshot().packetsReceived > 0, options.connectTimeoutMs);
    if (!firstPacket) return this.#result(false, [], 0);
    await sleep(options.warmupMs);
    const channelOpen = await this.#until(() => this.#channel?.readyState === 'open', options.connectTimeoutMs);
    const openedAt = performance.now();
    this.stats.openWindow(openedAt);
    const rtts: number[] = [];
    let sent = 0;
    if (channelOpen) {
      const spacingMs = options.windowMs / options.pings;
      const pending: Promise<void>[] = [];
      for (let i = 0; i < options.pings && !this.#closed; i++) {
        // A player's hands: a key now and then (the host sees input, as in any session).
        if (i % 3 === 1) this.#pressKey(i % 2 === 0 ? 'ArrowRight' : 'ArrowLeft');
        sent += 1;
        pending.push(
          this.ping(options.pingTimeoutMs).then(
            (rtt) => void (Number.isFinite(rtt) && rtts.push(rtt)),
            () => undefined,
          ),
        );
        await sleep(spacingMs);
      }
      await Promise.all(pending);
    }
    // The window spans exactly windowMs of frames even if the last pongs were slow.
    const remaining = options.windowMs - (performance.now() - openedAt);
    if (remaining > 0) await sleep(remaining);
    this.stats.closeWindow(Math.min(performance.now(), openedAt + Math.max(options.windowMs, 1)));
    const snapshot = this.stats.snapshot();
    const recentVideo =
      snapshot.lastPacketAtMs !== undefined && performance.now() - snapshot.lastPacketAtMs < options.windowMs / 2;
    return this.#result(recentVideo && rtts.length > 0 && snapshot.windowFps > 0, rtts, sent);
  }

  #result(live: boolean, rtts: number[], pingsSent: number): ProbeMeasurement {
    const s = this.stats.snapshot();
    return {
      live,
      rttMs: rtts.length > 0 ? median(rtts) : Number.NaN,
      pingsSent,
      pongsReceived: rtts.length,
      fps: s.windowFps,
      lossPpm: s.lossPpm,
      jitterMs: s.jitterMs,
      framesComplete: s.framesComplete,
      framesBroken: s.framesBroken,
      packetsReceived: s.packetsReceived,
      width: this.#size?.width ?? 0,
      height: this.#size?.height ?? 0,
    };
  }

  /** One ping's round trip on the ping channel, ms (rejects after `timeoutMs`). */
  ping(timeoutMs: number): Promise<number> {
    const channel = this.#channel;
    if (channel?.readyState !== 'open') {
      return Promise.reject(new AthError({ code: CheckerErrorCode.probe, shortMessage: 'ping channel not open' }));
    }
    // Unpredictable: a host cannot answer a ping it has not received yet.
    let id = randomBytes(4).readUInt32LE(0);
    while (this.#pings.has(id)) id = randomBytes(4).readUInt32LE(0);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pings.delete(id);
        reject(new AthError({ code: CheckerErrorCode.probe, shortMessage: 'no pong' }));
      }, timeoutMs);
      const sentAtMs = performance.now();
      this.#pings.set(id, {
        sentAtMs,
        resolve: (rttMs) => {
          clearTimeout(timer);
          resolve(rttMs);
        },
      });
      const bytes = encodeProbePing(id, sentAtMs);
      channel.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const ping of this.#pings.values()) ping.resolve(Number.NaN);
    this.#pings.clear();
    await this.#pc.close().catch(() => undefined);
  }

  #watch(transceiver: RTCRtpTransceiver): void {
    if (this.#watched.has(transceiver)) return;
    this.#watched.add(transceiver);
    transceiver.onTrack.subscribe((track) => {
      if (track.kind !== 'video') return;
      track.onReceiveRtp.subscribe((packet) => {
        this.stats.add(packet.header, performance.now());
        if (!this.#size) this.#readSize(transceiver, packet.header.payloadType, packet.payload);
      });
    });
  }

  #readSize(transceiver: RTCRtpTransceiver, payloadType: number, payload: Uint8Array): void {
    const codec = transceiver.codecs.find((c) => c.payloadType === payloadType)?.mimeType.toLowerCase();
    this.#size =
      codec === 'video/vp8' ? vp8RtpSize(payload) : codec === 'video/h264' ? h264RtpSize(payload) : undefined;
  }

  #pressKey(code: string): void {
    const key = keyIdFromCode(code);
    const channel = this.#channel;
    if (key === undefined || channel?.readyState !== 'open') return;
    for (const down of [true, false]) {
      const bytes = new KeyInput(this.#inputSeq++, key, down).serialize();
      channel.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    }
  }

  #onChannelMessage(data: string | Buffer): void {
    // Anything but a pong (text, a malformed or foreign message: frame marks, stream info) is not for the checker.
    const pong = typeof data === 'string' ? undefined : decodeProbePong(data);
    if (!pong) return;
    const ping = this.#pings.get(pong.id);
    this.#pings.delete(pong.id);
    // The RTT is the checker's own: when it sent this id, not the time the pong claims.
    ping?.resolve(performance.now() - ping.sentAtMs);
  }

  async #until(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
    const started = performance.now();
    while (!predicate()) {
      if (this.#closed || performance.now() - started > timeoutMs) return false;
      await sleep(20);
    }
    return true;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
