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

/** Constrained baseline, level 3.1, as the host's x264/NVENC encode it. */
export const H264_FMTP = 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f';

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
