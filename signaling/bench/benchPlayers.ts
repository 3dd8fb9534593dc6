/**
 * A load generator of `bench:indexer`: a share of the bench's players in a process of its own, so that no
 * process holds more sockets than a common descriptor limit allows (20,000 sockets do not fit in one process
 * under `ulimit -n 20000`).
 *
 * It connects `--players` players to `--url` (tokens minted with the bench's secret), each asking to play and
 * answering its probe request, then prints `{"open":N,"leased":M}`. On a `go SECONDS RATE [even|burst]` line it
 * sends ICE for its leased sessions at RATE per second for SECONDS (paced: see `relay`), each stamped with
 * `process.hrtime` (the system's
 * monotonic clock: the bench's hosts, in another process, read the same clock), and prints `{"sent":N}`.
 * It ends when stdin closes (the bench ended, however it ended) or on SIGTERM.
 *
 *   benchPlayers.ts --url WS_PLAYER_URL --secret HEX --players N --game ID
 */
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { issuePlayerToken } from '../auth/playerTokens.js';
import { PROTOCOL_VERSION, WS_SUBPROTOCOL } from '../protocol/index.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: '' },
    secret: { type: 'string', default: '' },
    players: { type: 'string', default: '0' },
    game: { type: 'string', default: 'bench-game' },
  },
});

type Player = { socket: WebSocket; sessionId: string | undefined };
const players: Player[] = [];

function end(): void {
  for (const player of players) player.socket.terminate();
  process.exit(0);
}
process.stdin.on('end', end);
process.stdin.on('error', end);
process.on('SIGTERM', end);

function openSocket(url: string, protocols: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, { perMessageDeflate: false });
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function connectPlayer(): Promise<Player> {
  const { token } = issuePlayerToken({ secret: Buffer.from(values.secret ?? '', 'hex'), ttlSec: 3600 });
  const socket = await openSocket(values.url ?? '', [WS_SUBPROTOCOL, `token.${token}`]);
  const player: Player = { socket, sessionId: undefined };
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 15_000);
    socket.on('message', (raw) => {
      const message = JSON.parse(raw.toString()) as {
        type: string;
        sessionId?: string;
        candidates?: Array<{ hostId: string }>;
      };
      if (message.type === 'welcome')
        socket.send(JSON.stringify({ type: 'play', game: values.game, codecs: ['H264'] }));
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
        clearTimeout(timer);
        resolve();
      } else if (message.type === 'queued' || message.type === 'error') {
        clearTimeout(timer);
        resolve();
      }
    });
    socket.send(JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' }));
  });
  return player;
}

const count = Number(values.players);
for (let start = 0; start < count; start += 250) {
  const batch = await Promise.all(Array.from({ length: Math.min(250, count - start) }, () => connectPlayer()));
  players.push(...batch);
}
const leased = players.filter((p) => p.sessionId);
console.log(
  JSON.stringify({ open: players.filter((p) => p.socket.readyState === WebSocket.OPEN).length, leased: leased.length }),
);

function sendIce(n: number): void {
  const player = leased[n % leased.length];
  player?.socket.send(
    JSON.stringify({
      type: 'ice',
      sessionId: player.sessionId,
      candidate: { candidate: `bench ${process.hrtime.bigint()}` },
    }),
  );
}

/**
 * Sends ICE at `rate` per second for `seconds`. `even`: one message every 1000/rate ms from a random phase,
 * as independent players' messages arrive (a late timer sends what is due at once). `burst`: rate/100 messages
 * back to back every 10 ms — the load generators used to do this, in step with one another, so a message
 * could queue behind twenty others sent in the same millisecond, a queue the generators made, not the players.
 */
function relay(seconds: number, rate: number, pacing: string): Promise<number> {
  if (leased.length === 0) return Promise.resolve(0);
  if (pacing === 'burst') {
    const perTick = Math.max(1, Math.round(rate / 100));
    let sent = 0;
    return new Promise((resolve) => {
      const started = performance.now();
      const timer = setInterval(() => {
        for (let k = 0; k < perTick; k++) sendIce(sent + k);
        sent += perTick;
        if (performance.now() - started >= seconds * 1000) {
          clearInterval(timer);
          resolve(sent);
        }
      }, 10);
    });
  }
  const gapMs = 1000 / rate;
  const total = Math.max(1, Math.round(seconds * rate));
  const startMs = performance.now() + Math.random() * gapMs;
  let sent = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const nowMs = performance.now();
      while (sent < total && startMs + sent * gapMs <= nowMs) sendIce(sent++);
      if (sent >= total) resolve(sent);
      else setTimeout(tick, Math.max(0, startMs + sent * gapMs - performance.now()));
    };
    setTimeout(tick, Math.max(0, startMs - performance.now()));
  });
}

// This process's own event-loop delay and GC pauses while it sends: a late generator delays nothing it stamps
// (a message is stamped as it is written), but its pauses are the machine's, shared with the servers.
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
let gcPauses: number[] = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcPauses.push(entry.duration);
}).observe({ entryTypes: ['gc'] });
for await (const line of createInterface({ input: process.stdin })) {
  const [word, seconds, rate, pacing] = line.trim().split(/\s+/);
  if (word !== 'go') continue;
  loopDelay.reset();
  loopDelay.enable();
  gcPauses = [];
  const cpuBefore = process.cpuUsage();
  const sent = await relay(Number(seconds), Number(rate), pacing ?? 'even');
  loopDelay.disable();
  const cpu = process.cpuUsage(cpuBefore);
  console.log(
    JSON.stringify({
      sent,
      eventLoopDelayMsP99: Math.round(loopDelay.percentile(99) / 1e4) / 100,
      eventLoopDelayMsMax: Math.round(loopDelay.max / 1e4) / 100,
      gcPauseMsMax: Math.round(Math.max(0, ...gcPauses) * 100) / 100,
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    }),
  );
}
end();
