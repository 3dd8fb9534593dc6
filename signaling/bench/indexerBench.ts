/**
 * `npm run bench:indexer` — how the indexer holds up at scale, on loopback, bounded, stopping by itself.
 * Every figure is measured twice where it can differ: with the embedded in-memory store (one signaling
 * process) and with the shared Redis store (a network of signaling processes), so the price of sharing
 * shows as a ratio.
 *
 *  1. Pick latency at 100,000 hosts over 50 regions: the real hub path (`play` parsed, the player's time
 *     zone locating it, the nearest places ranked, a slot leased), in-process. `pickUs*` is the ranking the
 *     hub times (`decision.pickMicros`); `leaseUs*` is `play` → `session` (with Redis: the Lua lease too).
 *  2. Queue change cost: one slot, 1,000 / 10,000 / 1,000 / 10,000 players waiting in one line (medians of
 *     300 changes per size, see queueBench); the time one more joining and one
 *     leaving takes (O(log n): flat across the two sizes).
 *  3. Sockets and relay: scripted hosts and players speaking the real protocol over real WebSockets, leased
 *     players sending ICE their hosts receive, latency send → receive on the system's monotonic clock. Hosts
 *     run in this process, players in load-generator processes (benchPlayers.ts) of 5,000 each. Once with one
 *     signaling process (in memory), once with two processes on a redis-server where every host is on one and
 *     every player on the other, so that every relayed message crosses instances through Redis. Hosts register
 *     for real: a staked provider on a bench anvil chain. Admission control is on, its caps raised for one
 *     address opening the bench's sockets; the one-instance run is repeated with no limits (`limitsOverheadPct`,
 *     on the relay p99) and on fastify-ws (`…FastifyWs`) unless --skip-compare. The socket runs come first (the
 *     two-instance one first of all), so that this process — the hosts' end — holds no other phase's heap.
 *     Each load generator sends its share evenly from a random phase (`relayPacing: even`), as independent
 *     players do; `--pacing burst` sends as the generators did before (5 back to back every 10 ms each, the
 *     generators in step), where a message also waits behind the up to 19 others sent in its millisecond.
 *     The load generators run as the machine's idle work (`SCHED_IDLE` through `chrt`, `nice 19` where there is
 *     no chrt; `generatorPriority`): they stand for 20,000 players' own machines, and on a 2-core box their CPU
 *     would otherwise be the servers' scheduling delay — a server woken by a relay waited behind a generator's
 *     time slice, which is the bench's cost, not the network's. `--generator-priority normal` measures that too.
 *
 * Child processes (signaling servers, load generators, redis-server, anvil) end with the bench, however it
 * ends, SIGKILL included: their stdin is a pipe from it; redis-server and anvil run under a keeper shell.
 *
 * Flags: --hosts N (100000) --sockets N (20000, split over the instances) --single-sockets N (10000)
 * --seconds N (5) --rate N (relayed messages per second, 2000) --instances 1|2 (2) --pick-only --sockets-only
 * --skip-compare --skip-single (no one-instance socket runs: the two-instance figures alone)
 * --server-cpu-prof DIR (the signaling processes write CPU profiles of the measured relay window there)
 * --pacing even|burst (even) --generator-priority idle|normal (idle)
 * --relay-publisher on|off (on: the servers' direct messages through RelayPublisher, the product's default)
 * --uws-pings spread|native (the servers' keep-alive pings; `uwsPings`)
 * --server-semi-space MB (the signaling processes' V8 young generation: --max-semi-space-size; `serverSemiSpaceMb`)
 * --stages (two instances: a Redis tap on the host instance's channel splits each relay into send → Redis and
 * Redis → host; `relayStagesRedis`).
 * The last line printed is one JSON object.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import WebSocket from 'ws';
import { startTestChain, type TestChain } from '../../edge/chain/testing/startTestChain.js';
import { ChainStakeGate } from '../../edge/economy/ChainStakeGate.js';
import { createMetrics, SIGNALING_METRICS } from '../../metrics/index.js';
import { DEFAULT_ADMISSION_SETTINGS } from '../admission/AdmissionSettings.js';
import { SignalingHub } from '../hub/SignalingHub.js';
import {
  boundHostId,
  hostRegistrationMessage,
  PROTOCOL_VERSION,
  type ServerMessage,
  WS_SUBPROTOCOL,
} from '../protocol/index.js';
import { DEFAULT_SIGNALING_SETTINGS } from '../SignalingSettings.js';
import { RedisSignalingStore } from '../store/redis/RedisSignalingStore.js';
import { type RedisServer, startRedisServer } from '../store/redis/startRedisServer.js';
import type { SignalingStore } from '../store/SignalingStore.js';
import { loadUws } from '../ws/loadUws.js';
import { type BenchLimits, type BenchServerOptions, benchAdmission } from './benchLimits.js';
import { machineInfo, percentile, round } from './machine.js';

const { values: flags } = parseArgs({
  options: {
    hosts: { type: 'string', default: '100000' },
    sockets: { type: 'string', default: '20000' },
    'single-sockets': { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '5' },
    rate: { type: 'string', default: '2000' },
    instances: { type: 'string', default: '2' },
    'pick-only': { type: 'boolean', default: false },
    'sockets-only': { type: 'boolean', default: false },
    'skip-compare': { type: 'boolean', default: false },
    'skip-single': { type: 'boolean', default: false },
    'server-cpu-prof': { type: 'string' },
    stages: { type: 'boolean', default: false },
    pacing: { type: 'string', default: 'even' },
    'generator-priority': { type: 'string', default: 'idle' },
    'relay-publisher': { type: 'string', default: 'on' },
    'server-semi-space': { type: 'string' },
    'uws-pings': { type: 'string', default: 'spread' },
  },
});
const positive = (value: string | undefined, fallback: number) => {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
};
const HOSTS = positive(flags.hosts, 100_000);
const SOCKETS = positive(flags.sockets, 20_000);
const SINGLE_SOCKETS = positive(flags['single-sockets'], 10_000);
const SECONDS = positive(flags.seconds, 5);
const RATE = positive(flags.rate, 2_000);
const INSTANCES = positive(flags.instances, 2) >= 2 ? 2 : 1;
const PACING = flags.pacing === 'burst' ? 'burst' : 'even';
const GENERATORS_IDLE = flags['generator-priority'] !== 'normal';
const RELAY_PUBLISHER = flags['relay-publisher'] !== 'off';
const UWS_PINGS = flags['uws-pings'] === 'native' ? 'native' : 'spread';
/** V8's young generation (each semi-space, MB) of the signaling processes; V8's default when absent. */
const SERVER_SEMI_SPACE_MB = flags['server-semi-space'] ? positive(flags['server-semi-space'], 16) : undefined;

