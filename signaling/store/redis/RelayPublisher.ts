/**
 * A reply-less publisher for the instances' direct messages (relays: ICE, SDP, a host's frames for its session's
 * owner). It holds its own TCP connection to Redis, switched to `CLIENT REPLY OFF` once it is set up, and writes
 * each batch of PUBLISH commands RESP-encoded by hand in one `write`: no command object, no promise, no timeout,
 * and no reply — so Redis does not write one back and this process is not woken to read and parse it. A relay's
 * cost on the sending instance is then the one system call that sends it.
 *
 * Pub/sub already delivers at most once (a message published while the receiver is away is lost), so nothing is
 * lost here that the ioredis path would have kept: while this connection is not up (connecting, Redis restarting,
 * an error), `publish` answers `down` and the caller sends through its ordinary client instead. It reconnects by
 * itself (100 ms × attempt, at most 1 s apart), also when Redis answered its set-up with an error that passes
 * (LOADING after a restart, BUSY during a long script); another refusal (a wrong password) is for good.
 * Ordering: the caller uses its client only while this connection is down, and comes back once nothing it sent that
 * way is still waiting for its reply, so one instance's messages to another keep their order across a switch.
 *
 * Only `redis://` URLs (user, password and database as ioredis reads them; the database does not matter to pub/sub).
 * Another scheme (`rediss://`: TLS) leaves it unused: every batch then goes through the ordinary client.
 */
import { connect, type Socket } from 'node:net';
import type { Logger } from 'pino';

export type OpenRelayPublisherParameters = {
  /** `redis://[user:password@]host:port[/db]`. */
  url: string;
  log: Logger;
  /** CLIENT SETNAME (letters, digits, dashes). Default `ath-signaling-relay`. */
  connectionName?: string;
  /** While more than this is written but not yet taken by the kernel, `publish` refuses (the caller falls back). */
  maxBufferedBytes?: number;
};

/** What became of a batch handed to `publish`. */
export type RelayPublishResult = 'sent' | 'busy' | 'down';

/** Set-up errors that pass (answered by Redis for a while, then not): retried, not a reason to give up. */
const TRANSIENT = /^-(LOADING|BUSY|MASTERDOWN|TRYAGAIN)\b/;

/** How long a connection attempt, set-up included, may take before it is dropped and retried. */
const CONNECT_TIMEOUT_MS = 3_000;

export class RelayPublisher {
  readonly #host: string;
  readonly #port: number;
  readonly #auth: string[] | undefined;
  readonly #name: string;
  readonly #maxBuffered: number;
  readonly #log: Logger;
  #socket: Socket | undefined;
  #ready = false;
  #attempt = 0;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;
  /** Set when Redis refused the set-up (no CLIENT REPLY, bad password): the ordinary client does everything. */
  #disabled = false;
  /** Batches written since the connection came up (for tests and the bench). */
  #written = 0;

  constructor({
    url,
    log,
    connectionName = 'ath-signaling-relay',
    maxBufferedBytes = 4 * 2 ** 20,
  }: OpenRelayPublisherParameters) {
    this.#log = log.child({ mod: 'signaling/store/redis/relay' });
    this.#name = connectionName;
    this.#maxBuffered = maxBufferedBytes;
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    this.#host = parsed?.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
    this.#port = Number(parsed?.port || 6379);
    const user = parsed ? decodeURIComponent(parsed.username) : '';
    const password = parsed ? decodeURIComponent(parsed.password) : '';
    this.#auth = password ? (user ? ['AUTH', user, password] : ['AUTH', password]) : undefined;
    if (parsed?.protocol !== 'redis:') {
      this.#disabled = true;
      return;
    }
    this.#connect();
  }

  /** True while batches go this way. */
  get ready(): boolean {
    return this.#ready;
  }

  /** True once Redis refused the set-up or answered a relay: it stays unused (the caller's client does it all). */
  get refused(): boolean {
    return this.#disabled;
  }

  get written(): number {
    return this.#written;
  }

