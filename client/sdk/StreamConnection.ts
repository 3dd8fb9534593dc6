/**
 * One WebRTC connection to a render host, as the answering side. The host offers sendonly video (H.264 or
 * VP8) and Opus audio, and creates two data channels: `input` (reliable, ordered: edges, wheel, ping/pong)
 * and `input-state` (unreliable, unordered: pointer moves, gamepad snapshots). A new offer for the same
 * session (after a resume) gets a new StreamConnection; the old one is closed.
 */
import {
  AthError,
  answerWithOfferedH264Level,
  type CodecName,
  decodeInput,
  type IceCandidateInit,
  type IceServerRecord,
  type IceTransportPolicyName,
  type InputMessage,
} from '../../signaling/protocol/index.js';
import { ClientErrorCode } from '../errors.js';
import { codecPreferencesFor } from './codecs.js';
import type { InputChannelName } from './input/inputMapping.js';

export type StreamConnectionParameters = {
  sessionId: string;
  /** Reorders the video codecs before answering (`setCodecPreferences`), when the player insists on one. */
  insistedCodec: CodecName | undefined;
  sendAnswer: (sdp: string) => void;
  sendIce: (candidate: IceCandidateInit | null) => void;
  /** A decoded message from the host on a data channel (pongs). */
  onInput: (message: InputMessage) => void;
  /** A data channel message that did not decode. */
  onBadInput: (error: AthError) => void;
  onConnectionState: (state: RTCPeerConnectionState) => void;
  /** Both data channels exist and `input` is open. */
  onChannelsOpen: () => void;
  /** The session's STUN/TURN servers from signaling (TURN credentials issued for this session); none on a LAN. */
  iceServers?: readonly IceServerRecord[];
  /** `relay`: TURN only (the player's setting, or the network's policy). */
  iceTransportPolicy?: IceTransportPolicyName;
  createPeerConnection?: (config: RTCConfiguration) => RTCPeerConnection;
};

/** The browser's configuration: only the servers signaling names (none: no public STUN server is asked). */
export function rtcConfiguration(params: Pick<StreamConnectionParameters, 'iceServers' | 'iceTransportPolicy'>) {
  return {
    iceServers: (params.iceServers ?? []).map((server) => ({ ...server, urls: [...server.urls] })),
    iceTransportPolicy: params.iceTransportPolicy ?? 'all',
  } satisfies RTCConfiguration;
}

export class StreamConnection {
  readonly sessionId: string;
  /** Video and audio in ONE stream so Chromium lip-syncs them (werift's offer has no `a=msid`). */
  readonly stream = new MediaStream();
  readonly pc: RTCPeerConnection;
  readonly #params: StreamConnectionParameters;
  readonly #channels = new Map<InputChannelName, RTCDataChannel>();
  readonly #pendingCandidates: Array<IceCandidateInit | null> = [];
  #remoteDescriptionSet = false;
  #closed = false;