/** 50 metro regions (approximate coordinates) with a time zone a browser there reports. */
const REGIONS: Array<[country: string, lat: number, lon: number, timeZone: string]> = [
  ['DE', 50.11, 8.68, 'Europe/Berlin'],
  ['GB', 51.51, -0.13, 'Europe/London'],
  ['FR', 48.86, 2.35, 'Europe/Paris'],
  ['NL', 52.37, 4.9, 'Europe/Amsterdam'],
  ['ES', 40.42, -3.7, 'Europe/Madrid'],
  ['IT', 45.46, 9.19, 'Europe/Rome'],
  ['PL', 52.23, 21.01, 'Europe/Warsaw'],
  ['SE', 59.33, 18.07, 'Europe/Stockholm'],
  ['RU', 55.76, 37.62, 'Europe/Moscow'],
  ['TR', 41.01, 28.98, 'Europe/Istanbul'],
  ['AE', 25.2, 55.27, 'Asia/Dubai'],
  ['IN', 19.08, 72.88, 'Asia/Kolkata'],
  ['IN', 28.61, 77.21, 'Asia/Kolkata'],
  ['IN', 12.97, 77.59, 'Asia/Kolkata'],
  ['SG', 1.35, 103.82, 'Asia/Singapore'],
  ['ID', -6.21, 106.85, 'Asia/Jakarta'],
  ['HK', 22.32, 114.17, 'Asia/Hong_Kong'],
  ['CN', 31.23, 121.47, 'Asia/Shanghai'],
  ['CN', 39.9, 116.41, 'Asia/Shanghai'],
  ['KR', 37.57, 126.98, 'Asia/Seoul'],
  ['JP', 35.68, 139.69, 'Asia/Tokyo'],
  ['JP', 34.69, 135.5, 'Asia/Tokyo'],
  ['AU', -33.87, 151.21, 'Australia/Sydney'],
  ['AU', -37.81, 144.96, 'Australia/Melbourne'],
  ['NZ', -36.85, 174.76, 'Pacific/Auckland'],
  ['US', 34.05, -118.24, 'America/Los_Angeles'],
  ['US', 37.77, -122.42, 'America/Los_Angeles'],
  ['US', 47.61, -122.33, 'America/Los_Angeles'],
  ['US', 39.74, -104.99, 'America/Denver'],
  ['US', 32.78, -96.8, 'America/Chicago'],
  ['US', 41.88, -87.63, 'America/Chicago'],
  ['CA', 43.65, -79.38, 'America/Toronto'],
  ['CA', 45.5, -73.57, 'America/Toronto'],
  ['US', 40.71, -74.01, 'America/New_York'],
  ['US', 38.91, -77.04, 'America/New_York'],
  ['US', 33.75, -84.39, 'America/New_York'],
  ['US', 25.76, -80.19, 'America/New_York'],
  ['MX', 19.43, -99.13, 'America/Mexico_City'],
  ['CO', 4.71, -74.07, 'America/Bogota'],
  ['PE', -12.05, -77.04, 'America/Lima'],
  ['BR', -23.55, -46.63, 'America/Sao_Paulo'],
  ['AR', -34.6, -58.38, 'America/Argentina/Buenos_Aires'],
  ['CL', -33.45, -70.67, 'America/Santiago'],
  ['ZA', -26.2, 28.05, 'Africa/Johannesburg'],
  ['NG', 6.52, 3.38, 'Africa/Lagos'],
  ['KE', -1.29, 36.82, 'Africa/Nairobi'],
  ['EG', 30.04, 31.24, 'Africa/Cairo'],
  ['IL', 32.09, 34.78, 'Asia/Jerusalem'],
  ['SA', 24.71, 46.68, 'Asia/Riyadh'],
  ['PH', 14.6, 120.98, 'Asia/Manila'],
];
const GAME = {
  id: 'bench-game',
  title: 'Bench',
  description: '',
  width: 1280,
  height: 720,
  fps: 60,
  inputMode: 'absolute' as const,
  audio: false,
};
const PROVIDER = `0x${'11'.repeat(20)}` as const;
const ENDPOINTS = { probeUrl: 'ws://127.0.0.1:1/probe', metricsUrl: 'http://127.0.0.1:1/metrics' };

const benchStartedMs = Date.now();
function progress(line: string): void {
  process.stderr.write(`bench:indexer +${Math.round((Date.now() - benchStartedMs) / 1000)}s ${line}\n`);
}

const cleanups: Array<() => Promise<void> | void> = [];
async function cleanup(): Promise<void> {
  for (const close of cleanups.splice(0).reverse()) await Promise.resolve(close()).catch(() => undefined);
}

// ---- in-process hubs ---------------------------------------------------------------------------------------

type Bench = 'memory' | 'redis';

async function openStore(kind: Bench, redis: RedisServer | undefined): Promise<SignalingStore | undefined> {
  if (kind === 'memory' || !redis) return undefined;
  return RedisSignalingStore.open({
    url: redis.url,
    log: pino({ level: 'silent' }),
    prefix: `bench${randomBytes(3).toString('hex')}:`,
    instanceId: 'bench',
  });
}

function newHub(store: SignalingStore | undefined, probeSamples = 0): SignalingHub {
  const stakes = new ChainStakeGate({
    publicClient: run.chain.publicClient,
    stakingAddress: run.chain.stakingAddress,
    log: pino({ level: 'silent' }),
  });
  cleanups.push(() => stakes.close());
  return new SignalingHub({
    stakes,
    settings: {
      ...DEFAULT_SIGNALING_SETTINGS,
      tokenSecret: randomBytes(32),
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: probeSamples },
      heartbeatIntervalMs: 600_000,
      // Every bench player comes from one address: the product's limits, raised for that (as the servers').
      admission: benchAdmission('on', DEFAULT_ADMISSION_SETTINGS),
    },
    log: pino({ level: 'silent' }),
    metrics: createMetrics({ keys: SIGNALING_METRICS, defaultMetrics: false }),
    ...(store ? { store } : {}),
  });
}