  /**
   * Publishes each `[channel, payload]` in order, in one write: `sent`. Nothing is sent when this connection is
   * not up (`down`: the caller may send another way) or has more than `maxBufferedBytes` not yet taken by the
   * kernel (`busy`: what it holds would be overtaken by another way; the caller waits for `drained()`).
   */
  publish(batches: ReadonlyArray<readonly [channel: string, payload: string]>): RelayPublishResult {
    const socket = this.#socket;
    if (!this.#ready || !socket) return 'down';
    if (socket.writableLength > this.#maxBuffered) return 'busy';
    let text = '';
    for (const [channel, payload] of batches) {
      text += `*3\r\n$7\r\nPUBLISH\r\n$${Buffer.byteLength(channel)}\r\n${channel}\r\n$${Buffer.byteLength(payload)}\r\n${payload}\r\n`;
    }
    socket.write(text);
    this.#written += 1;
    return 'sent';
  }

  /** True once this connection takes batches again (no longer `busy`); false if it goes down first. */
  drained(): Promise<boolean> {
    const socket = this.#socket;
    if (!this.#ready || !socket) return Promise.resolve(false);
    if (socket.writableLength <= this.#maxBuffered) return Promise.resolve(true);
    return new Promise((resolve) => {
      const settle = (ok: boolean) => {
        socket.off('drain', onDrain);
        socket.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => settle(true);
      const onClose = () => settle(false);
      socket.on('drain', onDrain);
      socket.on('close', onClose);
    });
  }

  /** Idempotent. What was written leaves before the connection closes. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ready = false;
    clearTimeout(this.#retry);
    this.#socket?.end();
    this.#socket = undefined;
  }

  #connect(): void {
    if (this.#closed || this.#disabled) return;
    const socket = connect({ host: this.#host, port: this.#port, noDelay: true });
    this.#socket = socket;
    const timeout = setTimeout(() => socket.destroy(new Error('connecting to Redis timed out')), CONNECT_TIMEOUT_MS);
    timeout.unref();
    // The set-up's commands are answered (+OK / +PONG, or an error); once REPLY OFF is sent, nothing should come.
    const setup = [...(this.#auth ? [this.#auth] : []), ['CLIENT', 'SETNAME', this.#name], ['PING']];
    let answered = 0;
    let pending = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      socket.write(setup.map(encode).join(''));
    });
    socket.on('data', (chunk: string) => {
      if (this.#ready) {
        // A reply now means REPLY OFF did not take (e.g. refused): stop using this connection.
        this.#refuse(socket, `unexpected reply from Redis: ${chunk.slice(0, 80)}`);
        return;
      }
      pending += chunk;
      let end = pending.indexOf('\r\n');
      while (end >= 0) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 2);
        if (!line.startsWith('+')) {
          if (TRANSIENT.test(line)) {
            // Redis loading its data after a restart, running a long script, a replica without its primary: the
            // connection is dropped and set up again later (the `close` handler retries), not given up for good.
            this.#log.debug({ reply: line.slice(0, 120) }, 'Redis cannot set the relay connection up yet');
            socket.destroy();
            return;
          }
          this.#refuse(socket, `Redis refused the relay connection's set-up: ${line.slice(0, 120)}`);
          return;
        }
        answered += 1;
        end = pending.indexOf('\r\n');
      }
      if (answered === setup.length) {
        clearTimeout(timeout);
        socket.write(encode(['CLIENT', 'REPLY', 'OFF']));
        this.#ready = true;
        this.#attempt = 0;
        this.#log.debug('relay publisher connected');
      }
    });
    socket.on('error', (error) => this.#log.debug({ err: error }, 'relay publisher connection failed'));
    socket.on('close', () => {
      clearTimeout(timeout);
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      const wasReady = this.#ready;
      this.#ready = false;
      if (this.#closed || this.#disabled) return;
      if (wasReady) this.#log.info('relay publisher disconnected; relays go through the command connection meanwhile');
      this.#attempt += 1;
      this.#retry = setTimeout(() => this.#connect(), Math.min(100 * this.#attempt, 1_000));
      this.#retry.unref();
    });
  }

  #refuse(socket: Socket, reason: string): void {
    this.#log.warn({ reason }, 'relay publisher not used: relays go through the command connection');
    this.#disabled = true;
    this.#ready = false;
    this.#socket = undefined;
    socket.destroy();
  }
}

function encode(args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
}
