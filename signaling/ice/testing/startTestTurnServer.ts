/**
 * A throw-away coturn (Debian's `turnserver`) for tests and benchmarks: loopback (or the address given),
 * free ports, a random `static-auth-secret`, TURN over UDP and TCP on one port and TLS on another (a
 * self-signed pair made for it), relay ports in a small random range. coturn refuses to relay to loopback
 * and other special peers unless told: `allowLoopbackPeers` is on for tests on one machine. Stopped by
 * `close()`, and killed when the process exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AthError } from '../../protocol/index.js';
import { createSelfSignedCertificate } from '../../tls/createSelfSignedCertificate.js';

export const TURNSERVER_PATH = '/usr/bin/turnserver';

export type StartTestTurnServerParameters = {
  /** Where coturn listens and relays from (default 127.0.0.1). */
  listenIp?: string;
  /** The realm coturn names in its 401 challenges (default `ath-edge.test`). */
  realm?: string;
  allowLoopbackPeers?: boolean;
  /**
   * Peer addresses coturn must never relay to (`--denied-peer-ip`: `10.1.1.0-10.1.1.255` or one address), as a
   * production coturn denies its operator's private ranges (README "Players behind firewalls").
   */
  deniedPeerIps?: readonly string[];
  /** Start-up timeout (default 10 s). */
  timeoutMs?: number;
};

export type TestTurnServer = {
  readonly secret: string;
  readonly listenIp: string;
  /** TURN over UDP and TCP. */
  readonly port: number;
  /** TURN over TLS (`turns:`). */
  readonly tlsPort: number;
  /** `turn:IP:PORT?transport=udp`, `…?transport=tcp`, `turns:IP:TLSPORT?transport=tcp`. */
  readonly urls: { udp: string; tcp: string; tls: string };
  /** The self-signed certificate coturn presents on its TLS port (PEM). */
  readonly certPem: string;
  /** coturn's output so far (its log goes to stdout). */
  log(): string;
  close(): Promise<void>;
};

/** Whether coturn is installed; tests skip with this reason when it is not. */
export function turnServerMissingReason(): string | undefined {
  return existsSync(TURNSERVER_PATH)
    ? undefined
    : `coturn is not installed (${TURNSERVER_PATH}): apt-get install coturn`;
}

async function freePort(host: string): Promise<number> {
  // A port free for TCP; coturn listens on it for UDP too (a clash shows as a failed start: retried).
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** One STUN Binding request over UDP (RFC 5389): coturn answers once it listens. */
function stunAnswers(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const request = Buffer.alloc(20);
    request.writeUInt16BE(0x0001, 0);
    request.writeUInt16BE(0, 2);
    request.writeUInt32BE(0x2112a442, 4);
    randomBytes(12).copy(request, 8);
    const timer = setTimeout(() => finish(false), timeoutMs);
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    socket.on('message', (data) => finish(data.length >= 20 && data.readUInt16BE(0) === 0x0101));
    socket.on('error', () => finish(false));
    socket.send(request, port, host);
  });
}

function tcpAccepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startTestTurnServer({
  listenIp = '127.0.0.1',
  realm = 'ath-edge.test',
  allowLoopbackPeers = true,
  deniedPeerIps = [],
  timeoutMs = 10_000,
}: StartTestTurnServerParameters = {}): Promise<TestTurnServer> {
  const missing = turnServerMissingReason();
  if (missing) throw new AthError({ code: 'ATH_ERR_TEST_TURN', shortMessage: missing });
  const dir = mkdtempSync(join(tmpdir(), 'ath-coturn-'));
  const { certPem, keyPem } = await createSelfSignedCertificate({ hosts: [listenIp, 'localhost'] });
  writeFileSync(join(dir, 'cert.pem'), certPem);
  writeFileSync(join(dir, 'key.pem'), keyPem, { mode: 0o600 });
  const secret = randomBytes(24).toString('hex');
  let lastLog = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort(listenIp);
    const tlsPort = await freePort(listenIp);
    // 64 relay ports somewhere in 49152–65471: tests running at once rarely meet.
    const minPort = 49152 + randomInt(0, 255) * 64;
    const args = [
      '-n',
      '--no-cli',
      `--listening-ip=${listenIp}`,
      `--relay-ip=${listenIp}`,
      `--listening-port=${port}`,
      `--tls-listening-port=${tlsPort}`,
      // coturn also opens port+1 / tlsPort+1 "alternative" listeners unless told not to.
      '--no-rfc5780',
      '--no-stun-backward-compatibility',
      `--min-port=${minPort}`,
      `--max-port=${minPort + 63}`,
      '--use-auth-secret',
      `--static-auth-secret=${secret}`,
      `--realm=${realm}`,
      `--cert=${join(dir, 'cert.pem')}`,
      `--pkey=${join(dir, 'key.pem')}`,
      '--no-dtls',
      '--fingerprint',
      `--pidfile=${join(dir, 'turnserver.pid')}`,
      `--db=${join(dir, 'turndb')}`,
      '--log-file=stdout',
      '--simple-log',
      // Sessions and their usernames in the log: tests check whose credentials allocated a relay.
      '--verbose',
      ...(allowLoopbackPeers ? ['--allow-loopback-peers'] : []),
      ...deniedPeerIps.map((range) => `--denied-peer-ip=${range}`),
    ];
    const child = spawn(TURNSERVER_PATH, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const append = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-64_000);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const started = Date.now();
    let ready = false;
    while (!ready && child.exitCode === null && Date.now() - started < timeoutMs) {
      ready = (await stunAnswers(listenIp, port, 300)) && (await tcpAccepts(listenIp, tlsPort));
    }
    if (ready) {
      return turnServerHandle({ child, exited, dir, secret, listenIp, port, tlsPort, certPem, output: () => output });
    }
    child.kill('SIGKILL');
    await exited;
    lastLog = output;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new AthError({
    code: 'ATH_ERR_TEST_TURN',
    shortMessage: 'coturn did not start',
    details: lastLog.slice(-2000),
  });
}

function turnServerHandle(p: {
  child: ChildProcess;
  exited: Promise<void>;
  dir: string;
  secret: string;
  listenIp: string;
  port: number;
  tlsPort: number;
  certPem: string;
  output: () => string;
}): TestTurnServer {
  const host = p.listenIp.includes(':') ? `[${p.listenIp}]` : p.listenIp;
  const killOnExit = () => p.child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let closing: Promise<void> | undefined;
  return {
    secret: p.secret,
    listenIp: p.listenIp,
    port: p.port,
    tlsPort: p.tlsPort,
    urls: {
      udp: `turn:${host}:${p.port}?transport=udp`,
      tcp: `turn:${host}:${p.port}?transport=tcp`,
      tls: `turns:${host}:${p.tlsPort}?transport=tcp`,
    },
    certPem: p.certPem,
    log: p.output,
    close: () => {
      closing ??= (async () => {
        process.removeListener('exit', killOnExit);
        if (p.child.exitCode === null && p.child.signalCode === null) {
          p.child.kill('SIGTERM');
          const timer = setTimeout(() => p.child.kill('SIGKILL'), 2_000);
          await p.exited;
          clearTimeout(timer);
        }
        rmSync(p.dir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}
