/**
 * What the stream's SDP and ICE look like on the wire, shared by every end that negotiates it: the render
 * host's sender and the in-Node receivers of tests and checkers (werift), and the browser.
 */
import type { IceCandidateInit } from './messages.js';

/**
 * Chromium honours min=max=0 from this extension with its low-latency renderer: frames skip the jitter
 * buffer's smoothing delay (measured here: tens of ms → ≈1.5 ms).
 */
export const PLAYOUT_DELAY_URI = 'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay';

/** What a stream carries: its picture size and frame rate (the H.264 level follows from them). */
export type VideoFormat = { width: number; height: number; fps: number };

/**
 * H.264 levels (ITU-T H.264 Table A-1) by their limits: MaxFS (macroblocks a frame) and MaxMBPS (macroblocks a
 * second). Level 3.1 is 720p30; 720p60 needs 3.2, 1080p60 and 720p120 4.2, 1080p120 5.1.
 */
const H264_LEVELS = [
  { name: '3', idc: 30, maxFs: 1620, maxMbps: 40_500 },
  { name: '3.1', idc: 31, maxFs: 3600, maxMbps: 108_000 },
  { name: '3.2', idc: 32, maxFs: 5120, maxMbps: 216_000 },
  { name: '4', idc: 40, maxFs: 8192, maxMbps: 245_760 },
  { name: '4.2', idc: 42, maxFs: 8704, maxMbps: 522_240 },
  { name: '5', idc: 50, maxFs: 22_080, maxMbps: 589_824 },
  { name: '5.1', idc: 51, maxFs: 36_864, maxMbps: 983_040 },
  { name: '5.2', idc: 52, maxFs: 36_864, maxMbps: 2_073_600 },
] as const;

export type H264Level = { name: string; idc: number };

/** The lowest H.264 level whose frame size and macroblock rate cover the format (never below 3.1). */
export function h264Level({ width, height, fps }: VideoFormat): H264Level {
  const frameMbs = Math.ceil(width / 16) * Math.ceil(height / 16);
  const rate = frameMbs * Math.ceil(fps);
  const level = H264_LEVELS.find((l) => l.idc >= 31 && frameMbs <= l.maxFs && rate <= l.maxMbps);
  if (!level) throw new RangeError(`no H.264 level covers ${width}×${height}@${fps}`);
  return { name: level.name, idc: level.idc };
}

/** `profile-level-id` for constrained baseline (profile_idc 0x42, constraint flags 0xe0) at the format's level. */
export function h264ProfileLevelId(format: VideoFormat): string {
  return `42e0${h264Level(format).idc.toString(16).padStart(2, '0')}`;
}

/** The player's `quality` setting: which rung of picture size × frame rate × bitrate the host streams. */
export const QUALITY_NAMES = ['auto', 'low', 'medium', 'high', 'smooth'] as const;
export type QualityName = (typeof QUALITY_NAMES)[number];

export type VideoRung = VideoFormat & { startBitrateBps: number; maxBitrateBps: number };

/**
 * The rungs a built-in game streams at (an external game streams its display as it is). `auto` is `medium`.
 * The encoder's bitrate still follows the bandwidth estimate within [the host's minimum, the rung's maximum].
 */
export const VIDEO_RUNGS: Readonly<Record<Exclude<QualityName, 'auto'>, VideoRung>> = {
  low: { width: 960, height: 540, fps: 60, startBitrateBps: 1_500_000, maxBitrateBps: 3_000_000 },
  medium: { width: 1280, height: 720, fps: 60, startBitrateBps: 4_000_000, maxBitrateBps: 8_000_000 },
  high: { width: 1920, height: 1080, fps: 60, startBitrateBps: 6_000_000, maxBitrateBps: 12_000_000 },
  smooth: { width: 1280, height: 720, fps: 120, startBitrateBps: 6_000_000, maxBitrateBps: 12_000_000 },
};

/** The H.264 fmtp line of the host's offer: constrained baseline at the level of what it encodes. */
export function h264Fmtp(format: VideoFormat): string {
  return `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${h264ProfileLevelId(format)}`;
}

/**
 * The H.264 fmtp an in-Node receiver (werift: tests, checkers) declares: no profile-level-id, so it matches the
 * host's offer at whatever level the host encodes (werift refuses two different profile-level-ids).
 */
export const H264_RECEIVER_FMTP = 'level-asymmetry-allowed=1;packetization-mode=1';

/**
 * Chromium answers H.264 with its own receive level (3.1, `42e01f`) whatever the offer says; with
 * level-asymmetry-allowed that would declare it decodes no more than 720p30. Its decoder takes any level of the
 * profile, so the player states what it takes: the answer's constrained-baseline profile-level-id becomes the
 * offer's (werift also refuses an answer whose profile-level-id differs from its own).
 */
export function answerWithOfferedH264Level(answerSdp: string, offerSdp: string): string {
  const offered = /profile-level-id=(42e0[0-9a-fA-F]{2})/.exec(offerSdp)?.[1];
  if (!offered) return answerSdp;
  return answerSdp.replace(/profile-level-id=42e0[0-9a-fA-F]{2}/g, `profile-level-id=${offered.toLowerCase()}`);
}

/**
 * Extension ids are fixed here, the same id for the same URI in both m-lines: werift would otherwise number
 * audio and video extensions in one sequence (mid = 1 in audio, 3 in video), and a BUNDLE transport whose
 * m-lines disagree on an id is fragile in Chromium.
 */
export const EXTENSION_IDS = { mid: 1, transportWideCc: 3, playoutDelay: 4 } as const;

/** A signaled candidate as `addIceCandidate` takes it: the fields that are set, none that are null. */
export function candidateInit(candidate: IceCandidateInit): {
  candidate: string;
  sdpMid?: string;
  sdpMLineIndex?: number;
  usernameFragment?: string;
} {
  return {
    candidate: candidate.candidate,
    ...(candidate.sdpMid != null ? { sdpMid: candidate.sdpMid } : {}),
    ...(candidate.sdpMLineIndex != null ? { sdpMLineIndex: candidate.sdpMLineIndex } : {}),
    ...(candidate.usernameFragment != null ? { usernameFragment: candidate.usernameFragment } : {}),
  };
}
