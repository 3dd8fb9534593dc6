/**
 * What a checker learns from the probe's RTP packets alone, with no decoder: complete frames (every packet
 * of one RTP timestamp, the last one with the marker bit, no sequence gap inside), packet loss from the
 * extended sequence numbers (RFC 3550 A.3: expected − received), and interarrival jitter (RFC 3550 A.8).
 * Frames are counted inside a window the caller opens and closes, so the connection's warm-up (ICE, the
 * first keyframe) does not dilute the frame rate.
 */

/** RTP video clock (H.264 and VP8). */
export const VIDEO_CLOCK_HZ = 90_000;

export type RtpPacketView = { sequenceNumber: number; timestamp: number; marker: boolean };

export type RtpProbeSnapshot = {
  packetsReceived: number;
  packetsExpected: number;
  packetsLost: number;
  /** Lost / expected, parts per million (0 before any packet). */
  lossPpm: number;
  /** RFC 3550 interarrival jitter, ms. */
  jitterMs: number;
  framesComplete: number;
  framesBroken: number;
  /** Complete frames per second inside the window (0 while no window was closed). */
  windowFps: number;
  /** Frames per second implied by the RTP timestamps of the window's complete frames. */
  windowTimestampFps: number;
  /** Arrival time (ms, the caller's clock) of the newest packet, undefined before the first. */
  lastPacketAtMs: number | undefined;
};

type Assembly = { timestamp: number; broken: boolean };

export class RtpProbeStats {
  #baseSeq: number | undefined;
  /** Extended highest sequence number (cycles × 65536 + seq). */
  #maxExtSeq = 0;
  #received = 0;
  #jitterTicks = 0;
  #lastTransit: number | undefined;
  #assembly: Assembly | undefined;
  #lastSeq: number | undefined;
  #framesComplete = 0;
  #framesBroken = 0;
  #lastPacketAtMs: number | undefined;
  #window:
    | { openedAtMs: number; closedAtMs: number | undefined; frames: number; firstTs?: number; lastTs?: number }
    | undefined;

  /** One received RTP packet and its arrival time in ms. */
  add(packet: RtpPacketView, arrivalMs: number): void {
    this.#lastPacketAtMs = arrivalMs;
    this.#received += 1;
    this.#trackSequence(packet.sequenceNumber);
    this.#trackJitter(packet.timestamp, arrivalMs);
    this.#trackFrame(packet, arrivalMs);
  }

  openWindow(nowMs: number): void {
    this.#window = { openedAtMs: nowMs, closedAtMs: undefined, frames: 0 };
  }

  closeWindow(nowMs: number): void {
    if (this.#window && this.#window.closedAtMs === undefined) this.#window.closedAtMs = nowMs;
  }

  snapshot(): RtpProbeSnapshot {
    const expected = this.#baseSeq === undefined ? 0 : this.#maxExtSeq - this.#baseSeq + 1;
    const lost = Math.max(0, expected - this.#received);
    const w = this.#window;
    const seconds = w?.closedAtMs !== undefined ? (w.closedAtMs - w.openedAtMs) / 1000 : 0;
    const tsSpan = w?.firstTs !== undefined && w.lastTs !== undefined ? (w.lastTs - w.firstTs) >>> 0 : 0;
    return {
      packetsReceived: this.#received,
      packetsExpected: expected,
      packetsLost: lost,
      lossPpm: expected > 0 ? Math.round((lost / expected) * 1_000_000) : 0,
      jitterMs: (this.#jitterTicks / VIDEO_CLOCK_HZ) * 1000,
      framesComplete: this.#framesComplete,
      framesBroken: this.#framesBroken,
      windowFps: seconds > 0 && w ? w.frames / seconds : 0,
      windowTimestampFps: w && w.frames > 1 && tsSpan > 0 ? ((w.frames - 1) * VIDEO_CLOCK_HZ) / tsSpan : 0,
      lastPacketAtMs: this.#lastPacketAtMs,
    };
  }

  #trackSequence(seq: number): void {
    if (this.#baseSeq === undefined) {
      this.#baseSeq = seq;
      this.#maxExtSeq = seq;
      return;
    }
    // Place seq in the cycle nearest the highest seen: a late (reordered, retransmitted) packet stays behind.
    const cycle = this.#maxExtSeq - (this.#maxExtSeq & 0xffff);
    let ext = cycle + seq;
    if (ext - this.#maxExtSeq > 0x8000) ext -= 0x10000;
    else if (this.#maxExtSeq - ext > 0x8000) ext += 0x10000;
    if (ext > this.#maxExtSeq) this.#maxExtSeq = ext;
  }

  /** RFC 3550 A.8: J += (|D| − J) / 16, with D the change in transit time, in RTP clock units. */
  #trackJitter(rtpTimestamp: number, arrivalMs: number): void {
    const arrivalTicks = (arrivalMs / 1000) * VIDEO_CLOCK_HZ;
    const transit = arrivalTicks - rtpTimestamp;
    if (this.#lastTransit !== undefined) {
      let d = Math.abs(transit - this.#lastTransit);
      // A timestamp wrap (every ≈13 h at 90 kHz) is one huge step, not jitter.
      if (d > 0x80000000) d = Math.abs(d - 0x100000000);
      this.#jitterTicks += (d - this.#jitterTicks) / 16;
    }
    this.#lastTransit = transit;
  }

  #trackFrame(packet: RtpPacketView, arrivalMs: number): void {
    const gap = this.#lastSeq !== undefined && ((this.#lastSeq + 1) & 0xffff) !== packet.sequenceNumber;
    this.#lastSeq = packet.sequenceNumber;
    if (!this.#assembly || this.#assembly.timestamp !== packet.timestamp) {
      // A new timestamp before the previous frame's marker: that frame lost its tail.
      if (this.#assembly) this.#framesBroken += 1;
      this.#assembly = { timestamp: packet.timestamp, broken: gap };
    } else if (gap) {
      this.#assembly.broken = true;
    }
    if (!packet.marker) return;
    const frame = this.#assembly;
    this.#assembly = undefined;
    if (frame.broken) {
      this.#framesBroken += 1;
      return;
    }
    this.#framesComplete += 1;
    const w = this.#window;
    if (w && w.closedAtMs === undefined && arrivalMs >= w.openedAtMs) {
      w.frames += 1;
      w.firstTs ??= frame.timestamp;
      w.lastTs = frame.timestamp;
    }
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