  constructor(params: StreamConnectionParameters) {
    this.#params = params;
    this.sessionId = params.sessionId;
    this.pc = (params.createPeerConnection ?? ((c) => new RTCPeerConnection(c)))(rtcConfiguration(params));
    this.pc.ontrack = (event) => this.#onTrack(event);
    this.pc.ondatachannel = (event) => this.#onDataChannel(event.channel);
    this.pc.onicecandidate = (event) => {
      if (this.#closed) return;
      const c = event.candidate;
      params.sendIce(
        c && c.candidate !== ''
          ? {
              candidate: c.candidate,
              sdpMid: c.sdpMid,
              sdpMLineIndex: c.sdpMLineIndex,
              usernameFragment: c.usernameFragment,
            }
          : null,
      );
    };
    this.pc.onconnectionstatechange = () => {
      if (!this.#closed) params.onConnectionState(this.pc.connectionState);
    };
  }

  /** Applies the host's offer and sends the answer. Rejects with `ATH_ERR_WEBRTC_FAILED`. */
  async acceptOffer(sdp: string): Promise<void> {
    try {
      await this.pc.setRemoteDescription({ type: 'offer', sdp });
      this.#remoteDescriptionSet = true;
      this.#applyCodecPreference();
      const answer = await this.pc.createAnswer();
      // The answer states the H.264 level the host offered (what it encodes): see answerWithOfferedH264Level.
      await this.pc.setLocalDescription({ type: 'answer', sdp: answerWithOfferedH264Level(answer.sdp ?? '', sdp) });
      const local = this.pc.localDescription?.sdp ?? answer.sdp;
      if (this.#closed) return;
      if (!local) throw new Error('no local description');
      this.#params.sendAnswer(local);
      for (const candidate of this.#pendingCandidates.splice(0)) await this.#addCandidate(candidate);
    } catch (cause) {
      if (this.#closed) return;
      throw new AthError({
        code: ClientErrorCode.webrtc,
        shortMessage: 'could not answer the render host’s offer',
        details: cause instanceof Error ? cause.message : String(cause),
        cause,
      });
    }
  }

  /** A remote candidate (null: the host has no more); queued until the offer is applied. */
  async addRemoteCandidate(candidate: IceCandidateInit | null): Promise<void> {
    if (this.#closed) return;
    if (!this.#remoteDescriptionSet) {
      this.#pendingCandidates.push(candidate);
      return;
    }
    await this.#addCandidate(candidate);
  }

  channelOpen(name: InputChannelName): boolean {
    return this.#channels.get(name)?.readyState === 'open';
  }

  /** Sends on a channel; false when it is not open (the message is dropped or relayed by the caller). */
  send(name: InputChannelName, bytes: Uint8Array): boolean {
    const channel = this.#channels.get(name);
    if (this.#closed || channel?.readyState !== 'open') return false;
    // An unreliable channel under pressure: drop the snapshot rather than queue it behind older ones.
    if (name === 'input-state' && channel.bufferedAmount > 64 * 1024) return false;
    channel.send(bytes as Uint8Array<ArrayBuffer>);
    return true;
  }

  get receivers(): RTCRtpReceiver[] {
    return this.pc.getReceivers();
  }

  /** Idempotent: closes the peer connection, its channels and stops the tracks. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.pc.ontrack = this.pc.ondatachannel = this.pc.onicecandidate = this.pc.onconnectionstatechange = null;
    for (const channel of this.#channels.values()) channel.onmessage = channel.onopen = null;
    this.#channels.clear();
    for (const track of this.stream.getTracks()) track.stop();
    this.pc.close();
  }

  #applyCodecPreference(): void {
    const wanted = this.#params.insistedCodec;
    const capabilities = RTCRtpReceiver.getCapabilities?.('video')?.codecs;
    if (!wanted || !capabilities) return;
    for (const transceiver of this.pc.getTransceivers()) {
      if (transceiver.receiver.track.kind !== 'video' || typeof transceiver.setCodecPreferences !== 'function')
        continue;
      transceiver.setCodecPreferences(codecPreferencesFor(capabilities, wanted));
    }
  }

  async #addCandidate(candidate: IceCandidateInit | null): Promise<void> {
    // End of candidates needs no action: ICE connects on the pairs it has (it only ends gathering sooner).
    if (!candidate) return;
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (error) {
      // A late or malformed candidate is not fatal; a connection that fails shows in the connection state.
      console.debug('ath-edge: ICE candidate refused', error);
    }
  }

  #onTrack(event: RTCTrackEvent): void {
    if (this.#closed) return;
    const { track, receiver } = event;
    for (const old of this.stream.getTracks()) {
      if (old.kind === track.kind && old !== track) this.stream.removeTrack(old);
    }
    if (!this.stream.getTracks().includes(track)) this.stream.addTrack(track);
    // Low latency: ask the jitter buffer to hold nothing (the host's playout-delay extension says the same).
    if ('jitterBufferTarget' in receiver) receiver.jitterBufferTarget = 0;
  }

  #onDataChannel(channel: RTCDataChannel): void {
    if (this.#closed) return;
    if (channel.label !== 'input' && channel.label !== 'input-state') {
      console.warn('ath-edge: unexpected data channel', channel.label);
      return;
    }
    channel.binaryType = 'arraybuffer';
    this.#channels.set(channel.label, channel);
    channel.onmessage = (event: MessageEvent) => {
      const data: unknown = event.data;
      if (!(data instanceof ArrayBuffer)) {
        this.#params.onBadInput(
          new AthError({ code: 'ATH_ERR_BAD_INPUT', shortMessage: 'text on a binary input channel' }),
        );
        return;
      }
      let message: InputMessage;
      try {
        message = decodeInput(data);
      } catch (error) {
        this.#params.onBadInput(
          error instanceof AthError
            ? error
            : new AthError({ code: 'ATH_ERR_BAD_INPUT', shortMessage: 'undecodable input', cause: error }),
        );
        return;
      }
      this.#params.onInput(message);
    };
    const opened = () => {
      if (this.channelOpen('input')) this.#params.onChannelsOpen();
    };
    if (channel.readyState === 'open') opened();
    else channel.onopen = opened;
  }
}
