/**
 * Stats math, pure: what `RTCPeerConnection.getStats()` reports, read defensively (every field is outside
 * input), turned into one sample per interval — decoded fps, bitrate, loss, jitter-buffer and decode time per
 * frame — and the estimated glass-to-glass latency.
 */
import type { CodecName } from '../../../signaling/protocol/index.js';
import { codecFromMimeType } from '../codecs.js';

export type RawVideoStats = {
  framesDecoded: number;
  framesDropped: number;
  framesPerSecond: number | undefined;
  frameWidth: number | undefined;
  frameHeight: number | undefined;
  bytesReceived: number;
  packetsReceived: number;
  packetsLost: number;
  /** Cumulative seconds frames spent in the jitter buffer, and how many frames left it. */
  jitterBufferDelaySec: number;
  jitterBufferEmittedCount: number;
  totalDecodeTimeSec: number;
  codec: CodecName | undefined;
};

export type RawAudioStats = { packetsReceived: number; packetsLost: number; bytesReceived: number };

/** The path the stream takes: the selected candidate pair's two ends (`relay` = through TURN). */
export type IceRoute = {
  localCandidateType: string | undefined;
  remoteCandidateType: string | undefined;
  remoteAddress: string | undefined;
  /** How this browser reaches its TURN server (`udp`, `tcp`, `tls`) when the local end is relayed. */
  relayProtocol: string | undefined;
};

export type RawStats = {
  atMs: number;
  video: RawVideoStats | undefined;
  audio: RawAudioStats | undefined;
  /** The selected candidate pair's current RTT (STUN consent checks), in ms. */
  iceRttMs: number | undefined;
  route?: IceRoute | undefined;
};

export type StatsSample = {
  atMs: number;
  /** Data-channel ping RTT (median of the recent pings), else the ICE candidate pair's. */
  rttMs: number | undefined;
  iceRttMs: number | undefined;
  fps: number | undefined;
  width: number | undefined;
  height: number | undefined;
  codec: CodecName | undefined;
  bitrateBps: number | undefined;
  /** Cumulative, video. */
  packetsLost: number;
  /** Of the video packets expected during the last interval. */
  packetLossPct: number | undefined;
  jitterBufferMs: number | undefined;
  decodeMs: number | undefined;
  framesDecoded: number;
  framesDropped: number;
  audioPacketsReceived: number;
  /** Estimated (see `estimateGlassToGlassMs`). */
  glassToGlassMs: number | undefined;
  /** Measured from the host's frame marks (input sent → first frame reflecting it shown), median of recent samples. */
  inputToPhotonMs: number | undefined;
  /** The host's encoder for this stream, as the host states it (`StreamInfoInput`): NVENC or its fallback. */
  hostEncoder: string | undefined;
  /** Direct or through TURN, and the remote end's address. */
  route?: IceRoute | undefined;
};

