import type { Logger } from 'pino';
import type { LocalAccount } from 'viem';
import { createMetrics, type Metrics, RENDER_HOST_METRICS, type RenderHostMetricKey } from '../../metrics/index.js';
import type { GameInfoRecord, RegionInfo } from '../../signaling/protocol/index.js';
import { RenderHost } from './RenderHost.js';
import type { SessionDriverFactory } from './SessionDriver.js';
import { startProbeServer } from './startProbeServer.js';

export type StartRenderHostParameters = {
  hostId: string;
  signalingNodeUrl: string;
  provider: LocalAccount;
  bindHost: string;
  probePort: number;
  region: RegionInfo;
  gpu: string;
  encoder: 'nvenc' | 'x264';
  slots: number;
  priceWeiPerSec: bigint;
  games: readonly GameInfoRecord[];
  sessions: SessionDriverFactory;
  heartbeatIntervalMs: number;
  probeDelayMs?: number;
  log: Logger;
  metrics?: Metrics<RenderHostMetricKey>;
};

export type RenderHostHandle = {
  readonly host: RenderHost;
  readonly probeUrl: string;
  readonly metricsUrl: string;
  readonly httpUrl: string;
  readonly metrics: Metrics<RenderHostMetricKey>;
  /** Test hook: change the delay added to probe echoes. */
  setProbeDelayMs(ms: number): void;
  close(): Promise<void>;
};

/** Starts a render host: its probe/metrics endpoint, then registers with signaling and serves slots. */
export async function startRenderHost(params: StartRenderHostParameters): Promise<RenderHostHandle> {
  const metrics = params.metrics ?? createMetrics({ keys: RENDER_HOST_METRICS });
  let probeDelayMs = params.probeDelayMs ?? 0;
  let host: RenderHost | undefined;
  const probe = await startProbeServer({
    bindHost: params.bindHost,
    port: params.probePort,
    log: params.log,
    registry: metrics.registry,
    probeDelayMs: () => probeDelayMs,
    health: () => ({ registered: host?.registered ?? false, slots: params.slots, busySlots: host?.busySlots ?? 0 }),
    sessions: () => host?.slotsView() ?? [],
  });
  host = new RenderHost({
    hostId: params.hostId,
    signalingNodeUrl: params.signalingNodeUrl,
    provider: params.provider,
    region: params.region,
    gpu: params.gpu,
    encoder: params.encoder,
    slots: params.slots,
    priceWeiPerSec: params.priceWeiPerSec,
    games: params.games,
    endpoints: { probeUrl: probe.probeUrl, metricsUrl: `${probe.url}/metrics` },
    heartbeatIntervalMs: params.heartbeatIntervalMs,
    sessions: params.sessions,
    metrics,
    log: params.log,
  });
  try {
    await host.start();
  } catch (error) {
    await host.close();
    await probe.close();
    throw error;
  }
  const running = host;
  let closing: Promise<void> | undefined;
  return {
    host: running,
    probeUrl: probe.probeUrl,
    metricsUrl: `${probe.url}/metrics`,
    httpUrl: probe.url,
    metrics,
    setProbeDelayMs: (ms) => {
      probeDelayMs = ms;
    },
    close: () => {
      closing ??= (async () => {
        await running.close();
        await probe.close();
      })();
      return closing;
    },
  };
}
