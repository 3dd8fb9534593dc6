/**
 * What a session negotiates, declared once for both ends that werift plays (the render host's sender and the
 * in-Node receive-only peers of tests and checkers): codecs, RTCP feedback and RTP header extensions.
 */
import {
  type PeerConfig,
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  useNACK,
  usePLI,
  useSdesMid,
  useTransportWideCC,
  useTWCC,
} from 'werift';
import {
  type CodecName,
  EXTENSION_IDS,
  H264_RECEIVER_FMTP,
  h264Fmtp,
  PLAYOUT_DELAY_URI,
  type VideoFormat,
} from '../../signaling/protocol/index.js';

/** min = 0, max = 0 (12 bits each, 10 ms units). */
export const PLAYOUT_DELAY_ZERO = Buffer.from([0, 0, 0]);

export const OPUS_FMTP = 'minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1';

export function videoHeaderExtensions(): RTCRtpHeaderExtensionParameters[] {
  return [
    new RTCRtpHeaderExtensionParameters({ id: EXTENSION_IDS.mid, uri: useSdesMid().uri }),
    new RTCRtpHeaderExtensionParameters({ id: EXTENSION_IDS.transportWideCc, uri: useTransportWideCC().uri }),
    new RTCRtpHeaderExtensionParameters({ id: EXTENSION_IDS.playoutDelay, uri: PLAYOUT_DELAY_URI }),
  ];
}

/** Audio carries no transport-wide seq: the bandwidth estimate then sees video packets only. */
export function audioHeaderExtensions(): RTCRtpHeaderExtensionParameters[] {
  return [new RTCRtpHeaderExtensionParameters({ id: EXTENSION_IDS.mid, uri: useSdesMid().uri })];
}

function videoCodec(name: CodecName, format: VideoFormat | undefined): RTCRtpCodecParameters {
  const rtcpFeedback = [useNACK(), usePLI(), useTWCC()];
  // The sender states the level of what it encodes; a receiver states none and so takes any level.
  const parameters = format ? h264Fmtp(format) : H264_RECEIVER_FMTP;
  return name === 'H264'
    ? new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90_000, rtcpFeedback, parameters })
    : new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90_000, rtcpFeedback });
}

/**
 * Video codecs in the player's order of preference: the first is the one the answer normally keeps. `format`:
 * what the sender encodes (its H.264 level); a receive-only peer leaves it out.
 */
export function videoCodecs(order: readonly CodecName[], format?: VideoFormat): RTCRtpCodecParameters[] {
  return order.map((name) => videoCodec(name, format));
}

export function opusCodec(): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48_000, channels: 2, parameters: OPUS_FMTP });
}

export type IceOptions = {
  /** UDP port range for host candidates (firewalled hosts). */
  portRange?: [number, number];
  /** Extra host candidate addresses to advertise (a host behind 1:1 NAT knows its public IP). */
  additionalHostAddresses?: string[];
  /** Gather IPv6 host candidates too (default false: one family halves the connectivity checks). */
  useIpv6?: boolean;
};

/**
 * The offerer's bundle policy (SessionPeer). Under werift's default, max-compat, an offerer gathers a separate
 * ICE transport (its own UDP sockets) for every m-line, and when the answer BUNDLEs them (every browser's
 * does) werift moves the m-lines onto one transport without stopping the others: RTCPeerConnection.close()
 * then stops only the transport still in use, and the rest keep their sockets open for the life of the
 * process (werift 0.25.2). max-bundle gathers one transport for all m-lines from the start; the offer is the
 * same BUNDLE offer with the same candidates in every m-line.
 */
export const OFFERER_BUNDLE_POLICY = 'max-bundle' as const satisfies PeerConfig['bundlePolicy'];

/** The peer config both ends start from. `iceServers: []` — werift's default is a public STUN server. */
export function basePeerConfig(
  codecs: readonly CodecName[],
  ice: IceOptions = {},
  format?: VideoFormat,
): Partial<PeerConfig> & Pick<PeerConfig, 'codecs' | 'headerExtensions'> {
  return {
    iceServers: [],
    codecs: { video: videoCodecs(codecs, format), audio: [opusCodec()] },
    headerExtensions: { video: videoHeaderExtensions(), audio: audioHeaderExtensions() },
    ...(ice.portRange ? { icePortRange: ice.portRange } : {}),
    ...(ice.additionalHostAddresses ? { iceAdditionalHostAddresses: ice.additionalHostAddresses } : {}),
    iceUseIpv6: ice.useIpv6 ?? false,
  };
}
