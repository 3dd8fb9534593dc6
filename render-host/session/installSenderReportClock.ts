/**
 * RTCP sender reports from one shared media clock, so the player can line audio up with video.
 *
 * A receiver syncs two streams by mapping each one's RTP timestamps to NTP wall time through that stream's
 * sender reports. werift 0.25.2 fills the SR with (NTP at the last packet's *send*, that packet's RTP time),
 * and its `ntpTime()` writes the sub-second part as the decimal digits of the fraction (0.5 s → 5/2³²), not
 * as fraction × 2³²: the mapping jumps by up to a second between reports, and audio/video sync is lost.
 *
 * Here each sender's NTP timestamp is computed instead from the RTP timestamp it reports, through the
 * session's media clock: RTP time `base + t × clockRate` ↔ wall time `epoch + t` for audio and video alike
 * (both use the same epoch). werift keeps doing everything else (when to send, packet/octet counts, RTT from
 * LSR/DLSR — which stays consistent because LSR is derived from the same value).
 */
import type { RTCRtpSender } from 'werift';

/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
const NTP_UNIX_OFFSET_SEC = 2_208_988_800;

/** 64-bit NTP timestamp (32.32 fixed point) of a Unix wall time in ms. */
export function ntpFromWallMs(wallMs: number): bigint {
  const seconds = Math.floor(wallMs / 1000);
  const fraction = Math.floor(((wallMs - seconds * 1000) / 1000) * 2 ** 32);
  return (BigInt(seconds + NTP_UNIX_OFFSET_SEC) << 32n) | BigInt(fraction >>> 0);
}

export type InstallSenderReportClockParameters = {
  sender: RTCRtpSender;
  /** RTP clock rate of the stream (90000 video, 48000 Opus). */
  clockRate: number;
  /** RTP timestamp at media time 0. */
  rtpBase: number;
  /** Unix wall time (ms) at media time 0, shared by every stream of the session. */
  epochWallMs: number;
};

type SenderClockFields = { rtpTimestamp: number; ntpTimestamp: bigint };

function clockFields(sender: RTCRtpSender): SenderClockFields | undefined {
  // Private in werift's types, plain properties at run time: check they are there before relying on them.
  const fields = sender as unknown as Partial<SenderClockFields>;
  if (typeof fields.rtpTimestamp !== 'number' || typeof fields.ntpTimestamp !== 'bigint') return undefined;
  return fields as SenderClockFields;
}

/** Returns false (and changes nothing) if this werift build does not have the fields this relies on. */
export function installSenderReportClock(params: InstallSenderReportClockParameters): boolean {
  const { sender, clockRate, rtpBase, epochWallMs } = params;
  const fields = clockFields(sender);
  if (!fields) return false;
  let wraps = 0;
  let lastElapsed = 0;
  Object.defineProperty(sender, 'ntpTimestamp', {
    configurable: true,
    enumerable: true,
    get(): bigint {
      const elapsed = (fields.rtpTimestamp - rtpBase) >>> 0;
      // 32-bit RTP time wraps (video: every 13 h); count the wraps so the mapping stays monotonic.
      if (elapsed < lastElapsed && lastElapsed - elapsed > 2 ** 31) wraps += 1;
      lastElapsed = elapsed;
      return ntpFromWallMs(epochWallMs + ((wraps * 2 ** 32 + elapsed) / clockRate) * 1000);
    },
    set(): void {
      // werift writes its own (send-time) value on every packet; the media clock's value wins.
    },
  });
  return true;
}