/** A player attached to an in-process hub: what the hub sends it is kept. */
function attachPlayer(hub: SignalingHub, n: number, onMessage: (message: ServerMessage) => void): string {
  const peerId = `peer-player-${n.toString(16)}`;
  hub.attach(
    { id: peerId, send: onMessage, close: () => {} },
    { kind: 'player', playerId: `p-${n.toString(16).padStart(24, '0')}`, remoteIp: '127.0.0.1' },
  );
  hub.receive(peerId, JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' }));
  return peerId;
}

/** The first message of one of these types (or an error) the player got, waiting for it if need be. */
function nextMessage(peerId: string, types: ReadonlyArray<ServerMessage['type']>, inbox: ServerMessage[]) {
  return new Promise<ServerMessage>((resolve, reject) => {
    const started = Date.now();
    const look = () => {
      const found = inbox.find((m) => types.includes(m.type) || m.type === 'error');
      if (found) resolve(found);
      else if (Date.now() - started > 10_000) reject(new Error(`${peerId}: no ${types.join('/')}`));
      else setImmediate(look);
    };
    look();
  });
}

async function pickBench(kind: Bench, redis: RedisServer | undefined) {
  const store = await openStore(kind, redis);
  const hub = newHub(store);
  const startedMs = Date.now();
  for (let i = 0; i < HOSTS; i++) {
    const [country, lat, lon] = REGIONS[i % REGIONS.length] ?? REGIONS[0] ?? ['DE', 0, 0];
    const peerId = `peer-host-${i.toString(16)}`;
    hub.attach({ id: peerId, send: () => {}, close: () => {} }, { kind: 'node', remoteIp: '127.0.0.1' });
    // Registration's signature check is a one-time cost per host and not part of a pick: register directly.
    const host = hub.hosts.register({
      peerId,
      nowMs: Date.now(),
      message: {
        type: 'register',
        hostId: `bench-host-${i}`,
        providerAddress: PROVIDER,
        signature: `0x${'00'.repeat(65)}`,
        region: { country, lat: lat + ((i * 7) % 11) / 1000, lon: lon + ((i * 13) % 11) / 1000 },
        gpu: 'bench',
        encoder: 'x264',
        games: [GAME],
        slots: 2,
        probeReserve: 1,
        priceWeiPerSec: String(1_000_000n + BigInt(i % 97) * 1000n),
        endpoints: ENDPOINTS,
      },
    });
    hub.hosts.update(host.hostId, { qualityScore: 0.3 + (i % 7) / 10 });
    hub.hosts.heartbeat(host.hostId, (i % 13) / 13, Date.now());
    hub.hosts.setStake(host.hostId, BigInt(i % 5) * 10n ** 18n);
    if (kind === 'redis' && i % 2_000 === 1_999) await new Promise((resolve) => setImmediate(resolve));
  }
  const registerSec = (Date.now() - startedMs) / 1000;
  if (store instanceof RedisSignalingStore) await settleRedis(store);
  const picks: number[] = [];
  const leases: number[] = [];
  const warmup = 200;
  const total = 2_000 + warmup;
  // What a slow pick was slowed by: a GC pause inside it, or this process not running (the machine's other
  // processes). GC pauses come from the perf_hooks observer; a pick's CPU time from process.cpuUsage around
  // `play`, which the in-memory store handles synchronously (the pick is inside it).
  const gcPauses: Array<[startMs: number, endMs: number]> = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcPauses.push([entry.startTime, entry.startTime + entry.duration]);
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const windows: Array<{ pickUs: number; startMs: number; endMs: number; cpuUs: number }> = [];
  for (let j = 0; j < total; j++) {
    const inbox: ServerMessage[] = [];
    const peerId = attachPlayer(hub, j, (message) => inbox.push(message));
    const region = REGIONS[j % REGIONS.length] ?? REGIONS[0];
    const sentNs = process.hrtime.bigint();
    const startMs = performance.now();
    const cpuBefore = process.cpuUsage();
    hub.receive(peerId, JSON.stringify({ type: 'play', game: GAME.id, codecs: ['H264'], timeZone: region?.[3] }));
    const cpu = process.cpuUsage(cpuBefore);
    const endMs = performance.now();
    const assigned = await nextMessage(peerId, ['session'], inbox);
    const leaseUs = Number(process.hrtime.bigint() - sentNs) / 1000;
    if (assigned.type !== 'session') throw new Error(`bench player was not leased a slot: ${JSON.stringify(assigned)}`);
    const session = hub.getSession(assigned.sessionId);
    if (!session?.decision) throw new Error('bench player has no decision');
    if (j >= warmup) {
      picks.push(session.decision.pickMicros);
      leases.push(leaseUs);
      windows.push({ pickUs: session.decision.pickMicros, startMs, endMs, cpuUs: cpu.user + cpu.system });
    }
    hub.receive(peerId, JSON.stringify({ type: 'quit', sessionId: session.id }));
    hub.detach(peerId, { clean: true });
  }
  hub.close();
  await new Promise((resolve) => setImmediate(resolve));
  gcObserver.disconnect();
  picks.sort((a, b) => a - b);
  leases.sort((a, b) => a - b);
  // The slowest 1 % of picks: how many had a GC pause in their `play`, and how many ran on the CPU for less
  // than half of their time (descheduled: the box). The CPU figure is only meaningful in memory (synchronous).
  const p99 = percentile(picks, 99);
  const slow = windows.filter((w) => w.pickUs >= p99);
  const withGc = slow.filter((w) => gcPauses.some(([from, to]) => from < w.endMs && to > w.startMs)).length;
  const offCpu = slow.filter((w) => w.cpuUs < ((w.endMs - w.startMs) * 1000) / 2).length;
  const cpuUs = windows.map((w) => w.cpuUs).sort((a, b) => a - b);
  return {
    slowPicks: slow.length,
    slowPicksWithGc: withGc,
    slowPicksOffCpu: offCpu,
    playCpuUsP50: round(percentile(cpuUs, 50), 1),
    playCpuUsP99: round(percentile(cpuUs, 99), 1),
    registerSec: round(registerSec, 1),
    pickUsP50: round(percentile(picks, 50), 1),
    pickUsP99: round(percentile(picks, 99), 1),
    leaseUsP50: round(percentile(leases, 50), 1),
    leaseUsP99: round(percentile(leases, 99), 1),
    picks: picks.length,
  };
}

/** Waits until the store's writes so far have reached Redis (a PING behind them on the same connection). */
async function settleRedis(store: RedisSignalingStore): Promise<void> {
  await store.redis.ping();
}

/**
 * One slot, held, and a line behind it in one hub (one process state throughout): the line is grown to 1,000
 * waiting, measured, grown to 10,000, measured, shrunk back to 1,000, measured, grown to 10,000, measured. At
 * each stop `QUEUE_SAMPLES` changes are timed — one more player joining (play → queued) and one in the middle
 * of the line leaving (quit), so the line keeps its length — and each size's figure is the median of its
 * samples from both stops (a GC pause or a busy neighbour moves a mean, hardly a median). The first stop's first
 * `QUEUE_WARMUP` changes are not kept (JIT, allocator). With Redis, joining includes the lease attempt's round
 * trip (the slot is held: the Lua lease refuses, then the player is queued); leaving is what the hub does
 * before its writes leave (they are pipelined).
 */
const QUEUE_SAMPLES = 150;
const QUEUE_WARMUP = 50;

async function queueBench(kind: Bench, redis: RedisServer | undefined) {
  const store = await openStore(kind, redis);
  const hub = newHub(store);
  hub.attach({ id: 'peer-qhost-1', send: () => {}, close: () => {} }, { kind: 'node', remoteIp: '127.0.0.1' });
  hub.hosts.register({
    peerId: 'peer-qhost-1',
    nowMs: Date.now(),
    message: {
      type: 'register',
      hostId: 'queue-host',
      providerAddress: PROVIDER,
      signature: `0x${'00'.repeat(65)}`,
      region: { country: 'DE', lat: 50.1, lon: 8.7 },
      gpu: 'bench',
      encoder: 'x264',
      games: [GAME],
      slots: 1,
      probeReserve: 1,
      priceWeiPerSec: '1000',
      endpoints: ENDPOINTS,
    },
  });
  let n = 0;
  const join = async (): Promise<{ peerId: string; sessionId: string; micros: number }> => {
    const inbox: ServerMessage[] = [];
    const peerId = attachPlayer(hub, n++, (message) => inbox.push(message));
    const sentNs = process.hrtime.bigint();
    hub.receive(peerId, JSON.stringify({ type: 'play', game: GAME.id, codecs: ['H264'] }));
    const answer = await nextMessage(peerId, ['queued', 'session'], inbox);
    const micros = Number(process.hrtime.bigint() - sentNs) / 1000;
    if (answer.type !== 'queued' && answer.type !== 'session')
      throw new Error(`queue bench: ${JSON.stringify(answer)}`);
    return { peerId, sessionId: answer.sessionId, micros };
  };
  const leave = (leaver: { peerId: string; sessionId: string }): number => {
    const startedNs = process.hrtime.bigint();
    hub.receive(leaver.peerId, JSON.stringify({ type: 'quit', sessionId: leaver.sessionId }));
    const micros = Number(process.hrtime.bigint() - startedNs) / 1000;
    hub.detach(leaver.peerId, { clean: true });
    return micros;
  };
  await join(); // takes the slot
  const line: Array<{ peerId: string; sessionId: string }> = [];
  const resize = async (size: number) => {
    while (line.length < size) {
      line.push(await join());
      if (kind === 'redis' && line.length % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    while (line.length > size) leave(line.splice(Math.floor(Math.random() * line.length), 1)[0] as (typeof line)[0]);
    if (store instanceof RedisSignalingStore) await settleRedis(store);
  };
  const samples = new Map<number, { joins: number[]; leaves: number[] }>([
    [1_000, { joins: [], leaves: [] }],
    [10_000, { joins: [], leaves: [] }],
  ]);
  let first = true;
  for (const size of [1_000, 10_000, 1_000, 10_000]) {
    await resize(size);
    const into = samples.get(size) as { joins: number[]; leaves: number[] };
    for (let i = 0; i < QUEUE_SAMPLES + (first ? QUEUE_WARMUP : 0); i++) {
      const joined = await join();
      // Someone in the middle of the line gives up: the line keeps its length.
      const leaver = line.splice(Math.floor(line.length / 2), 1)[0] as (typeof line)[0];
      line.push(joined);
      const leftUs = leave(leaver);
      if (first && i < QUEUE_WARMUP) continue;
      into.joins.push(joined.micros);
      into.leaves.push(leftUs);
    }
    first = false;
  }
  const queued = hub.queueLength();
  hub.close();
  const median = (values: number[]) =>
    round(
      percentile(
        [...values].sort((a, b) => a - b),
        50,
      ),
      1,
    );
  const of = (size: number) => {
    const { joins, leaves } = samples.get(size) as { joins: number[]; leaves: number[] };
    return { joinUs: median(joins), leaveUs: median(leaves), samples: joins.length };
  };
  return { waitingAtEnd: queued, at1k: of(1_000), at10k: of(10_000) };
}

// ---- processes ---------------------------------------------------------------------------------------------

type ServerInfo = {
  wsPlayerUrl: string;
  wsNodeUrl: string;
  pid: number;
  lines: AsyncIterator<string>;
  child: ChildProcess;
};

async function startBenchServer(args: string[]): Promise<{ info: ServerInfo; child: ChildProcess }> {
  const script = fileURLToPath(new URL('./benchServer.ts', import.meta.url));
  // stdin is a pipe from this process: when it ends (however it ends), the server ends too.
  const profile = flags['server-cpu-prof'] ? ['--cpu-prof-dir', flags['server-cpu-prof']] : [];
  const semiSpace = SERVER_SEMI_SPACE_MB ? [`--max-semi-space-size=${SERVER_SEMI_SPACE_MB}`] : [];
  const child = spawn(process.execPath, [...semiSpace, '--import', 'tsx', script, ...args, ...profile], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  cleanups.push(() => {
    child.stdin?.end();
    setTimeout(() => child.kill('SIGKILL'), 3_000).unref();
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`bench server exited (${code})`))),
  );
  exited.catch(() => undefined);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const first = await Promise.race([lines.next(), exited]);
  if (first.done) throw new Error('bench server ended');
  const info = { ...(JSON.parse(first.value) as Omit<ServerInfo, 'lines' | 'child'>), lines, child };
  return { info, child };
}

/** How late a server's event loop ran since the last `reset` (its own busyness plus the machine's scheduling). */
async function serverLoopDelay(
  server: ServerInfo,
): Promise<{ eventLoopDelayMsP99: number; eventLoopDelayMsMax: number; gcPauseMsMax?: number }> {
  server.child.stdin?.write('stats\n');
  const line = await server.lines.next();
  if (line.done) throw new Error('bench server ended');
  return JSON.parse(line.value) as { eventLoopDelayMsP99: number; eventLoopDelayMsMax: number; gcPauseMsMax?: number };
}

/**
 * The floor of any cross-instance relay on this machine at this moment: a PUBLISH on one Redis connection to a
 * SUBSCRIBE on another, 200 a second spread evenly, timed by this process while the relay is measured.
 */
async function redisPubSubProbe(redis: RedisServer): Promise<() => Promise<number[]>> {
  const pub = new Redis(redis.url, { lazyConnect: true });
  const sub = new Redis(redis.url, { lazyConnect: true });
  await Promise.all([pub.connect(), sub.connect()]);
  const channel = `probe${randomBytes(3).toString('hex')}`;
  const latenciesMs: number[] = [];
  sub.on('message', (_channel: string, raw: string) => {
    latenciesMs.push(Number(process.hrtime.bigint() - BigInt(raw)) / 1e6);
  });
  await sub.subscribe(channel);
  const timer = setInterval(() => void pub.publish(channel, String(process.hrtime.bigint())), 5);
  return async () => {
    clearInterval(timer);
    await new Promise((resolve) => setTimeout(resolve, 50));
    pub.disconnect();
    sub.disconnect();
    return latenciesMs.sort((a, b) => a - b);
  };
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return round(kb / 1024, 1);
}

function cpuMicros(pid: number): number {
  // utime + stime in clock ticks (100 Hz on Linux).
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function openSocket(url: string, protocols: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, { perMessageDeflate: false });
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function inBatches<T>(count: number, batch: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let start = 0; start < count; start += batch) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(batch, count - start) }, (_, k) => make(start + k)))));
  }
  return out;
}

