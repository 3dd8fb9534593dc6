/**
 * A shorter way through werift (0.25.2) for each RTP packet the session sends, with the same bytes on the wire.
 *
 * werift's `RTCRtpSender.sendRtp` costs more than the packet needs: it clones the packet, computes an NTP time
 * from a decimal string on every packet (used for abs-send-time, which is not negotiated here, and for sender
 * reports, whose clock installSenderReportClock.ts replaces), rebuilds the header extensions through closures, a
 * filter, a find per extension and a sort, books the packet in its own bandwidth estimator (muted, see
 * muteWeriftEstimator) and hands it down a chain of six async functions (sender → DTLS transport → ICE
 * connection → protocol → UDP transport), a promise each. Here the sender's bookkeeping is done in place
 * (SSRC, payload type, sequence and timestamp offsets, mid and transport-wide-cc extensions, the counters sender
 * reports carry, the retransmission history NACKs read) and the packet is encrypted by the transport's own SRTP
 * session and given to the ICE connection's `send`, which still picks the nominated pair (UDP or TURN).
 *
 * Measured (a 720p60 4 Mbit/s clip, ≈7 packets a frame, one process with a werift receiver, the paths
 * alternated every 30 frames at the same load ≈10): werift's path 633 / 821 µs of CPU a frame, this one 450 /
 * 607 µs (the rest is SRTP and the kernel's send).
 *
 * Anything this does not reproduce — a sender with RED, pending-RTP queueing, a source switch (replaceRTP),
 * extensions werift writes besides mid and transport-wide-cc (rid, abs-send-time), or a werift whose fields
 * moved — goes through werift's own `sendRtp` instead.
 */
import { type RTCRtpSender, RTP_EXTENSION_URI, type RtpPacket } from 'werift';

const MID_URI = RTP_EXTENSION_URI.sdesMid;
const TWCC_URI = RTP_EXTENSION_URI.transportWideCC;
/** Extensions werift's sendRtp writes itself besides those two: a sender negotiating one goes through werift. */
const WERIFT_WRITES: ReadonlySet<string> = new Set([
  RTP_EXTENSION_URI.sdesRTPStreamID,
  RTP_EXTENSION_URI.repairedRtpStreamId,
  RTP_EXTENSION_URI.absSendTime,
]);
/** werift's RTP_HISTORY_SIZE: the packets kept for retransmission on NACK, indexed by sequence number. */
const RTP_HISTORY_SIZE = 128;

type Extension = { id: number; payload: Buffer };

/** The fields of werift's sender, DTLS transport and ICE connection the direct path reads and writes. */
type SenderFields = {
  stopped: boolean;
  ssrc: number;
  codec: { payloadType: number } | undefined;
  mid: string | undefined;
  headerExtensions: ReadonlyArray<{ id: number; uri: string }>;
  seqOffset: number;
  timestampOffset: number;
  rtpContinuityPending: boolean;
  redRedundantPayloadType: number | undefined;
  pendingRtpEnabled: boolean;
  sequenceNumber: number | undefined;
  timestamp: number | undefined;
  rtpTimestamp: number;
  octetCount: number;
  headerBytesSent: number;
  packetCount: number;
  rtpCache: RtpPacket[];
  runRtcp: () => Promise<void>;
  dtlsTransport: TransportFields;
};
type TransportFields = {
  state: string;
  transportSequenceNumber: number;
  bytesSent: number;
  packetsSent: number;
  srtp: { encrypt: (payload: Buffer, header: RtpPacket['header']) => Buffer } | undefined;
  iceTransport: { connection: { send: (data: Buffer) => Promise<void> } };
};

export type DirectRtpSendReturnType = {
  /** Sends one packet; resolves when it was handed to the socket (never rejects: failures are counted). */
  send: (packet: RtpPacket) => Promise<void>;
  /** Packets that went the direct way / through werift's own sendRtp. */
  readonly directCount: number;
  readonly weriftCount: number;
};

