/**
 * Frame rate on the media clock: the median step between consecutive received frames' RTP timestamps
 * (90 kHz). A host sending every tick at 60 fps steps 1500; one capped to 10 fps steps ≥ 9000. Unlike a
 * wall-clock rate it does not depend on how loaded the receiving machine is, so tests can assert on it.
 */
export function medianRtpStep(rtpTimestamps: readonly number[]): number {
  const steps: number[] = [];
  for (let i = 1; i < rtpTimestamps.length; i++) {
    const step = ((rtpTimestamps[i] ?? 0) - (rtpTimestamps[i - 1] ?? 0)) >>> 0;
    if (step > 0 && step < 90_000 * 10) steps.push(step);
  }
  if (steps.length === 0) return Number.NaN;
  steps.sort((a, b) => a - b);
  return steps[Math.floor(steps.length / 2)] ?? Number.NaN;
}