/**
 * How a load generator runs as idle work: under `chrt --idle 0` (SCHED_IDLE, every thread: any ordinary task that
 * wakes takes the CPU from it at once), or, without chrt, as node at nice 19 (a woken task may still wait out
 * part of its slice).
 */
function idlePriority(): { command: string; args: string[]; policy: 'SCHED_IDLE' | 'nice 19' } {
  const chrt = ['/usr/bin/chrt', '/bin/chrt'].find((path) => existsSync(path));
  return chrt
    ? { command: chrt, args: ['--idle', '0', process.execPath], policy: 'SCHED_IDLE' }
    : { command: process.execPath, args: [], policy: 'nice 19' };
}

/** Players per load-generator process (a process's descriptors are limited: `ulimit -n` is 20,000 on some). */
const PLAYERS_PER_GENERATOR = 5_000;

type Generator = { child: ChildProcess; lines: AsyncIterator<string> };

/** Starts a load generator with `players` players on `url`; resolves once they are connected and asked to play. */
async function startGenerator(
  url: string,
  players: number,
): Promise<{ generator: Generator; open: number; leased: number }> {
  const script = fileURLToPath(new URL('./benchPlayers.ts', import.meta.url));
  const idle = GENERATORS_IDLE ? idlePriority() : undefined;
  const child = spawn(
    idle?.command ?? process.execPath,
    [
      ...(idle?.args ?? []),
      '--import',
      'tsx',
      script,
      '--url',
      url,
      '--secret',
      secretOfRun.toString('hex'),
      '--players',
      String(players),
      '--game',
      GAME.id,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  if (idle?.command === process.execPath && child.pid) os.setPriority(child.pid, 19);
  cleanups.push(() => {
    child.stdin?.end();
    setTimeout(() => child.kill('SIGKILL'), 3_000).unref();
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`bench load generator exited (${code})`))),
  );
  exited.catch(() => undefined);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const generator = { child, lines };
  const ready = JSON.parse(await nextLine(generator, exited)) as { open: number; leased: number };
  return { generator, ...ready };
}

