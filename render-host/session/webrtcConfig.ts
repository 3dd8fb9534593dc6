/**
 * What a session negotiates, declared once for both ends that werift plays (the render host's sender and the
 * in-Node receive-only peers of tests and checkers): codecs, RTCP feedback and RTP header extensions.
 */
import {
  type PeerConfig,
  type RTCIceServer,
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
  type IceServerRecord,
  type IceTransportPolicyName,
  PLAYOUT_DELAY_URI,
  parseIceServerUrl,
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

/**
 * Which of its candidates a host tells the player about: `host` = its interface addresses (internal ones behind
 * NAT), `public` = the 1:1 NAT addresses in `publicAddresses`, `srflx` = learned from STUN, `relay` = TURN.
 */
export type CandidateKind = 'host' | 'public' | 'srflx' | 'relay';
export const CANDIDATE_KINDS: readonly CandidateKind[] = ['host', 'public', 'srflx', 'relay'];

export type IceOptions = {
  /** STUN/TURN servers (TURN with credentials signaling issued for this session). werift uses the first of each. */
  iceServers?: IceServerRecord[];
  /** `relay`: gather relayed candidates only. */
  transportPolicy?: IceTransportPolicyName;
  /** UDP port range for host candidates (a firewall or a port forward opens exactly these). */
  portRange?: [number, number];
  /**
   * Public addresses of a 1:1 NAT in front of this machine (a cloud VM's public IP, a router forwarding the port
   * range): announced as host candidates on the same ports as the local ones.
   */
  publicAddresses?: string[];
  /** The candidate kinds announced to the other side (default: all); the rest are withheld. */
  announce?: CandidateKind[];
  /** Gather IPv6 host candidates too (default false: one family halves the connectivity checks). */
  useIpv6?: boolean;
};

/**
 * werift takes the first STUN and the first TURN URL it finds: put a UDP TURN URL first (a host or a
 * checker is a server: UDP to the relay is the cheap path; TCP/TLS URLs are for players behind firewalls).
 */
export function iceServersForWerift(servers: readonly IceServerRecord[]): RTCIceServer[] {
  const rank = (url: string) => {
    const parts = parseIceServerUrl(url);
    if (!parts) return 9;
    if (parts.scheme === 'stun' || parts.scheme === 'stuns') return 0;
    return parts.transport === 'udp' ? 1 : parts.transport === 'tcp' ? 2 : 3;
  };
  return servers.map((server) => ({
    urls: [...server.urls].sort((a, b) => rank(a) - rank(b)),
    ...(server.username === undefined ? {} : { username: server.username }),
    ...(server.credential === undefined ? {} : { credential: server.credential }),
  }));
}

/** What kind a local candidate is, by its `typ` and address (a host candidate on a public address is `public`). */
export function candidateKind(line: string, publicAddresses: readonly string[]): CandidateKind | undefined {
  // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> …
  const fields = line.replace(/^a=/, '').split(' ');
  const address = fields[4];
  const type = fields[7];
  if (type === 'host') return address !== undefined && publicAddresses.includes(address) ? 'public' : 'host';
  if (type === 'srflx' || type === 'relay') return type;
  return undefined;
}

/** Whether a local candidate may be announced under `announce` (all kinds when it is absent). */
export function announces(line: string, ice: IceOptions): boolean {
  if (!ice.announce) return true;
  const kind = candidateKind(line, ice.publicAddresses ?? []);
  return kind !== undefined && ice.announce.includes(kind);
}

/** The offer without the candidates `announce` withholds. */
export function withAnnouncedCandidates(sdp: string, ice: IceOptions): string {
  if (!ice.announce) return sdp;
  return sdp
    .split('\r\n')
    .filter((line) => !line.startsWith('a=candidate:') || announces(line, ice))
    .join('\r\n');
}

/**
 * The offerer's bundle policy (SessionPeer). Under werift's default, max-compat, an offerer gathers a separate
 * ICE transport (its own UDP sockets) for every m-line, and when the answer BUNDLEs them (every browser's
 * does) werift moves the m-lines onto one transport without stopping the others: RTCPeerConnection.close()
 * then stops only the transport still in use, and the rest keep their sockets open for the life of the
 * process (werift 0.25.2). max-bundle gathers one transport for all m-lines from the start; the offer is the
 * same BUNDLE offer with the same candidates in every m-line.
 */
export const OFFERER_BUNDLE_POLICY = 'max-bundle' as const satisfies PeerConfig['bundlePolicy'];

/** The peer config both ends start from. `iceServers: []` unless configured — werift's default is a public STUN server. */
export function basePeerConfig(
  codecs: readonly CodecName[],
  ice: IceOptions = {},
  format?: VideoFormat,
): Partial<PeerConfig> & Pick<PeerConfig, 'codecs' | 'headerExtensions'> {
  const relayOnly = ice.transportPolicy === 'relay' || ice.announce?.every((kind) => kind === 'relay') === true;
  return {
    iceServers: iceServersForWerift(ice.iceServers ?? []),
    codecs: { video: videoCodecs(codecs, format), audio: [opusCodec()] },
    headerExtensions: { video: videoHeaderExtensions(), audio: audioHeaderExtensions() },
    ...(relayOnly ? { iceTransportPolicy: 'relay' as const } : {}),
    ...(ice.portRange ? { icePortRange: ice.portRange } : {}),
    ...(ice.publicAddresses?.length ? { iceAdditionalHostAddresses: ice.publicAddresses } : {}),
    // werift gathers before the offer goes out: an unanswered STUN query (UDP blocked) must not hold it 5 s.
    iceStunGatherTimeout: STUN_GATHER_TIMEOUT_SEC,
    iceUseIpv6: ice.useIpv6 ?? false,
  };
}

/** How long gathering waits for a STUN answer (werift's default is 5 s). */
export const STUN_GATHER_TIMEOUT_SEC = 2;
