import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { createMetrics, RENDER_HOST_METRICS } from '../../metrics/index.js';
import {
  type ApplySchedulingPriorityReturnType,
  appGameInfo,
  applySchedulingPriority,
  BUILTIN_GAMES,
  createBuiltinSessionDriver,
  detectH264Encoder,
  SessionWorkerPool,
  selectServedApps,
  startRenderHost,
  TestHookSwitch,
} from '../../render-host/index.js';
import { fetchTrusting } from '../../signaling/link/trustedConnections.js';
import { AthError, boundHostId, weiFromString } from '../../signaling/protocol/index.js';
import type { EdgeConfig } from '../config/EdgeConfig.js';
import { renderHostIceOptions } from '../config/iceSettings.js';
import { resolveTlsFiles, trustedSignalingCa } from '../config/tlsSettings.js';
import { EdgeErrorCode } from '../errors.js';
import { loadOrCreateKey } from '../keys/loadOrCreateKey.js';
import type { RoleHandle } from './RoleHandle.js';

export type RenderHostInfo = {
  hostId: string;
  providerAddress: string;
  probeUrl: string;
  metricsUrl: string;
  httpUrl: string;
  slots: number;
};

export type RunRenderHostParameters = { config: EdgeConfig; log: Logger };

/** Sessions a host takes beyond its slots for checkers' probes when every slot is busy (signaling requires 1). */
const PROBE_RESERVE = 1;

function logSchedulingPriority(result: ApplySchedulingPriorityReturnType, wanted: number, log: Logger): void {
  if (result.applied) log.info({ nice: result.nice, threads: result.threads }, 'scheduling priority set');
  else {
    log.warn(
      { nice: result.nice, wanted, reason: result.reason },
      'could not set the scheduling priority (renderHost.nice): streams may drop frames when the machine is busy',
    );
  }
}

/** Reads the signaling server's WebSocket address from its HTTP API, so a host needs only one URL. */
async function signalingNodeUrl(httpUrl: string, ca: string | undefined): Promise<string> {
  const response = await fetchTrusting(new URL('/api/config', httpUrl), {}, ca).catch((cause: unknown) => {
    throw new AthError({
      code: EdgeErrorCode.signalingUnreachable,
      shortMessage: `signaling unreachable at ${httpUrl}`,
      cause,
    });
  });
  const body = (await response.json().catch(() => ({}))) as { wsNodeUrl?: unknown };
  if (!response.ok || typeof body.wsNodeUrl !== 'string') {
    throw new AthError({
      code: EdgeErrorCode.signalingAnswer,
      shortMessage: `${httpUrl} is not an ath-edge signaling server`,
    });
  }
  return body.wsNodeUrl;
}

/** `signaling.url` may name several servers of one network, comma-separated. */
export function signalingHttpUrls(value: string): string[] {
  return value
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url.length > 0);
}

/** The WebSocket URL of each signaling server that answers now (at least one must). */
export async function signalingNodeUrls(
  httpUrls: readonly string[],
  log: Logger,
  ca?: string | undefined,
): Promise<string[]> {
  const answers = await Promise.allSettled(httpUrls.map((url) => signalingNodeUrl(url, ca)));
  const urls = answers.flatMap((answer) => (answer.status === 'fulfilled' ? [answer.value] : []));
  const failed = answers.find((answer): answer is PromiseRejectedResult => answer.status === 'rejected');
  if (urls.length === 0 && failed) throw failed.reason;
  if (failed) log.warn({ err: failed.reason }, 'a signaling server did not answer; using the others');
  return urls;
}