async function nextLine(generator: Generator, exited?: Promise<never>): Promise<string> {
  const next = generator.lines.next().then((r) => {
    if (r.done) throw new Error('bench load generator ended');
    return r.value;
  });
  return exited ? Promise.race([next, exited]) : next;
}

/**
 * Hosts connect to the first server (from this process), players to the last (from load-generator
 * processes): with two servers on one Redis, every relayed message goes from a player's instance to its
 * host's through Redis. Latency is measured on the system's monotonic clock, which all processes share.
 */
async function socketBench(
  label: string,
  servers: ServerInfo[],
  sockets: number,
  redis?: { server: RedisServer; hostInstanceChannel: string },
) {
  const hostServer = servers[0] as ServerInfo;
  const playerServer = servers[servers.length - 1] as ServerInfo;
  const hostCount = Math.max(1, Math.round(sockets / 50));
  const slotsPerHost = 25;
  const playerCount = sockets - hostCount;
  const account = run.provider;
  const latenciesMs: number[] = [];
  /** Per relayed message (two instances): ms from its send to the Redis tap, and from the tap to its host. */
  const stages: Array<[toRedisMs: number, fromRedisMs: number]> = [];
  let measuring = false;

  progress(`${label}: connecting ${hostCount} hosts`);
  const hosts = await inBatches(hostCount, 50, async (i) => {
    const socket = await openSocket(hostServer.wsNodeUrl, [WS_SUBPROTOCOL]);
    const hostId = boundHostId(`bench-${i}`, account.address);
    await new Promise<void>((resolve, reject) => {
      socket.on('message', async (raw) => {
        const text = raw.toString();
        if (measuring && text.startsWith('{"type":"ice"')) {
          const message = JSON.parse(text) as { candidate: { candidate: string } | null };
          const stamp = message.candidate?.candidate.slice('bench '.length) ?? '0';
          const receivedNs = process.hrtime.bigint();
          const sentNs = BigInt(stamp);
          latenciesMs.push(Number(receivedNs - sentNs) / 1e6);
          const tappedNs = tapped?.get(stamp);
          if (tappedNs !== undefined) {
            stages.push([Number(tappedNs - sentNs) / 1e6, Number(receivedNs - tappedNs) / 1e6]);
            tapped?.delete(stamp);
          }
          return;
        }
        const message = JSON.parse(text) as { type: string; nonce?: string; code?: string; sessionId?: string };
        if (message.type === 'start-session') {
          // Confirm at once, as a host does when the stream is up: the lease is then held, not timed out.
          socket.send(JSON.stringify({ type: 'session-started', sessionId: message.sessionId }));
        } else if (message.type === 'welcome' && message.nonce) {
          socket.send(
            JSON.stringify({
              type: 'register',
              hostId,
              providerAddress: account.address,
              signature: await account.signMessage({ message: hostRegistrationMessage(hostId, message.nonce) }),
              region: { country: 'DE', lat: 50.1, lon: 8.7 },
              gpu: 'bench',
              encoder: 'x264',
              games: [GAME],
              slots: slotsPerHost,
              probeReserve: 1,
              priceWeiPerSec: BENCH_PRICE_WEI_PER_SEC,
              endpoints: ENDPOINTS,
            }),
          );
        } else if (message.type === 'registered') resolve();
        else if (message.type === 'error') reject(new Error(`host refused: ${message.code}`));
      });
      socket.send(JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'host' }));
    });
    return socket;
  });
  // The players' instance learns the hosts through Redis.
  if (servers.length > 1) await new Promise((resolve) => setTimeout(resolve, 1_500));

  const generatorCount = Math.max(1, Math.ceil(playerCount / PLAYERS_PER_GENERATOR));
  progress(`${label}: connecting ${playerCount} players from ${generatorCount} load generators`);
  const generators = await Promise.all(
    Array.from({ length: generatorCount }, (_, g) => {
      const share = Math.floor(playerCount / generatorCount) + (g < playerCount % generatorCount ? 1 : 0);
      return startGenerator(playerServer.wsPlayerUrl, share);
    }),
  );
  const open = hosts.filter((s) => s.readyState === WebSocket.OPEN).length + generators.reduce((n, g) => n + g.open, 0);
  const leased = generators.reduce((n, g) => n + g.leased, 0);
  progress(`${label}: ${open} sockets open, ${leased} sessions leased; relaying for ${SECONDS} s at ${RATE}/s`);
  const cpuBefore = servers.reduce((sum, server) => sum + cpuMicros(server.pid), 0);
  // Every process a relay passes through on the server side: the instances (hosts' first), then redis-server.
  const redisPid = redis?.server.pid ? childPid(redis.server.pid) : undefined;
  const countedPids = [...servers.map((server) => server.pid), ...(redisPid ? [redisPid] : [])];
  const countersBefore = countedPids.map((pid) => processCounters(pid));
  for (const server of servers) server.child.stdin?.write('reset\n');
  const stopProbe = redis ? await redisPubSubProbe(redis.server) : undefined;
  const tap = redis && flags.stages ? await redisTap(redis.server, redis.hostInstanceChannel) : undefined;
  const tapped = tap?.arrivals;
  const benchLoop = monitorEventLoopDelay({ resolution: 1 });
  benchLoop.enable();
  const benchGc: number[] = [];
  const benchGcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) benchGc.push(entry.duration);
  });
  benchGcObserver.observe({ entryTypes: ['gc'] });
  const loadAvg1 = os.loadavg()[0] ?? 0;
  measuring = true;
  for (const { generator } of generators)
    generator.child.stdin?.write(`go ${SECONDS} ${RATE / generatorCount} ${PACING}\n`);
  const generatorStats = await Promise.all(
    generators.map(async ({ generator }) => JSON.parse(await nextLine(generator)) as GeneratorStats),
  );
  const sent = generatorStats.reduce((a, g) => a + g.sent, 0);
  // Wait for the stragglers (up to 3 s) so that slow relays count in the percentiles rather than vanish.
  const waitUntil = Date.now() + 3_000;
  while (latenciesMs.length < sent && Date.now() < waitUntil) await new Promise((resolve) => setTimeout(resolve, 50));
  measuring = false;
  benchLoop.disable();
  benchGcObserver.disconnect();
  const pubSubMs = stopProbe ? await stopProbe() : [];
  tap?.stop();
  const loopDelays = await Promise.all(servers.map((server) => serverLoopDelay(server)));
  const serverCpuUsPerRelay = round(
    (servers.reduce((sum, server) => sum + cpuMicros(server.pid), 0) - cpuBefore) / Math.max(1, sent),
    1,
  );
  const serverRssMb = round(
    servers.reduce((sum, server) => sum + rssMb(server.pid), 0),
    1,
  );
  const perRelay = countedPids.map((pid, i) => {
    const before = countersBefore[i];
    const after = processCounters(pid);
    const per = (key: 'wakeups' | 'syscalls') =>
      before && after ? round((after[key] - before[key]) / Math.max(1, sent), 2) : undefined;
    const role = i < servers.length ? (i === 0 ? 'hostsInstance' : 'playersInstance') : 'redis';
    return [
      servers.length === 1 && i === 0 ? 'instance' : role,
      { wakeups: per('wakeups'), syscalls: per('syscalls') },
    ];
  });
  // The servers first: they exit at once, before the players' sockets closing would keep them busy.
  for (const server of servers) server.child.stdin?.end();
  for (const { generator } of generators) generator.child.stdin?.end();
  for (const socket of hosts) socket.terminate();
  latenciesMs.sort((a, b) => a - b);
  return {
    sockets: open,
    leased,
    relayed: latenciesMs.length,
    sent,
    relayMsP50: round(percentile(latenciesMs, 50)),
    relayMsP99: round(percentile(latenciesMs, 99)),
    serverRssMb,
    serverCpuUsPerRelay,
    serverLoopDelayMsP99: round(Math.max(...loopDelays.map((d) => d.eventLoopDelayMsP99)), 2),
    perRelay: Object.fromEntries(perRelay),
    ...(stopProbe
      ? { redisPubSubMsP50: round(percentile(pubSubMs, 50)), redisPubSubMsP99: round(percentile(pubSubMs, 99)) }
      : {}),
    loadAvg1: round(loadAvg1, 2),
    // Every process on the relay's path, measured the same way: event-loop delay p99/max and GC over the window.
    processes: {
      servers: loopDelays,
      generators: generatorStats.map(({ sent: _sent, ...rest }) => rest),
      hostsProcess: {
        eventLoopDelayMsP99: round(benchLoop.percentile(99) / 1e6, 2),
        eventLoopDelayMsMax: round(benchLoop.max / 1e6, 2),
        gcPauses: benchGc.length,
        gcPauseMsMax: round(Math.max(0, ...benchGc), 2),
        heapUsedMb: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
      },
    },
    ...(tap ? { stages: stageSummary(stages, latenciesMs) } : {}),
  };
}

