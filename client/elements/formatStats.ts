/** The stats overlay's lines, from one sample (pure, so it is tested without a browser). */
import type { StatsSample } from '../sdk/index.js';

function ms(value: number | undefined, digits = 1): string {
  return value === undefined ? '–' : `${value.toFixed(digits)} ms`;
}

function bitrate(bps: number | undefined): string {
  if (bps === undefined) return '–';
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(2)} Mbit/s` : `${(bps / 1e3).toFixed(0)} kbit/s`;
}

function routeText(route: NonNullable<StatsSample['route']>): string {
  const relayed = route.localCandidateType === 'relay' || route.remoteCandidateType === 'relay';
  const via = route.localCandidateType === 'relay' ? ` via TURN/${route.relayProtocol ?? '?'}` : '';
  return `${relayed ? 'relayed' : 'direct'} (${route.localCandidateType ?? '?'} → ${route.remoteCandidateType ?? '?'})${via}`;
}

export function formatStats(sample: StatsSample | undefined): string[] {
  if (!sample) return ['waiting for stats…'];
  const resolution = sample.width && sample.height ? `${sample.width}×${sample.height}` : '–';
  const loss = sample.packetLossPct === undefined ? '' : ` (${sample.packetLossPct.toFixed(1)} %)`;
  return [
    `RTT           ${ms(sample.rttMs)}${sample.iceRttMs === undefined ? '' : `  (ICE ${ms(sample.iceRttMs)})`}`,
    `decoded fps   ${sample.fps === undefined ? '–' : sample.fps.toFixed(1)}`,
    `resolution    ${resolution}  ${sample.codec ?? ''}${sample.hostEncoder ? ` (${sample.hostEncoder})` : ''}`.trimEnd(),
    `bitrate       ${bitrate(sample.bitrateBps)}`,
    `packet loss   ${sample.packetsLost}${loss}`,
    `jitter buffer ${ms(sample.jitterBufferMs)}   decode ${ms(sample.decodeMs)}`,
    `glass→glass   ≈ ${ms(sample.glassToGlassMs, 0)} (estimate)`,
    ...(sample.inputToPhotonMs === undefined ? [] : [`input→photon  ${ms(sample.inputToPhotonMs, 0)} (measured)`]),
    ...(sample.route ? [`path          ${routeText(sample.route)}`] : []),
  ];
}
