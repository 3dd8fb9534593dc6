/**
 * A running checker: reads signaling's /api/config (node WebSocket URL and the CheckReport EIP-712 domain),
 * starts the CheckerNode, and serves `/metrics` (prom-client) and `/healthz` on a small HTTP server.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { LocalAccount } from 'viem';
import { CHECKER_METRICS, type CheckerMetricKey, createMetrics, type Metrics } from '../../metrics/index.js';
import { fetchTrusting } from '../../signaling/link/trustedConnections.js';
import { AthError } from '../../signaling/protocol/index.js';
import { EdgeErrorCode } from '../errors.js';
import { CheckerNode } from './CheckerNode.js';
import { CheckerErrorCode } from './errors.js';
import type { ProbeThresholds } from './judgeProbe.js';
import type { ProbeIceOptions, ProbeWindowOptions } from './ProbeReceiver.js';
import type { CheckerDomain } from './signCheckReport.js';

export type StartCheckerParameters = {
  account: LocalAccount;
  /** Signaling's HTTP base URL (the checker reads /api/config there). */
  signalingUrl: string;
  /** A PEM certificate to trust for https/wss to signaling beside the system's CAs (`tls.caFile`). */
  signalingCa?: string;
  bindHost: string;
  /** Port of /metrics and /healthz (0 = any free port). */
  metricsPort: number;
  thresholds?: ProbeThresholds;
  window?: ProbeWindowOptions;
  /** Test only: report the opposite of what was measured. */
  lie?: boolean;
  /** This checker's own ICE settings (port range, STUN); each probe adds the servers signaling issued for it. */
  ice?: ProbeIceOptions;
  log: Logger;
  metrics?: Metrics<CheckerMetricKey>;
};

export type CheckerHandle = {
  readonly node: CheckerNode;
  readonly address: `0x${string}`;
  readonly httpUrl: string;
  readonly metricsUrl: string;
  readonly healthUrl: string;
  readonly metrics: Metrics<CheckerMetricKey>;
  close(): Promise<void>;
};

type SignalingConfig = { wsNodeUrl: string; checkerDomain: CheckerDomain };

/** What a checker needs from signaling before it connects. */
export async function readSignalingConfig(httpUrl: string, ca?: string): Promise<SignalingConfig> {
  const response = await fetchTrusting(new URL('/api/config', httpUrl), {}, ca).catch((cause: unknown) => {
    throw new AthError({
      code: EdgeErrorCode.signalingUnreachable,
      shortMessage: `signaling unreachable at ${httpUrl}`,
      cause,
    });
  });
  const body = (await response.json().catch(() => ({}))) as {
    wsNodeUrl?: unknown;
    checkerDomain?: { chainId?: unknown; verifyingContract?: unknown };
  };
  const domain = body.checkerDomain;
  if (
    !response.ok ||
    typeof body.wsNodeUrl !== 'string' ||
    typeof domain?.chainId !== 'number' ||
    typeof domain.verifyingContract !== 'string' ||
    !/^0x[0-9a-fA-F]{40}$/.test(domain.verifyingContract)
  ) {
    throw new AthError({
      code: CheckerErrorCode.registration,
      shortMessage: `${httpUrl} is not an ath-edge signaling server with checkers`,
    });
  }
  return {
    wsNodeUrl: body.wsNodeUrl,
    checkerDomain: { chainId: domain.chainId, verifyingContract: domain.verifyingContract as `0x${string}` },
  };
}

export async function startChecker(params: StartCheckerParameters): Promise<CheckerHandle> {
  const metrics = params.metrics ?? createMetrics({ keys: CHECKER_METRICS });
  // Several servers of one network, comma-separated: the checker moves to the next when one goes down.
  const answers = await Promise.allSettled(
    params.signalingUrl
      .split(',')
      .map((url) => url.trim())
      .filter((url) => url.length > 0)
      .map((url) => readSignalingConfig(url, params.signalingCa)),
  );
  const servers = answers.flatMap((answer) => (answer.status === 'fulfilled' ? [answer.value] : []));
  const signaling = servers[0];
  if (!signaling) {
    const failed = answers.find((answer): answer is PromiseRejectedResult => answer.status === 'rejected');
    throw (
      failed?.reason ?? new AthError({ code: EdgeErrorCode.signalingUnreachable, shortMessage: 'no signaling URL' })
    );
  }
  const node = new CheckerNode({
    account: params.account,
    signalingNodeUrl: servers.map((server) => server.wsNodeUrl),
    ...(params.signalingCa ? { signalingCa: params.signalingCa } : {}),
    domain: signaling.checkerDomain,
    ...(params.thresholds ? { thresholds: params.thresholds } : {}),
    ...(params.window ? { window: params.window } : {}),
    ...(params.lie ? { lie: true } : {}),
    ...(params.ice ? { ice: params.ice } : {}),
    log: params.log,
    metrics,
  });
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    } else if (req.method === 'GET' && path === '/healthz') {
      const healthy = node.registered;
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          ok: healthy,
          checker: node.address,
          registered: node.registered,
          activeProbes: node.activeProbes,
          ...node.counts,
        }),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await listen(server, params.bindHost, params.metricsPort);
  const port = (server.address() as AddressInfo).port;
  const httpUrl = `http://${params.bindHost.includes(':') ? `[${params.bindHost}]` : params.bindHost}:${port}`;
  try {
    await node.start();
  } catch (error) {
    await node.close();
    await closeServer(server);
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    node,
    address: node.address,
    httpUrl,
    metricsUrl: `${httpUrl}/metrics`,
    healthUrl: `${httpUrl}/healthz`,
    metrics,
    close: () => {
      closing ??= (async () => {
        await node.close();
        await closeServer(server);
      })();
      return closing;
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