type GeneratorStats = {
  sent: number;
  eventLoopDelayMsP99: number;
  eventLoopDelayMsMax: number;
  gcPauseMsMax: number;
  cpuMs: number;
};

/**
 * Where a cross-instance relay's time goes (--stages): `toRedis` is send → the message published on the host
 * instance's channel (load generator, socket, player's instance, Redis), `fromRedis` the rest (host's instance,
 * socket, this process). Both are read by this process, so its own stalls land in `toRedis`: its event-loop
 * delay is reported beside them. `slowest1Pct`: the medians of the two stages over the messages at or over p99.
 */
function stageSummary(stages: Array<[number, number]>, sortedLatencies: number[]) {
  const p99 = percentile(sortedLatencies, 99);
  const toRedis = stages.map((s) => s[0]).sort((a, b) => a - b);
  const fromRedis = stages.map((s) => s[1]).sort((a, b) => a - b);
  const slow = stages.filter(([a, b]) => a + b >= p99);
  const median = (values: number[]) =>
    round(
      percentile(
        [...values].sort((a, b) => a - b),
        50,
      ),
    );
  return {
    tapped: stages.length,
    toRedisMsP50: round(percentile(toRedis, 50)),
    toRedisMsP99: round(percentile(toRedis, 99)),
    fromRedisMsP50: round(percentile(fromRedis, 50)),
    fromRedisMsP99: round(percentile(fromRedis, 99)),
    slowest1Pct: {
      count: slow.length,
      toRedisMsMedian: median(slow.map((s) => s[0])),
      fromRedisMsMedian: median(slow.map((s) => s[1])),
    },
  };
}

/**
 * A second subscriber on the host instance's direct channel (--stages): when each relayed message left Redis,
 * keyed by its send stamp.
 */
async function redisTap(redis: RedisServer, channel: string) {
  const sub = new Redis(redis.url, { lazyConnect: true });
  await sub.connect();
  const arrivals = new Map<string, bigint>();
  sub.on('message', (_channel: string, raw: string) => {
    const at = process.hrtime.bigint();
    for (const match of raw.matchAll(/bench (\d+)/g)) arrivals.set(match[1] as string, at);
  });
  await sub.subscribe(channel);
  return { arrivals, stop: () => sub.disconnect() };
}

