import type { Logger } from 'pino';
import type { LocalAccount } from 'viem';
import { createMetrics, type Metrics, RENDER_HOST_METRICS, type RenderHostMetricKey } from '../../metrics/index.js';
import type { GameInfoRecord, RegionInfo } from '../../signaling/protocol/index.js';
import type { TlsFiles } from '../../signaling/tls/tlsServerFactory.js';
import { TestHookSwitch, type TestHooks } from '../session/index.js';
import { RenderHost } from './RenderHost.js';
import type { SessionDriverFactory } from './SessionDriver.js';
import { startProbeServer } from './startProbeServer.js';

export type StartRenderHostParameters = {
  hostId: string;
  /** Signaling's `/ws/node`, or that of each server of one network (tried in turn on reconnects). */
  signalingNodeUrl: string | readonly string[];
  /** A PEM certificate to trust joining signaling over wss, beside the system's CAs (`tls.caFile`). */
  signalingCa?: string;
  /** Serve the probe endpoint over https/wss with this pair (players on an https page cannot probe ws://). */
  tls?: TlsFiles;
  provider: LocalAccount;
  bindHost: string;
  /** What players and checkers reach this host at, when it differs from bindHost (e.g. bound to 0.0.0.0). */
  publicHost?: string | undefined;
  probePort: number;
  region: RegionInfo;
  gpu: string;
  encoder: 'nvenc' | 'x264';
  slots: number;
  /** Probe sessions beyond `slots` (RenderHost); default 1. */
  probeReserve?: number;
  priceWeiPerSec: bigint;
  games: readonly GameInfoRecord[];
  sessions: SessionDriverFactory;
  heartbeatIntervalMs: number;
  probeDelayMs?: number;
  /**
   * Tests only: hooks that degrade this host (fps cap, delayed data-channel replies). Pass the same switch
   * to the session driver so live streams follow it.
   */
  testHooks?: TestHookSwitch;
  /** Serve `POST /test-hooks` so a running stack's host can be degraded at test time. Default false. */
  testHooksEndpoint?: boolean;
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
  /** Test hooks: degrade this host's streams (see render-host/session/TestHooks.ts). */
  setTestHooks(hooks: TestHooks): Promise<void>;
  readonly testHooks: TestHooks;
  close(): Promise<void>;
};

/** Starts a render host: its probe/metrics endpoint, then registers with signaling and serves slots. */
export async function startRenderHost(params: StartRenderHostParameters): Promise<RenderHostHandle> {
  const metrics = params.metrics ?? createMetrics({ keys: RENDER_HOST_METRICS });
  let probeDelayMs = params.probeDelayMs ?? 0;
  let host: RenderHost | undefined;
  const testHooks = params.testHooks ?? new TestHookSwitch();
  const probe = await startProbeServer({
    bindHost: params.bindHost,
    publicHost: params.publicHost,
    port: params.probePort,
    ...(params.tls ? { tls: params.tls } : {}),
    log: params.log,
    registry: metrics.registry,
    probeDelayMs: () => probeDelayMs,
    health: () => ({ registered: host?.registered ?? false, slots: params.slots, busySlots: host?.busySlots ?? 0 }),
    sessions: () => host?.slotsView() ?? [],
    ...(params.testHooksEndpoint ? { testHooks: { get: () => testHooks.current, set: (h) => testHooks.set(h) } } : {}),
  });
  host = new RenderHost({
    hostId: params.hostId,
    signalingNodeUrl: params.signalingNodeUrl,
    ...(params.signalingCa ? { signalingCa: params.signalingCa } : {}),
    provider: params.provider,
    region: params.region,
    gpu: params.gpu,
    encoder: params.encoder,
    slots: params.slots,
    ...(params.probeReserve !== undefined ? { probeReserve: params.probeReserve } : {}),
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
    setTestHooks: (hooks) => testHooks.set(hooks),
    get testHooks() {
      return testHooks.current;
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
