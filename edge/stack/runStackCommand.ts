import { writeFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { buildClient } from '../../client/index.js';
import { prometheusFileSdTargets } from '../../metrics/index.js';
import type { EdgeConfig } from '../config/EdgeConfig.js';
import { type Stack, startStack } from './startStack.js';

/** `ath-edge all`: start everything, say where to play and where the logs are, stop cleanly on Ctrl-C. */
export async function runStackCommand({ config: loaded }: { config: EdgeConfig }): Promise<void> {
  // `npm start` is the demo of the whole product: its render host also offers every real game this machine
  // can run (SuperTux when Debian's package is installed). Set renderHost.apps to override.
  const config = { ...loaded, renderHost: { ...loaded.renderHost, apps: loaded.renderHost.apps ?? 'auto' } };
  const started = Date.now();
  console.log('ath-edge: starting the network on this machine');
  process.stdout.write('  ▸ client bundle … ');
  const { outDir } = await buildClient({});
  console.log('ok');
  let stack: Stack | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nath-edge: stopping …');
    await stack?.close();
    console.log('ath-edge: stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  let openStep: string | undefined;
  stack = await startStack({
    config,
    clientDir: outDir,
    // Some steps overlap (the chain, Redis and PostgreSQL start at once): a step that ends while another's line
    // is open says `ok` on a line of its own.
    onProgress: (step, state, detail) => {
      const ok = `ok${detail ? ` (${detail})` : ''}`;
      if (state === 'start') {
        if (openStep) process.stdout.write('\n');
        process.stdout.write(`  ▸ ${step} … `);
        openStep = step;
      } else if (openStep === step) {
        console.log(ok);
        openStep = undefined;
      } else {
        if (openStep) process.stdout.write('\n');
        console.log(`  ▸ ${step} … ${ok}`);
        openStep = undefined;
      }
    },
  });
  const signaling = stack.signaling.info;
  console.log(`\nReady in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
  console.log(`  Metrics:   ${signaling.metricsUrl}`);
  for (const other of stack.signalingServers.slice(1)) console.log(`             ${other.info.metricsUrl}`);
  for (const host of stack.renderHosts) console.log(`             ${host.info.metricsUrl}  (${host.info.hostId})`);
  for (const checker of stack.checkers) {
    console.log(`             ${checker.info.metricsUrl}  (${checker.info.name} ${checker.info.checkerAddress})`);
  }
  // The roles listen on free ports: Prometheus finds them through this file (metrics/prometheus.yml).
  const targetsFile = join(stack.config.dataDir, 'run', 'prometheus-targets.json');
  const endpoints = [
    ...stack.signalingServers.map((server) => ({ role: 'signaling' as const, metricsUrl: server.info.metricsUrl })),
    ...stack.renderHosts.map((host) => ({ role: 'render-host' as const, metricsUrl: host.info.metricsUrl })),
    ...stack.checkers.map((checker) => ({ role: 'checker' as const, metricsUrl: checker.info.metricsUrl })),
  ];
  writeFileSync(targetsFile, `${JSON.stringify(prometheusFileSdTargets(endpoints), null, 2)}\n`);
  console.log(`             Prometheus targets: ${targetsFile}`);
  const logs = relative(process.cwd(), stack.logDir);
  console.log(`  Logs:      ${logs && !logs.startsWith('..') && !isAbsolute(logs) ? logs : stack.logDir}/`);
  const tls = stack.config.tls;
  if (tls.certFile) {
    const selfSigned = tls.caFile === tls.certFile;
    console.log(
      `  TLS:       ${tls.certFile}${selfSigned ? ' (self-signed: the browser asks once per address; or trust this file)' : ''}`,
    );
  }
  console.log(`\nPlay at ${signaling.httpUrl}\n`);
  if (stack.signalingServers.length > 1) {
    const others = stack.signalingServers.slice(1).map((server) => server.info.httpUrl);
    console.log(
      `  (one network with ${others.join(', ')}, sharing ${stack.redis?.url ?? stack.config.signaling.redisUrl})\n`,
    );
  }
  console.log('Press Ctrl-C to stop.');
  const redundant = stack.signalingServers.length > 1;
  for (const role of [...stack.signalingServers, ...stack.renderHosts, ...stack.checkers]) {
    void role.exited.then((code) => {
      if (!stopping && redundant && stack?.signalingServers.includes(role as (typeof stack.signalingServers)[number])) {
        // One of several signaling servers: the others carry on (its players and hosts moved to them).
        console.error(`ath-edge: a signaling server exited (code ${code}); the others carry on`);
        return;
      }
      if (!stopping) {
        console.error(`ath-edge: ${role.role} exited unexpectedly (code ${code}); see ${stack?.logDir}`);
        void stop(1);
      }
    });
  }
}
