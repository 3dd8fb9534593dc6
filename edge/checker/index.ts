// Checker nodes: probe containers over their own WebRTC peer, judge them, sign CheckReports for signaling.
export { CheckerNode, type CheckerNodeParameters, type SentCheckReport } from './CheckerNode.js';
export { CheckerErrorCode } from './errors.js';
export {
  DEFAULT_PROBE_THRESHOLDS,
  judgeProbe,
  type ProbeJudgement,
  type ProbeMeasurement,
  type ProbeThresholds,
} from './judgeProbe.js';
export { DEFAULT_PROBE_WINDOW, ProbeReceiver, type ProbeWindowOptions } from './ProbeReceiver.js';
export { median, type RtpProbeSnapshot, RtpProbeStats } from './RtpProbeStats.js';
export { type CheckerDomain, signCheckReport } from './signCheckReport.js';
export { type CheckerHandle, readSignalingConfig, type StartCheckerParameters, startChecker } from './startChecker.js';