export async function runRenderHost({ config, log }: RunRenderHostParameters): Promise<RoleHandle<RenderHostInfo>> {
  const settings = config.renderHost;
  // First, before any worker or pool thread exists: they inherit it.
  if (settings.nice !== 0) logSchedulingPriority(applySchedulingPriority(settings.nice), settings.nice, log);
  if (!config.signaling.url) {
    throw new AthError({ code: 'ATH_ERR_CONFIG', shortMessage: 'a render host needs --signaling http://HOST:PORT' });
  }
  const signalingUrls = signalingHttpUrls(config.signaling.url);
  const keyFile = join(config.dataDir, 'keys', settings.hostId ? `provider-${settings.hostId}.key` : 'provider.key');
  const provider = privateKeyToAccount((settings.providerKey as Hex | undefined) ?? loadOrCreateKey(keyFile));
  // The network binds the name to the provider's address (`boundHostId`): `host-<address digits>` by default.
  const hostId = settings.hostId ?? 'host';
  // External games only when asked for (renderHost.apps): checking and serving them is not free.
  const apps = settings.apps ? await selectServedApps({ apps: settings.apps, directory: settings.appsDir, log }) : [];
  const catalogue = [...BUILTIN_GAMES, ...apps.map(appGameInfo)];
  const games = settings.games ? catalogue.filter((game) => settings.games?.includes(game.id)) : catalogue;
  const metrics = createMetrics({ keys: RENDER_HOST_METRICS });
  const h264 = await detectH264Encoder(settings.encoder.prefer);
  if (h264.failures.length > 0) {
    const level = settings.encoder.prefer === 'nvenc' ? 'warn' : 'info';
    log[level]({ encoder: h264.name, failures: h264.failures.map((f) => f.error.message) }, 'H.264 encoder fallback');
  }
  const ice = renderHostIceOptions(config);
  const signalingCa = trustedSignalingCa(config);
  // With a certificate the probe endpoint is wss: players on an https page may not probe ws://.
  const tls = await resolveTlsFiles(config);
  // One booted worker per slot, reused session after session: the ≈1.5 s of CPU a worker's boot and warm-up cost
  // happens before Play, not beside a live session (render-host/session/SessionWorkerPool.ts). The probe
  // reserve's worker is booted by the first probe that needs it (every slot busy) and kept from then on: booting
  // it up front cost every host start — and a newcomer's first Play beside it — a boot for a probe that may never
  // come (e2e/nat's hosts took 18 s instead of 7 s to their first frame).
  const pool = new SessionWorkerPool({ size: settings.slots + PROBE_RESERVE, bootedAhead: settings.slots, log });
  // Tests only: hooks that degrade this host on purpose (render-host/session/TestHooks.ts).
  const { adminEndpoint, ...initialHooks } = settings.testHooks;
  const testHooks = new TestHookSwitch(initialHooks);
  const handle = await startRenderHost({
    metrics,
    hostId,
    signalingNodeUrl: await signalingNodeUrls(signalingUrls, log, signalingCa),
    ...(signalingCa ? { signalingCa } : {}),
    ...(tls ? { tls: { certFile: tls.certFile, keyFile: tls.keyFile } } : {}),
    provider,
    bindHost: config.bindHost,
    publicHost: settings.publicHost,
    probePort: settings.probePort,
    region: settings.region,
    gpu: settings.gpu ?? (h264.name === 'h264_nvenc' ? 'NVIDIA (NVENC)' : 'software (no GPU)'),
    // What sessions here will actually encode with: NVENC only where it opened (else its libx264 fallback).
    encoder: h264.name === 'h264_nvenc' ? 'nvenc' : 'x264',
    slots: settings.slots,
    probeReserve: PROBE_RESERVE,
    priceWeiPerSec: weiFromString(settings.priceWeiPerSec),
    games,
    sessions: createBuiltinSessionDriver({
      encoder: settings.encoder,
      ice,
      metrics,
      log,
      pool,
      testHooks,
      realtimePriority: settings.sessionRealtimePriority,
      ...(apps.length > 0 ? { apps: { catalogue: apps } } : {}),
    }),
    heartbeatIntervalMs: settings.heartbeatIntervalMs,
    probeDelayMs: settings.probeDelayMs,
    testHooks,
    testHooksEndpoint: adminEndpoint,
    log,
  });
  return {
    info: {
      hostId: boundHostId(hostId, provider.address),
      providerAddress: provider.address,
      probeUrl: handle.probeUrl,
      metricsUrl: handle.metricsUrl,
      httpUrl: handle.httpUrl,
      slots: settings.slots,
    },
    close: async () => {
      await handle.close();
      await pool.close();
    },
  };
}