const secretOfRun = randomBytes(32);
/** The bench's chain and its one staked provider (hosts must be staked to register). Set at start. */
const run = {} as { chain: TestChain; provider: PrivateKeyAccount };
/** Within signaling's price bounds. */
const BENCH_PRICE_WEI_PER_SEC = '1000000000000000';

/**
 * The transport the figures are for: uWebSockets.js, or the @fastify/websocket fallback where no native uWS build
 * loads (Node 22/24 on a glibc older than 2.38) — the JSON says which, so a fallback run is never read as uWS.
 */
const nativeUws = loadUws();
const MAIN_TRANSPORT: 'uws' | 'fastify-ws' = nativeUws.ok ? 'uws' : 'fastify-ws';

function serverArgs(transport: 'uws' | 'fastify-ws', limits: BenchLimits): string[] {
  const chain: Omit<BenchServerOptions, 'limits'> = {
    rpcUrl: run.chain.anvil.rpcUrl,
    chainId: run.chain.anvil.chainId,
    stakingAddress: run.chain.stakingAddress,
  };
  return [
    '--transport',
    transport,
    '--secret',
    secretOfRun.toString('hex'),
    '--chain',
    JSON.stringify(chain),
    '--limits',
    limits,
    '--uws-pings',
    UWS_PINGS,
  ];
}

/** One signaling process in memory: uWS with admission limits on, off, and fastify-ws (for the comparisons). */
async function singleInstanceSockets(transport: 'uws' | 'fastify-ws', limits: BenchLimits) {
  const server = await startBenchServer(serverArgs(transport, limits));
  const label = `one instance (memory, ${transport}, limits ${limits})`;
  progress(`${label}: server pid ${server.info.pid}`);
  const result = await socketBench(label, [server.info], SINGLE_SOCKETS);
  server.child.stdin?.end();
  return result;
}

async function twoInstanceSockets(redis: RedisServer) {
  const prefix = `net${randomBytes(3).toString('hex')}:`;
  const servers = [];
  for (const instance of ['s1', 's2']) {
    const server = await startBenchServer([
      ...serverArgs(MAIN_TRANSPORT, 'on'),
      '--redis',
      redis.url,
      '--instance',
      instance,
      '--prefix',
      prefix,
      '--relay-publisher',
      RELAY_PUBLISHER ? 'on' : 'off',
    ]);
    progress(`server ${instance} pid ${server.info.pid}`);
    servers.push(server);
  }
  const result = await socketBench(
    'two instances + Redis',
    servers.map((s) => s.info),
    SOCKETS,
    { server: redis, hostInstanceChannel: `${prefix}to:s1` },
  );
  for (const server of servers) server.child.stdin?.end();
  return { ...result, redisRssMb: redis.pid ? redisRss(redis.pid) : undefined };
}

/** redis-server runs under a keeper shell: its RSS is the shell's child's. */
function redisRss(keeperPid: number): number | undefined {
  const pid = childPid(keeperPid);
  return pid ? rssMb(pid) : undefined;
}

