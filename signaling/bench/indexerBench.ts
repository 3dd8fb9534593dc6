/**
 * `npm run bench:indexer` — how the indexer holds up at scale, on loopback, bounded, stopping by itself.
 *
 *  1. Pick latency with 10,000 registered hosts: the real hub path (`play` parsed, candidates ranked over
 *     every host serving the game, a slot leased), timed inside the hub, in-process.
 *  2. Concurrent sockets and relay latency: a signaling process (uWebSockets.js) holding 10,000 WebSockets
 *     — scripted hosts and players speaking the real protocol, players answering probe requests — while
 *     leased players send ICE that signaling relays to their hosts; latency is measured send → receive on
 *     the load generator's clock. Then the same on fastify + @fastify/websocket for comparison.
 *
 * Admission control is on in every run, its caps raised for one address opening 10,000 sockets; uWS also runs
 * with no limits at all, and the JSON says what the limits cost (`limitsOverheadPct`, on the relay p99).
 * Hosts register for real: a staked provider on a bench anvil chain.
 *
 * Flags: --hosts N (10000) --sockets N (10000) --seconds N (10) --rate N (relayed messages per second, 2000).
 * The last line printed is one JSON object.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import WebSocket from 'ws';
import { startTestChain } from '../../edge/chain/testing/startTestChain.js';
import { ChainStakeGate } from '../../edge/economy/ChainStakeGate.js';
import { createMetrics, SIGNALING_METRICS } from '../../metrics/index.js';
import { issuePlayerToken } from '../auth/playerTokens.js';
import { SignalingHub } from '../hub/SignalingHub.js';
import {
  boundHostId,
  hostRegistrationMessage,
  PROTOCOL_VERSION,
  type ServerMessage,
  WS_SUBPROTOCOL,
} from '../protocol/index.js';
import { DEFAULT_SIGNALING_SETTINGS } from '../SignalingSettings.js';
import type { BenchLimits, BenchServerOptions } from './benchLimits.js';
import { machineInfo, percentile, round } from './machine.js';

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : Number.NaN;
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const HOSTS = flag('hosts', 10_000);
const SOCKETS = flag('sockets', 10_000);
const SECONDS = flag('seconds', 10);
const RATE = flag('rate', 2_000);
const chain = await startTestChain();
const benchProvider = privateKeyToAccount((await chain.newStakedAccount('nvidia-datacenter')).privateKey);
const serverChain = { rpcUrl: chain.anvil.rpcUrl, chainId: chain.anvil.chainId, stakingAddress: chain.stakingAddress };
const COUNTRIES = ['DE', 'FR', 'NL', 'PL', 'US', 'BR', 'JP', 'SG', 'IN', 'ZA'];
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

function progress(line: string): void {
  process.stderr.write(`bench:indexer ${line}\n`);
}

// ---- 1. pick latency ---------------------------------------------------------------------------------

function pickBench(): { pickUsP50: number; pickUsP99: number; picks: number } {
  const stakes = new ChainStakeGate({
    publicClient: chain.publicClient,
    stakingAddress: chain.stakingAddress,
    log: pino({ level: 'silent' }),
  });
  const hub = new SignalingHub({
    stakes,
    settings: {
      ...DEFAULT_SIGNALING_SETTINGS,
      tokenSecret: randomBytes(32),
      // Leasing straight away: the pick is what is measured, not the browser's probing.
      probe: { ...DEFAULT_SIGNALING_SETTINGS.probe, samples: 0 },
      heartbeatIntervalMs: 600_000,
    },
    log: pino({ level: 'silent' }),
    metrics: createMetrics({ keys: SIGNALING_METRICS, defaultMetrics: false }),
  });
  const provider = `0x${'11'.repeat(20)}`;
  for (let i = 0; i < HOSTS; i++) {
    const peerId = `peer-host-${i}`;
    hub.attach({ id: peerId, send: () => {}, close: () => {} }, { kind: 'node', remoteIp: '127.0.0.1' });
    // Registration's signature check is a one-time cost per host and not part of a pick: register directly.
    const host = hub.hosts.register({
      peerId,
      nowMs: Date.now(),
      message: {
        type: 'register',
        hostId: `bench-host-${i}`,
        providerAddress: provider,
        signature: `0x${'00'.repeat(65)}`,
        region: { country: COUNTRIES[i % COUNTRIES.length] ?? 'DE', lat: 0, lon: 0 },
        gpu: 'bench',
        encoder: 'x264',
        games: [GAME],
        slots: 2,
        priceWeiPerSec: String(1_000_000n + BigInt(i % 97) * 1000n),
        endpoints: { probeUrl: 'ws://127.0.0.1:1/probe', metricsUrl: 'http://127.0.0.1:1/metrics' },
      },
    });
    host.load = (i % 13) / 13;
    host.qualityScore = 0.3 + (i % 7) / 10;
    hub.hosts.setStake(host.hostId, BigInt(i % 5) * 10n ** 18n);
  }
  const picks: number[] = [];
  const warmup = 200;
  for (let j = 0; j < 2_000 + warmup; j++) {
    const peerId = `peer-player-${j}`;
    let sessionId: string | undefined;
    const send = (message: ServerMessage) => {
      if (message.type === 'session') sessionId = message.sessionId;
    };
    hub.attach(
      { id: peerId, send, close: () => {} },
      { kind: 'player', playerId: `p-${j.toString(16).padStart(24, '0')}`, remoteIp: '127.0.0.1' },
    );
    hub.receive(peerId, JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' }));
    hub.receive(peerId, JSON.stringify({ type: 'play', game: GAME.id, codecs: ['H264'] }));
    const session = sessionId ? hub.getSession(sessionId) : undefined;
    if (!session?.decision) throw new Error('bench player was not leased a slot');
    if (j >= warmup) picks.push(session.decision.pickMicros);
    hub.receive(peerId, JSON.stringify({ type: 'quit', sessionId: session.id }));
    hub.detach(peerId, { clean: true });
  }
  hub.close();
  stakes.close();
  picks.sort((a, b) => a - b);
  return {
    pickUsP50: round(percentile(picks, 50), 1),
    pickUsP99: round(percentile(picks, 99), 1),
    picks: picks.length,
  };
}

// ---- 2. sockets and relay ----------------------------------------------------------------------------

type ServerInfo = { wsPlayerUrl: string; wsNodeUrl: string; pid: number };

async function startBenchServer(transport: 'uws' | 'fastify-ws', secretHex: string, limits: BenchLimits) {
  const script = fileURLToPath(new URL('./benchServer.ts', import.meta.url));
  const options: BenchServerOptions = { ...serverChain, limits };
  const child = spawn(process.execPath, ['--import', 'tsx', script, transport, secretHex, JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const info = await new Promise<ServerInfo>((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n')[0];
      if (buffer.includes('\n') && line) resolve(JSON.parse(line) as ServerInfo);
    });
    child.once('exit', (code) => reject(new Error(`bench server exited (${code})`)));
  });
  return { info, stop: () => child.stdin.end() };
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

async function socketBench(transport: 'uws' | 'fastify-ws', limits: BenchLimits) {
  const secret = randomBytes(32);
  const server = await startBenchServer(transport, secret.toString('hex'), limits);
  const hostCount = Math.max(1, Math.round(SOCKETS / 50));
  const slotsPerHost = 25;
  const playerCount = SOCKETS - hostCount;
  const account: PrivateKeyAccount = benchProvider;
  const latenciesMs: number[] = [];
  let measuring = false;

  progress(`${transport} (limits ${limits}): connecting ${hostCount} hosts`);
  const hosts = await inBatches(hostCount, 50, async (i) => {
    const socket = await openSocket(server.info.wsNodeUrl, [WS_SUBPROTOCOL]);
    const hostId = boundHostId(`bench-${i}`, account.address);
    await new Promise<void>((resolve, reject) => {
      socket.on('message', async (raw) => {
        const text = raw.toString();
        if (measuring && text.startsWith('{"type":"ice"')) {
          const message = JSON.parse(text) as { candidate: { candidate: string } | null };
          const sentAt = Number(message.candidate?.candidate.slice('bench '.length));
          latenciesMs.push(performance.now() - sentAt);
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
              region: { country: COUNTRIES[i % COUNTRIES.length], lat: 0, lon: 0 },
              gpu: 'bench',
              encoder: 'x264',
              games: [GAME],
              slots: slotsPerHost,
              priceWeiPerSec: '1000000000000000',
              endpoints: { probeUrl: 'ws://127.0.0.1:1/probe', metricsUrl: 'http://127.0.0.1:1/metrics' },
            }),
          );
        } else if (message.type === 'registered') resolve();
        else if (message.type === 'error') reject(new Error(`host refused: ${message.code}`));
      });
      socket.send(JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'host' }));
    });
    return socket;
  });

  progress(`${transport}: connecting ${playerCount} players`);
  type Player = { socket: WebSocket; sessionId: string | undefined };
  const players = await inBatches(playerCount, 250, async () => {
    const { token } = issuePlayerToken({ secret, ttlSec: 3600 });
    const socket = await openSocket(server.info.wsPlayerUrl, [WS_SUBPROTOCOL, `token.${token}`]);
    const player: Player = { socket, sessionId: undefined };
    await new Promise<void>((resolve) => {
      socket.on('message', (raw) => {
        const message = JSON.parse(raw.toString()) as {
          type: string;
          sessionId?: string;
          candidates?: Array<{ hostId: string }>;
        };
        if (message.type === 'welcome') socket.send(JSON.stringify({ type: 'play', game: GAME.id, codecs: ['H264'] }));
        else if (message.type === 'probe-request') {
          socket.send(
            JSON.stringify({
              type: 'probe-results',
              sessionId: message.sessionId,
              results: (message.candidates ?? []).map((c) => ({ hostId: c.hostId, rttMs: 5 + Math.random() * 40 })),
            }),
          );
        } else if (message.type === 'session') {
          player.sessionId = message.sessionId;
          resolve();
        } else if (message.type === 'queued' || message.type === 'error') resolve();
      });
      socket.send(JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' }));
    });
    return player;
  });

  const open = [...hosts, ...players.map((p) => p.socket)].filter((s) => s.readyState === WebSocket.OPEN).length;
  const leased = players.filter((p) => p.sessionId);
  progress(
    `${transport}: ${open} sockets open, ${leased.length} sessions leased; relaying for ${SECONDS} s at ${RATE}/s`,
  );
  const cpuBefore = cpuMicros(server.info.pid);
  measuring = true;
  const perTick = Math.max(1, Math.round(RATE / 100));
  let sent = 0;
  await new Promise<void>((resolve) => {
    const started = performance.now();
    const timer = setInterval(() => {
      for (let k = 0; k < perTick; k++) {
        const player = leased[(sent + k) % leased.length];
        player?.socket.send(
          JSON.stringify({
            type: 'ice',
            sessionId: player.sessionId,
            candidate: { candidate: `bench ${performance.now()}` },
          }),
        );
      }
      sent += perTick;
      if (performance.now() - started >= SECONDS * 1000) {
        clearInterval(timer);
        setTimeout(resolve, 500);
      }
    }, 10);
  });
  measuring = false;
  const serverCpuUsPerMessage = round((cpuMicros(server.info.pid) - cpuBefore) / Math.max(1, sent), 1);
  const serverRssMb = rssMb(server.info.pid);
  for (const socket of [...hosts, ...players.map((p) => p.socket)]) socket.terminate();
  server.stop();
  latenciesMs.sort((a, b) => a - b);
  return {
    sockets: open,
    relayed: latenciesMs.length,
    sent,
    relayMsP50: round(percentile(latenciesMs, 50)),
    relayMsP99: round(percentile(latenciesMs, 99)),
    serverRssMb,
    serverCpuUsPerMessage,
  };
}

progress(`pick over ${HOSTS} hosts`);
const pick = pickBench();
if (process.argv.includes('--pick-only')) {
  console.log(JSON.stringify({ bench: 'indexer', hosts: HOSTS, ...pick, machine: machineInfo() }));
  await chain.close();
  process.exit(0);
}
const uws = await socketBench('uws', 'on');
await new Promise((resolve) => setTimeout(resolve, 1000));
const uwsUnlimited = await socketBench('uws', 'off');
await new Promise((resolve) => setTimeout(resolve, 1000));
const fastifyWs = await socketBench('fastify-ws', 'on');
await chain.close();
const overheadPct = (on: number, off: number) => round(((on - off) / Math.max(off, 1e-9)) * 100, 1);
console.log(
  JSON.stringify({
    bench: 'indexer',
    hosts: HOSTS,
    pickUsP50: pick.pickUsP50,
    pickUsP99: pick.pickUsP99,
    limits: 'on',
    sockets: uws.sockets,
    relayMsP50: uws.relayMsP50,
    relayMsP99: uws.relayMsP99,
    relayMsP50LimitsOff: uwsUnlimited.relayMsP50,
    relayMsP99LimitsOff: uwsUnlimited.relayMsP99,
    limitsOverheadPct: overheadPct(uws.relayMsP99, uwsUnlimited.relayMsP99),
    serverCpuUsPerRelay: uws.serverCpuUsPerMessage,
    serverCpuUsPerRelayLimitsOff: uwsUnlimited.serverCpuUsPerMessage,
    limitsCpuOverheadPct: overheadPct(uws.serverCpuUsPerMessage, uwsUnlimited.serverCpuUsPerMessage),
    relayMsP99FastifyWs: fastifyWs.relayMsP99,
    relayMsP50FastifyWs: fastifyWs.relayMsP50,
    socketsFastifyWs: fastifyWs.sockets,
    relayed: uws.relayed,
    serverRssMb: uws.serverRssMb,
    serverRssMbFastifyWs: fastifyWs.serverRssMb,
    serverCpuUsPerRelayFastifyWs: fastifyWs.serverCpuUsPerMessage,
    machine: machineInfo(),
  }),
);
process.exit(0);