function hasFields(sender: Partial<SenderFields>): sender is SenderFields {
  const transport = sender.dtlsTransport as Partial<TransportFields> | undefined;
  return (
    typeof sender.ssrc === 'number' &&
    typeof sender.seqOffset === 'number' &&
    typeof sender.timestampOffset === 'number' &&
    typeof sender.rtpContinuityPending === 'boolean' &&
    typeof sender.pendingRtpEnabled === 'boolean' &&
    typeof sender.octetCount === 'number' &&
    typeof sender.headerBytesSent === 'number' &&
    typeof sender.packetCount === 'number' &&
    Array.isArray(sender.rtpCache) &&
    Array.isArray(sender.headerExtensions) &&
    typeof sender.runRtcp === 'function' &&
    typeof transport?.transportSequenceNumber === 'number' &&
    typeof transport.bytesSent === 'number' &&
    typeof transport.packetsSent === 'number' &&
    typeof transport.iceTransport?.connection?.send === 'function'
  );
}

/**
 * The direct path for one sender. Call `send` only once the transport is connected; it checks per packet and
 * falls back to werift's `sendRtp` whenever the direct path would differ.
 */
export function directRtpSend(sender: RTCRtpSender, onError: (error: unknown) => void): DirectRtpSendReturnType {
  const fields = sender as unknown as Partial<SenderFields>;
  const supported = hasFields(fields);
  let directCount = 0;
  let weriftCount = 0;
  /** The mid extension's payload, made once per mid. */
  let midPayload: { mid: string; payload: Buffer } | undefined;
  const viaWerift = (packet: RtpPacket): Promise<void> => {
    weriftCount += 1;
    return sender.sendRtp(packet).catch(onError);
  };
  const send = (packet: RtpPacket): Promise<void> => {
    if (!supported) return viaWerift(packet);
    const s = fields as SenderFields;
    const transport = s.dtlsTransport;
    const codec = s.codec;
    const srtp = transport.srtp;
    if (
      s.stopped ||
      transport.state !== 'connected' ||
      !codec ||
      !srtp ||
      s.rtpContinuityPending ||
      s.redRedundantPayloadType ||
      s.pendingRtpEnabled ||
      s.headerExtensions.some(({ uri }) => WERIFT_WRITES.has(uri))
    ) {
      return viaWerift(packet);
    }
    const extensions: Extension[] = [];
    for (const { id, uri } of s.headerExtensions) {
      if (uri === MID_URI) {
        // werift leaves the extension out while the sender has no mid.
        if (!s.mid) continue;
        if (midPayload?.mid !== s.mid) midPayload = { mid: s.mid, payload: Buffer.from(s.mid) };
        extensions.push({ id, payload: midPayload.payload });
      } else if (uri === TWCC_URI) {
        transport.transportSequenceNumber = (transport.transportSequenceNumber + 1) & 0xffff;
        const payload = Buffer.allocUnsafe(2);
        payload.writeUInt16BE(transport.transportSequenceNumber, 0);
        extensions.push({ id, payload });
      }
      // Any other negotiated extension (playout delay) werift leaves to the caller's own, as here.
    }
    const { header, payload } = packet;
    // The caller's own extensions (playout delay) keep theirs; one with a negotiated id replaces its payload.
    for (const own of header.extensions) {
      const same = extensions.find((ext) => ext.id === own.id);
      if (same) same.payload = own.payload;
      else extensions.push(own);
    }
    extensions.sort((a, b) => a.id - b.id);
    // Everything else werift's dispatchRtp stamps.
    header.ssrc = s.ssrc;
    header.payloadType = codec.payloadType;
    header.timestamp = (header.timestamp + s.timestampOffset) >>> 0;
    header.sequenceNumber = (header.sequenceNumber + s.seqOffset) & 0xffff;
    s.timestamp = header.timestamp;
    s.sequenceNumber = header.sequenceNumber;
    header.extensions = extensions;
    s.rtpTimestamp = header.timestamp;
    s.octetCount += payload.length;
    s.headerBytesSent += header.serializeSize;
    s.packetCount = (s.packetCount + 1) >>> 0;
    s.rtpCache[header.sequenceNumber % RTP_HISTORY_SIZE] = packet;
    let encrypted: Buffer;
    try {
      encrypted = srtp.encrypt(payload, header);
    } catch (error) {
      onError(error);
      return Promise.resolve();
    }
    transport.bytesSent += encrypted.length;
    transport.packetsSent += 1;
    directCount += 1;
    const sent = transport.iceTransport.connection.send(encrypted).catch(onError);
    // Starts werift's sender-report loop on the first packet (a no-op once it runs), as its sendRtp does.
    void s.runRtcp();
    return sent;
  };
  return {
    send,
    get directCount() {
      return directCount;
    },
    get weriftCount() {
      return weriftCount;
    },
  };
}