function childPid(parentPid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${parentPid}/task/${parentPid}/children`, 'utf8').trim().split(/\s+/);
    const pid = Number(children[0]);
    return Number.isFinite(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a process did so far, counted by the kernel (independent of the machine's load): `wakeups`, its main
 * thread's voluntary context switches (each time it slept, in epoll, and was woken: for an event loop, one per
 * turn that waited); `syscalls`, its read- and write-family system calls on files and streams (`/proc/<pid>/io`
 * syscr + syscw: libuv's and redis-server's socket reads and writes; uWS's send/recv are not counted there).
 */
function processCounters(pid: number): { wakeups: number; syscalls: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (text: string, name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(text)?.[1]);
    const counters = {
      wakeups: field(status, 'voluntary_ctxt_switches'),
      syscalls: field(io, 'syscr') + field(io, 'syscw'),
    };
    return Number.isFinite(counters.wakeups) && Number.isFinite(counters.syscalls) ? counters : undefined;
  } catch {
    return undefined;
  }
}

// ---- run -----------------------------------------------------------------------------------------------------

/** The two-instance run's keys (the one-instance run's have no `Redis` in their name). */
function isTwoInstanceKey(key: string): boolean {
  return key.includes('Redis') || key === 'redisPubSubMsP50' || key === 'redisPubSubMsP99' || key === 'redisRssMb';
}

const startedMs = Date.now();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    void cleanup().finally(() => process.exit(130));
  });
}
try {
  progress('starting redis-server');
  const redis = await startRedisServer({ dieWithParent: true });
  cleanups.push(() => redis.close());
  progress(`redis-server on ${redis.url} (pid ${redis.pid}); starting a chain`);
  run.chain = await startTestChain({ tiedToParent: true });
  cleanups.push(() => run.chain.close());
  run.provider = privateKeyToAccount((await run.chain.newStakedAccount('nvidia-datacenter')).privateKey);
  const result: Record<string, unknown> = {
    bench: 'indexer',
    hosts: HOSTS,
    wsTransport: nativeUws.ok ? nativeUws.build : 'fastify-ws (no native uWebSockets.js build loads here)',
    // How the load generators send: `even` (each its share evenly, from a random phase; since this key exists)
    // or `burst` (rate/100 back to back every 10 ms, in step: how the figures before it were measured).
    relayPacing: PACING,
    // How the load generators are scheduled (see the header): `SCHED_IDLE`, `nice 19`, or `normal`.
    generatorPriority: GENERATORS_IDLE ? idlePriority().policy : 'normal',
    // Two instances: direct messages through the reply-less relay connection (`on`, the product's default) or the
    // command connection, each PUBLISH answered (`off`: how the figures before this key were measured).
    relayPublisher: RELAY_PUBLISHER ? 'on' : 'off',
    // uWS keep-alive pings: `spread` (the product's default, a few every 50 ms) or `native` (uWS's own, sent in
    // bursts every 4 s: how the figures before this key were measured).
    uwsPings: UWS_PINGS,
    // The signaling processes' semi-space (MB) when set with --server-semi-space; V8's default otherwise.
    serverSemiSpaceMb: SERVER_SEMI_SPACE_MB ?? 'default',
  };
  // The sockets first, the two-instance run before the one-instance ones: the hosts' end of the relay lives in
  // this process, and it should not carry the pick bench's 100,000-host hubs (their garbage meant ~28 GC pauses
  // of this process inside a 5 s relay window, each delaying what the hosts receive).
  const socketFigures: Record<string, unknown> = {};
  if (!flags['pick-only']) {
    let dual: Awaited<ReturnType<typeof twoInstanceSockets>> | undefined;
    if (INSTANCES === 2) {
      dual = await twoInstanceSockets(redis);
      Object.assign(socketFigures, {
        socketsRedis: dual.sockets,
        leasedRedis: dual.leased,
        relayMsP50Redis: dual.relayMsP50,
        relayMsP99Redis: dual.relayMsP99,
        relayedRedis: dual.relayed,
        sentRedis: dual.sent,
        serverRssMbRedis: dual.serverRssMb,
        redisRssMb: dual.redisRssMb,
        serverCpuUsPerRelayRedis: dual.serverCpuUsPerRelay,
        serverLoopDelayMsP99Redis: dual.serverLoopDelayMsP99,
        // Per relayed message, by process, counted by the kernel: main-thread wake-ups and read/write system calls.
        perRelayRedis: dual.perRelay,
        // The machine's floor for a hop through Redis during the same window, and its load then.
        redisPubSubMsP50: dual.redisPubSubMsP50,
        redisPubSubMsP99: dual.redisPubSubMsP99,
        loadAvg1Redis: dual.loadAvg1,
        processesRedis: dual.processes,
        ...(dual.stages ? { relayStagesRedis: dual.stages } : {}),
      });
    }
    if (dual) await new Promise((resolve) => setTimeout(resolve, 1_000));
    const single = flags['skip-single'] ? undefined : await singleInstanceSockets(MAIN_TRANSPORT, 'on');
    if (single) {
      Object.assign(socketFigures, {
        limits: 'on',
        sockets: single.sockets,
        relayMsP50: single.relayMsP50,
        relayMsP99: single.relayMsP99,
        relayed: single.relayed,
        sent: single.sent,
        serverRssMb: single.serverRssMb,
        serverCpuUsPerRelay: single.serverCpuUsPerRelay,
        serverLoopDelayMsP99: single.serverLoopDelayMsP99,
        loadAvg1: single.loadAvg1,
      });
    }
    if (single && !flags['skip-compare']) {
      // What admission control costs (the same run with no limits), and the fastify-ws transport beside uWS.
      const unlimited = await singleInstanceSockets(MAIN_TRANSPORT, 'off');
      const fastifyWs = await singleInstanceSockets('fastify-ws', 'on');
      const overheadPct = (on: number, off: number) => round(((on - off) / Math.max(off, 1e-9)) * 100, 1);
      Object.assign(socketFigures, {
        relayMsP50LimitsOff: unlimited.relayMsP50,
        relayMsP99LimitsOff: unlimited.relayMsP99,
        limitsOverheadPct: overheadPct(single.relayMsP99, unlimited.relayMsP99),
        serverCpuUsPerRelayLimitsOff: unlimited.serverCpuUsPerRelay,
        limitsCpuOverheadPct: overheadPct(single.serverCpuUsPerRelay, unlimited.serverCpuUsPerRelay),
        relayMsP50FastifyWs: fastifyWs.relayMsP50,
        relayMsP99FastifyWs: fastifyWs.relayMsP99,
        socketsFastifyWs: fastifyWs.sockets,
        serverRssMbFastifyWs: fastifyWs.serverRssMb,
        serverCpuUsPerRelayFastifyWs: fastifyWs.serverCpuUsPerRelay,
      });
    }
    if (single && dual) {
      socketFigures['relayP99RedisOverMemory'] = round(dual.relayMsP99 / Math.max(1e-9, single.relayMsP99), 2);
    }
  }
  const picked: Record<string, unknown> = {};
  if (!flags['sockets-only']) {
    progress(`pick over ${HOSTS} hosts (memory)`);
    const pickMemory = await pickBench('memory', undefined);
    progress(`pick over ${HOSTS} hosts (redis)`);
    const pickRedis = await pickBench('redis', redis);
    Object.assign(picked, {
      pickUsP50: pickMemory.pickUsP50,
      pickUsP99: pickMemory.pickUsP99,
      pickUsP99Redis: pickRedis.pickUsP99,
      leaseUsP50: pickMemory.leaseUsP50,
      leaseUsP99: pickMemory.leaseUsP99,
      leaseUsP50Redis: pickRedis.leaseUsP50,
      leaseUsP99Redis: pickRedis.leaseUsP99,
      leaseP99RedisOverMemory: round(pickRedis.leaseUsP99 / Math.max(1e-9, pickMemory.leaseUsP99), 2),
      registerSec: pickMemory.registerSec,
      registerSecRedis: pickRedis.registerSec,
      // The picks at or over p99 (in memory): with a GC pause inside, and descheduled for over half their time.
      slowPicks: pickMemory.slowPicks,
      slowPicksWithGc: pickMemory.slowPicksWithGc,
      slowPicksOffCpu: pickMemory.slowPicksOffCpu,
      playCpuUsP50: pickMemory.playCpuUsP50,
      playCpuUsP99: pickMemory.playCpuUsP99,
    });
    progress('queue change cost (memory, redis; 1,000 and 10,000 waiting, twice each, medians)');
    const queueMemory = await queueBench('memory', undefined);
    const queueRedis = await queueBench('redis', redis);
    const change = (q: typeof queueMemory, size: '1k' | '10k') => {
      const at = size === '1k' ? q.at1k : q.at10k;
      return at.joinUs + at.leaveUs;
    };
    Object.assign(picked, {
      queueJoinUs1k: queueMemory.at1k.joinUs,
      queueJoinUs10k: queueMemory.at10k.joinUs,
      queueLeaveUs1k: queueMemory.at1k.leaveUs,
      queueLeaveUs10k: queueMemory.at10k.leaveUs,
      queueJoinUs1kRedis: queueRedis.at1k.joinUs,
      queueJoinUs10kRedis: queueRedis.at10k.joinUs,
      queueLeaveUs1kRedis: queueRedis.at1k.leaveUs,
      queueLeaveUs10kRedis: queueRedis.at10k.leaveUs,
      queueSamplesPerSize: queueMemory.at1k.samples,
      queueChange10kOver1k: round(change(queueMemory, '10k') / Math.max(1e-9, change(queueMemory, '1k')), 2),
      queueChange10kOver1kRedis: round(change(queueRedis, '10k') / Math.max(1e-9, change(queueRedis, '1k')), 2),
    });
  }
  // The JSON keeps its order: pick, queue, one instance, two instances.
  const { relayP99RedisOverMemory, ...socketKeys } = socketFigures;
  const redisKeys = Object.fromEntries(Object.entries(socketKeys).filter(([key]) => isTwoInstanceKey(key)));
  const singleKeys = Object.fromEntries(Object.entries(socketKeys).filter(([key]) => !isTwoInstanceKey(key)));
  Object.assign(
    result,
    picked,
    singleKeys,
    redisKeys,
    relayP99RedisOverMemory === undefined ? {} : { relayP99RedisOverMemory },
  );
  result['durationSec'] = round((Date.now() - startedMs) / 1000, 1);
  result['machine'] = machineInfo();
  await cleanup();
  console.log(JSON.stringify(result));
  process.exit(0);
} catch (error) {
  progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  await cleanup();
  process.exit(1);
}
