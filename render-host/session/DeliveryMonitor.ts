/**
 * What transport-wide congestion control feedback says about the path: queueing delay, loss and the rate
 * that actually got through — the inputs of the encoder's bitrate (BitrateController).
 *
 * werift 0.25.2 has its own estimate (`senderBWE.onAvailableBitrate`) but it is not usable here: its
 * `TransportWideCC.packetResults` expands only run-length chunks (Chromium also sends status-vector chunks),
 * restarts every chunk at the base sequence number and truncates each arrival delta to whole ms, and the
 * estimate it reports is min(send rate, receive rate) of recent packets — measured on loopback it reads ≈ 0.7 ×
 * what was actually sent, with nothing congested. So the feedback is decoded here from werift's parsed chunks,
 * against send times recorded for each transport-wide sequence number.
 */
import { RunLengthChunk, StatusVectorChunk, type TransportWideCC } from 'werift';

export type DeliveryReport = {
  /** One-way delay above its recent minimum, ms: how much queue is building on the path. */
  queueDelayMs: number;
  /** Smoothed fraction (0..1) of packets reported lost. */
  lossFraction: number;
  /** Bytes that arrived over the last ~half second, by the receiver's clock (undefined until enough). */
  deliveredBps: number | undefined;
  /** Packets this feedback reported on. */
  packets: number;
};

export type TwccPacketResult = { sequenceNumber: number; receivedAtUs: number | undefined };

const RECEIVED_SMALL_DELTA = 1;
const RECEIVED_LARGE_DELTA = 2;
const BASELINE_WINDOW_SEC = 10;
const DELIVERY_WINDOW_MS = 500;
const LOSS_SMOOTHING = 0.3;

/** Every packet a TWCC feedback reports on, in order, with its arrival time on the receiver's clock (µs). */
export function twccPacketResults(feedback: TransportWideCC): TwccPacketResult[] {
  const statuses: number[] = [];
  for (const chunk of feedback.packetChunks) {
    if (chunk instanceof RunLengthChunk) {
      for (let i = 0; i < chunk.runLength; i++) statuses.push(chunk.packetStatus);
    } else if (chunk instanceof StatusVectorChunk) {
      // 1-bit symbols: 1 = received with a small delta; 2-bit symbols are packet statuses.
      for (const symbol of chunk.symbolList) statuses.push(symbol);
    }
  }
  statuses.length = Math.min(statuses.length, feedback.packetStatusCount);
  let timeUs = feedback.referenceTime * 64_000;
  let delta = 0;
  return statuses.map((status, i) => {
    const sequenceNumber = (feedback.baseSequenceNumber + i) & 0xffff;
    if (status !== RECEIVED_SMALL_DELTA && status !== RECEIVED_LARGE_DELTA)
      return { sequenceNumber, receivedAtUs: undefined };
    timeUs += feedback.recvDeltas[delta++]?.delta ?? 0;
    return { sequenceNumber, receivedAtUs: timeUs };
  });
}

export class DeliveryMonitor {
  readonly #sentAtMs = new Float64Array(65536).fill(Number.NaN);
  readonly #sizeBytes = new Uint32Array(65536);
  /** Minimum one-way delay per second (sender ms − receiver ms: a constant clock offset cancels out). */
  #minimaBySecond: { second: number; minMs: number }[] = [];
  #arrivals: { atMs: number; bytes: number }[] = [];
  #lossFraction = 0;

  recordSent(sequenceNumber: number, sizeBytes: number, sentAtMs: number): void {
    this.#sentAtMs[sequenceNumber & 0xffff] = sentAtMs;
    this.#sizeBytes[sequenceNumber & 0xffff] = sizeBytes;
  }

  onFeedback(feedback: TransportWideCC, nowMs: number): DeliveryReport | undefined {
    const delays: number[] = [];
    let lost = 0;
    for (const { sequenceNumber, receivedAtUs } of twccPacketResults(feedback)) {
      const sentAtMs = this.#sentAtMs[sequenceNumber] ?? Number.NaN;
      if (Number.isNaN(sentAtMs)) continue;
      if (receivedAtUs === undefined) {
        // Reported lost now; a later feedback may still report it received (then it counts there).
        lost += 1;
        continue;
      }
      this.#sentAtMs[sequenceNumber] = Number.NaN;
      const receivedAtMs = receivedAtUs / 1000;
      delays.push(receivedAtMs - sentAtMs);
      this.#arrivals.push({ atMs: receivedAtMs, bytes: this.#sizeBytes[sequenceNumber] ?? 0 });
    }
    const packets = delays.length + lost;
    if (packets === 0) return undefined;
    this.#lossFraction += LOSS_SMOOTHING * (lost / packets - this.#lossFraction);
    if (delays.length === 0) {
      return { queueDelayMs: 0, lossFraction: this.#lossFraction, deliveredBps: undefined, packets };
    }
    delays.sort((a, b) => a - b);
    const median = delays[Math.floor(delays.length / 2)] ?? 0;
    const second = Math.floor(nowMs / 1000);
    const last = this.#minimaBySecond.at(-1);
    if (last?.second === second) last.minMs = Math.min(last.minMs, delays[0] ?? median);
    else this.#minimaBySecond.push({ second, minMs: delays[0] ?? median });
    this.#minimaBySecond = this.#minimaBySecond.filter((m) => second - m.second < BASELINE_WINDOW_SEC);
    const baseline = Math.min(...this.#minimaBySecond.map((m) => m.minMs));
    const newest = this.#arrivals.at(-1)?.atMs ?? 0;
    this.#arrivals = this.#arrivals.filter((a) => newest - a.atMs <= DELIVERY_WINDOW_MS);
    const spanMs = newest - (this.#arrivals[0]?.atMs ?? newest);
    const bytes = this.#arrivals.reduce((sum, a) => sum + a.bytes, 0);
    return {
      queueDelayMs: Math.max(0, median - baseline),
      lossFraction: this.#lossFraction,
      deliveredBps: spanMs >= 100 ? (bytes * 8 * 1000) / spanMs : undefined,
      packets,
    };
  }
}
