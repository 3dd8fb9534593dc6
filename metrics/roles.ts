import type { MetricKey } from './catalogue.js';

/** Which catalogue entries each role exposes on its /metrics. */
export const SIGNALING_METRICS = [
  'sessionsActive',
  'sessionsStarted',
  'sessionsEnded',
  'sessionSetupSeconds',
  'sessionConnectSeconds',
  'matchPickSeconds',
  'playerRttSeconds',
  'queueLength',
  'queueWaitSeconds',
  'hostsRegistered',
  'slotsTotal',
  'wsConnections',
  'wsMessagesRejected',
  'clusterLimitsDegraded',
  'checkerReports',
  'containerQualityScore',
  'athCharged',
  'athSettled',
  'athSlashed',
  'settlements',
  'settlementRetries',
  'settlementFailures',
  'settlementOldestUnsettledSeconds',
  'settlementLeader',
] as const satisfies readonly MetricKey[];

export const RENDER_HOST_METRICS = [
  'streamFramesPerSecond',
  'streamFramesSent',
  'streamFramesDropped',
  'encoderFrameSeconds',
  'streamBitrate',
  'streamPacketLoss',
  'streamPli',
  'streamNack',
  'hostSlots',
] as const satisfies readonly MetricKey[];

export const CHECKER_METRICS = [
  'checkerReports',
  'checkerProbeSeconds',
  'checkerProbeFps',
] as const satisfies readonly MetricKey[];

export type SignalingMetricKey = (typeof SIGNALING_METRICS)[number];
export type RenderHostMetricKey = (typeof RENDER_HOST_METRICS)[number];
export type CheckerMetricKey = (typeof CHECKER_METRICS)[number];
