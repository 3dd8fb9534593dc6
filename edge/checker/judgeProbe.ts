/**
 * A checker's own verdict on one probe, before the majority: is the container alive, does it deliver its game's
 * frame rate and resolution (the manifest's, from the assignment — not what the host declares), and is it near
 * enough. The thresholds are the checker's (its config), so two honest checkers on similar paths agree and a
 * degraded container fails on each of them.
 */

export type ProbeMeasurement = {
  /** The probe connected and delivered video frames and pongs during the window. */
  live: boolean;
  /** Median of the data-channel ping round trips, ms (NaN when none came back). */
  rttMs: number;
  pingsSent: number;
  pongsReceived: number;
  /** Complete frames per second over the window. */
  fps: number;
  lossPpm: number;
  jitterMs: number;
  framesComplete: number;
  framesBroken: number;
  packetsReceived: number;
  /** The picture size the stream carried (0 × 0 when no parameter set was seen). */
  width: number;
  height: number;
};

/** What the container owes: its game's manifest size and rate. */
export type ExpectedStream = { width: number; height: number; fps: number };

export type ProbeThresholds = {
  /** A container passes at ≥ this share of its advertised frame rate. */
  minFpsRatio: number;
  /** A container passes at a median RTT ≤ this. */
  maxRttMs: number;
  /** A container passes at a loss ≤ this (parts per million). */
  maxLossPpm: number;
};

export const DEFAULT_PROBE_THRESHOLDS: ProbeThresholds = { minFpsRatio: 0.7, maxRttMs: 150, maxLossPpm: 50_000 };

export type ProbeJudgement = { ok: boolean; reasons: string[] };

export function judgeProbe(
  measurement: ProbeMeasurement,
  expected: ExpectedStream,
  thresholds: ProbeThresholds = DEFAULT_PROBE_THRESHOLDS,
): ProbeJudgement {
  const reasons: string[] = [];
  if (!measurement.live) reasons.push('not live');
  if (measurement.fps < expected.fps * thresholds.minFpsRatio) {
    reasons.push(`fps ${measurement.fps.toFixed(1)} < ${thresholds.minFpsRatio} × ${expected.fps}`);
  }
  // A live stream that carries fewer pixels than its game's manifest is below spec, whatever its frame rate.
  if (measurement.live && measurement.width * measurement.height < expected.width * expected.height) {
    reasons.push(
      measurement.width === 0
        ? 'no picture size seen'
        : `resolution ${measurement.width}×${measurement.height} < ${expected.width}×${expected.height}`,
    );
  }
  if (!(measurement.rttMs <= thresholds.maxRttMs)) {
    reasons.push(`rtt ${measurement.rttMs.toFixed(1)} ms > ${thresholds.maxRttMs} ms`);
  }
  if (measurement.lossPpm > thresholds.maxLossPpm) reasons.push(`loss ${measurement.lossPpm} ppm`);
  return { ok: reasons.length === 0, reasons };
}
