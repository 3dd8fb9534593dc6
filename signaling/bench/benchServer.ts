/**
 * A signaling process under load for `bench:indexer`: the chosen transport, a secret the bench shares so it
 * can mint player tokens, the bench's chain (hosts must be staked), its admission limits (`on`: the product's
 * limits raised to let one address open the bench's thousands of sockets, so their cost is measured; `off`: no
 * limits at all), optionally one instance of a network on a Redis. Prints one JSON line with its URLs, then
 * serves until the bench is gone.
 *
 * It never outlives the bench: stdin is a pipe from the bench (it closes when the bench exits, however it
 * exits, even on SIGKILL), the parent pid is watched as well, and SIGTERM/SIGINT end it. Each of these exits
 * at once (no graceful close: see `exitNow`).
 *
 *   benchServer.ts --transport uws|fastify-ws --secret HEX --chain JSON --limits on|off
 *                  [--redis URL --instance ID --prefix P --relay-publisher on|off] [--uws-pings spread|native]
 *                                                  (--chain: BenchServerOptions without `limits`)
 *                  [--cpu-prof-dir DIR]  (a CPU profile of the measured window, `reset` … `stats`, written there)
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createChainClients } from '../../edge/chain/index.js';
import { ChainStakeGate } from '../../edge/economy/ChainStakeGate.js';
import { DEFAULT_ADMISSION_SETTINGS } from '../admission/AdmissionSettings.js';
import { DEFAULT_SIGNALING_SETTINGS } from '../SignalingSettings.js';
import { startSignaling } from '../startSignaling.js';
import { RedisSignalingStore } from '../store/redis/RedisSignalingStore.js';
import { type BenchServerOptions, benchAdmission } from './benchLimits.js';

const parentPid = process.ppid;
/**
 * Ends at once, without a graceful close: closing 10,000 sockets one by one (each ending its session, each
 * ending written to Redis) kept a loaded machine's server busy for over a minute after the bench, its exit
 * timer starved behind the closes. A bench server's state is its run's alone (Redis keys under the run's
 * prefix), so nothing is lost.
 */
function exitNow(): void {
  process.exit(0);
}
// Watch the parent before anything slow happens (loading, connecting to Redis).
process.stdin.on('end', exitNow);
process.stdin.on('error', exitNow);
process.stdin.resume();
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, exitNow);
setInterval(() => {
  if (process.ppid !== parentPid) exitNow();
}, 500).unref();

const { values } = parseArgs({
  options: {
    transport: { type: 'string', default: 'uws' },
    secret: { type: 'string', default: '' },
    chain: { type: 'string', default: '{}' },
    limits: { type: 'string', default: 'on' },
    redis: { type: 'string' },
    instance: { type: 'string' },
    prefix: { type: 'string' },
    'relay-publisher': { type: 'string', default: 'on' },
    'uws-pings': { type: 'string', default: 'spread' },
    'cpu-prof-dir': { type: 'string' },
  },
});
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const chain = JSON.parse(values.chain ?? '{}') as Omit<BenchServerOptions, 'limits'>;
const stakes = new ChainStakeGate({
  publicClient: createChainClients({ network: 'anvil', chainId: chain.chainId, rpcUrl: chain.rpcUrl }).publicClient,
  stakingAddress: chain.stakingAddress,
  log,
});
const store = values.redis
  ? await RedisSignalingStore.open({
      url: values.redis,
      log,
      ...(values.instance ? { instanceId: values.instance } : {}),
      ...(values.prefix ? { prefix: values.prefix } : {}),
      relayPublisher: values['relay-publisher'] !== 'off',
    })
  : undefined;
const server = await startSignaling({
  transport: values.transport === 'fastify-ws' ? 'fastify-ws' : 'uws',
  uwsPings: values['uws-pings'] === 'native' ? 'native' : 'spread',
  settings: {
    ...DEFAULT_SIGNALING_SETTINGS,
    tokenSecret: Buffer.from(values.secret ?? '', 'hex'),
    // The bench's scripted hosts do not heartbeat on the product's schedule.
    heartbeatIntervalMs: 600_000,
    // One staked bench provider serves every bench host.
    stake: { ...DEFAULT_SIGNALING_SETTINGS.stake, hostTiers: { 'nvidia-datacenter': { maxSlots: 1_000_000 } } },
    admission: benchAdmission(values.limits === 'off' ? 'off' : 'on', DEFAULT_ADMISSION_SETTINGS),
  },
  stakes,
  log,
  ...(store ? { store } : {}),
});

console.log(JSON.stringify({ wsPlayerUrl: server.wsPlayerUrl, wsNodeUrl: server.wsNodeUrl, pid: process.pid }));

// How late this process's event loop ran over the bench's measured window (`reset` … `stats` on stdin): what
// the server itself added to a relay's latency by being busy, apart from the machine's scheduling; and the GC
// pauses inside the window (count, longest, total).
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
let gcPauses: number[] = [];
let gcMajor: number[] = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcPauses.push(entry.duration);
    const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcMajor.push(entry.duration);
  }
}).observe({ entryTypes: ['gc'] });
let cpuAtReset = process.cpuUsage();
const profiler = values['cpu-prof-dir'] ? new Session() : undefined;
profiler?.connect();
for await (const line of createInterface({ input: process.stdin })) {
  const word = line.trim();
  if (word === 'reset') {
    loopDelay.reset();
    gcPauses = [];
    gcMajor = [];
    cpuAtReset = process.cpuUsage();
    if (profiler) {
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    }
  } else if (word === 'stats') {
    const cpu = process.cpuUsage(cpuAtReset);
    if (profiler && values['cpu-prof-dir']) {
      const { profile } = await profiler.post('Profiler.stop');
      const name = `server-${values.instance ?? 'memory'}-${process.pid}.cpuprofile`;
      await writeFile(join(values['cpu-prof-dir'], name), JSON.stringify(profile));
    }
    console.log(
      JSON.stringify({
        eventLoopDelayMsP99: Math.round(loopDelay.percentile(99) / 1e4) / 100,
        eventLoopDelayMsMax: Math.round(loopDelay.max / 1e4) / 100,
        gcPauses: gcPauses.length,
        gcPauseMsMax: Math.round(Math.max(0, ...gcPauses) * 100) / 100,
        gcPauseMsTotal: Math.round(gcPauses.reduce((a, b) => a + b, 0) * 100) / 100,
        gcMajorPauses: gcMajor.length,
        gcMajorPauseMsMax: Math.round(Math.max(0, ...gcMajor) * 100) / 100,
        heapUsedMb: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
        cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      }),
    );
  }
}