function num(record: Record<string, unknown>, key: string): number | undefined {
  const value = record[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function str(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  return typeof value === 'string' ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Reads the entries of an `RTCStatsReport` (`report.values()`). */
export function extractRawStats(entries: Iterable<unknown>, atMs: number): RawStats {
  const byId = new Map<string, Record<string, unknown>>();
  for (const entry of entries) {
    if (!isRecord(entry)) continue;
    const id = str(entry, 'id');
    if (id) byId.set(id, entry);
  }
  let video: RawVideoStats | undefined;
  let audio: RawAudioStats | undefined;
  let selectedPairId: string | undefined;
  let nominatedRttSec: number | undefined;
  for (const s of byId.values()) {
    const type = str(s, 'type');
    if (type === 'inbound-rtp' && str(s, 'kind') === 'video') {
      // With more than one video receiver (a renegotiation in flight), the one that decodes wins.
      const framesDecoded = num(s, 'framesDecoded') ?? 0;
      if (video && video.framesDecoded > framesDecoded) continue;
      const codecId = str(s, 'codecId');
      const codec = codecId ? byId.get(codecId) : undefined;
      video = {
        framesDecoded,
        framesDropped: num(s, 'framesDropped') ?? 0,
        framesPerSecond: num(s, 'framesPerSecond'),
        frameWidth: num(s, 'frameWidth'),
        frameHeight: num(s, 'frameHeight'),
        bytesReceived: num(s, 'bytesReceived') ?? 0,
        packetsReceived: num(s, 'packetsReceived') ?? 0,
        packetsLost: Math.max(0, num(s, 'packetsLost') ?? 0),
        jitterBufferDelaySec: num(s, 'jitterBufferDelay') ?? 0,
        jitterBufferEmittedCount: num(s, 'jitterBufferEmittedCount') ?? 0,
        totalDecodeTimeSec: num(s, 'totalDecodeTime') ?? 0,
        codec: codec ? codecFromMimeType(str(codec, 'mimeType')) : undefined,
      };
    } else if (type === 'inbound-rtp' && str(s, 'kind') === 'audio') {
      audio = {
        packetsReceived: num(s, 'packetsReceived') ?? 0,
        packetsLost: Math.max(0, num(s, 'packetsLost') ?? 0),
        bytesReceived: num(s, 'bytesReceived') ?? 0,
      };
    } else if (type === 'transport') {
      selectedPairId = str(s, 'selectedCandidatePairId') ?? selectedPairId;
    } else if (type === 'candidate-pair' && s['nominated'] === true && str(s, 'state') === 'succeeded') {
      nominatedRttSec = num(s, 'currentRoundTripTime') ?? nominatedRttSec;
    }
  }
  const selected = selectedPairId ? byId.get(selectedPairId) : undefined;
  const rttSec = (selected ? num(selected, 'currentRoundTripTime') : undefined) ?? nominatedRttSec;
  const localId = selected ? str(selected, 'localCandidateId') : undefined;
  const remoteId = selected ? str(selected, 'remoteCandidateId') : undefined;
  const local = localId ? byId.get(localId) : undefined;
  const remote = remoteId ? byId.get(remoteId) : undefined;
  const route: IceRoute | undefined =
    local || remote
      ? {
          localCandidateType: local ? str(local, 'candidateType') : undefined,
          remoteCandidateType: remote ? str(remote, 'candidateType') : undefined,
          remoteAddress: remote ? (str(remote, 'address') ?? str(remote, 'ip')) : undefined,
          relayProtocol: local ? str(local, 'relayProtocol') : undefined,
        }
      : undefined;
  return { atMs, video, audio, iceRttMs: rttSec === undefined ? undefined : rttSec * 1000, route };
}

export function median(values: readonly number[]): number | undefined {
  return percentile(values, 50);
}

/** Nearest-rank percentile; undefined for no values. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

export type GlassToGlassParameters = {
  rttMs: number | undefined;
  jitterBufferMs: number | undefined;
  decodeMs: number | undefined;
  fps: number | undefined;
};

/**
 * Estimated glass-to-glass latency: what the browser can know without a camera on the screen.
 *   RTT / 2          one-way network time of a frame (assumes a symmetric path);
 *   + jitter buffer  per-frame wait before decoding (≈0 with the playout-delay extension);
 *   + decode         per-frame decode time;
 *   + 1 frame        on average half a frame waiting on the host for the next tick (capture/encode) and half
 *                    a frame waiting for the display's next refresh after decoding.
 * It leaves out the host's render + encode time (≈6 ms at 720p x264) and the display's own lag: it is a
 * lower bound. The host's frame marks, matched with presented frames by RTP timestamp, measure the real input→photon time (`inputToPhotonMs`).
 */
export function estimateGlassToGlassMs({
  rttMs,
  jitterBufferMs,
  decodeMs,
  fps,
}: GlassToGlassParameters): number | undefined {
  if (rttMs === undefined || fps === undefined || fps <= 0) return undefined;
  return rttMs / 2 + (jitterBufferMs ?? 0) + (decodeMs ?? 0) + 1000 / fps;
}

export type ComputeStatsSampleParameters = {
  previous: RawStats | undefined;
  current: RawStats;
  pingRttMs: number | undefined;
  inputToPhotonMs: number | undefined;
  hostEncoder?: string | undefined;
};

function perFrameMs(deltaSec: number, deltaCount: number): number | undefined {
  return deltaCount > 0 && deltaSec >= 0 ? (deltaSec / deltaCount) * 1000 : undefined;
}

export function computeStatsSample({
  previous,
  current,
  pingRttMs,
  inputToPhotonMs,
  hostEncoder,
}: ComputeStatsSampleParameters): StatsSample {
  const v = current.video;
  const p = previous?.video;
  const intervalSec = previous ? (current.atMs - previous.atMs) / 1000 : 0;
  // A counter that went down means a new receiver (renegotiation): start over rather than go negative.
  const comparable = v !== undefined && p !== undefined && intervalSec > 0 && v.framesDecoded >= p.framesDecoded;
  let fps = v?.framesPerSecond;
  let bitrateBps: number | undefined;
  let packetLossPct: number | undefined;
  let jitterBufferMs: number | undefined;
  let decodeMs: number | undefined;
  if (comparable) {
    fps = (v.framesDecoded - p.framesDecoded) / intervalSec;
    bitrateBps = Math.max(0, ((v.bytesReceived - p.bytesReceived) * 8) / intervalSec);
    const received = v.packetsReceived - p.packetsReceived;
    const lost = Math.max(0, v.packetsLost - p.packetsLost);
    packetLossPct = received + lost > 0 ? (lost / (received + lost)) * 100 : 0;
    jitterBufferMs = perFrameMs(
      v.jitterBufferDelaySec - p.jitterBufferDelaySec,
      v.jitterBufferEmittedCount - p.jitterBufferEmittedCount,
    );
    decodeMs = perFrameMs(v.totalDecodeTimeSec - p.totalDecodeTimeSec, v.framesDecoded - p.framesDecoded);
  } else if (v) {
    jitterBufferMs = perFrameMs(v.jitterBufferDelaySec, v.jitterBufferEmittedCount);
    decodeMs = perFrameMs(v.totalDecodeTimeSec, v.framesDecoded);
  }
  const rttMs = pingRttMs ?? current.iceRttMs;
  return {
    atMs: current.atMs,
    rttMs,
    iceRttMs: current.iceRttMs,
    fps,
    width: v?.frameWidth,
    height: v?.frameHeight,
    codec: v?.codec,
    bitrateBps,
    packetsLost: v?.packetsLost ?? 0,
    packetLossPct,
    jitterBufferMs,
    decodeMs,
    framesDecoded: v?.framesDecoded ?? 0,
    framesDropped: v?.framesDropped ?? 0,
    audioPacketsReceived: current.audio?.packetsReceived ?? 0,
    glassToGlassMs: estimateGlassToGlassMs({ rttMs, jitterBufferMs, decodeMs, fps }),
    inputToPhotonMs,
    hostEncoder,
    route: current.route,
  };
}

/** The `player-report` fields of a sample, clamped to the protocol's ranges. */
export function playerReportFields(sample: StatsSample): {
  fpsMilli: number;
  rttMicros: number;
  framesDecoded: number;
  packetsLost: number;
} {
  const clampInt = (value: number, max: number) => Math.max(0, Math.min(max, Math.round(value)));
  return {
    fpsMilli: clampInt((sample.fps ?? 0) * 1000, 1_000_000),
    rttMicros: clampInt((sample.rttMs ?? 0) * 1000, 60_000_000),
    framesDecoded: clampInt(sample.framesDecoded, Number.MAX_SAFE_INTEGER),
    packetsLost: clampInt(sample.packetsLost, Number.MAX_SAFE_INTEGER),
  };
}
