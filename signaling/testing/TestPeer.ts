/**
 * A scripted signaling peer for tests: a real WebSocket client (ws) that validates every frame it gets with
 * the protocol's own parser and lets a test await the next message of a given type.
 */
import WebSocket from 'ws';
import {
  type PeerMessage,
  parseServerMessage,
  type ServerMessage,
  type ServerMessageOf,
  type ServerMessageType,
  WS_SUBPROTOCOL,
} from '../protocol/index.js';

type Waiter = { types: readonly ServerMessageType[]; resolve: (m: ServerMessage) => void; reject: (e: Error) => void };

export class TestPeer {
  readonly received: ServerMessage[] = [];
  readonly #socket: WebSocket;
  readonly #waiters: Waiter[] = [];
  #closed: { code: number; reason: string } | undefined;
  readonly #closedWaiters: Array<(c: { code: number; reason: string }) => void> = [];

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.on('message', (data, isBinary) => {
      const message = parseServerMessage(isBinary ? new Uint8Array(data as Buffer) : data.toString());
      const waiter = this.#waiters.findIndex((w) => w.types.includes(message.type));
      if (waiter >= 0) {
        const [w] = this.#waiters.splice(waiter, 1);
        w?.resolve(message);
      } else {
        this.received.push(message);
      }
    });
    socket.on('close', (code, reason) => {
      this.#closed = { code, reason: reason.toString() };
      for (const w of this.#waiters.splice(0)) {
        w.reject(new Error(`socket closed (${code}) waiting for ${w.types.join(' or ')}`));
      }
      for (const resolve of this.#closedWaiters.splice(0)) resolve(this.#closed);
    });
  }

  /** Opens a connection; `token` makes it a player connection (`/ws/player`). */
  static open(
    url: string,
    {
      token,
      protocols,
      origin,
      ca,
      localAddress,
      headers,
    }: {
      token?: string;
      protocols?: string[];
      /** The page's Origin header. */
      origin?: string;
      /** A PEM certificate to trust for a wss: URL (a test's self-signed one). */
      ca?: string;
      /** Source address of the connection (any 127.x.y.z on loopback: another "machine" for per-IP rules). */
      localAddress?: string;
      /** Extra upgrade request headers (X-Forwarded-For as a proxy would send it). */
      headers?: Record<string, string>;
    } = {},
  ): Promise<TestPeer> {
    const list = protocols ?? [WS_SUBPROTOCOL, ...(token ? [`token.${token}`] : [])];
    const socket = new WebSocket(url, list, {
      ...(origin ? { origin } : {}),
      ...(ca ? { ca } : {}),
      ...(localAddress ? { localAddress } : {}),
      ...(headers ? { headers } : {}),
    });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new TestPeer(socket)));
      socket.once('unexpected-response', (_req, res) => {
        const error = Object.assign(new Error(`upgrade refused: ${res.statusCode}`), {
          statusCode: res.statusCode,
          retryAfter: res.headers['retry-after'],
        });
        res.resume();
        reject(error);
      });
      socket.once('error', reject);
    });
  }

  send(message: PeerMessage): void {
    this.#socket.send(JSON.stringify(message));
  }

  sendRaw(data: string | Buffer): void {
    this.#socket.send(data);
  }

  /** The next message of this type (already received or still to come), within `timeoutMs`. */
  next<K extends ServerMessageType>(type: K, timeoutMs = 10_000): Promise<ServerMessageOf<K>> {
    return this.nextOf([type], timeoutMs);
  }

  /** The next message of any of these types (e.g. `registered` or `error`), within `timeoutMs`. */
  nextOf<K extends ServerMessageType>(types: readonly K[], timeoutMs = 10_000): Promise<ServerMessageOf<K>> {
    const index = this.received.findIndex((m) => (types as readonly ServerMessageType[]).includes(m.type));
    if (index >= 0) {
      const [message] = this.received.splice(index, 1);
      return Promise.resolve(message as ServerMessageOf<K>);
    }
    // Closed already: nothing more can come (not a wait of the whole timeout for it).
    if (this.#closed) {
      return Promise.reject(new Error(`socket closed (${this.#closed.code}) waiting for ${types.join(' or ')}`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        types,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as ServerMessageOf<K>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`timed out waiting for \`${types.join('` or `')}\``));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** The connection closed (by either side). */
  get isClosed(): boolean {
    return this.#closed !== undefined;
  }

  closed(): Promise<{ code: number; reason: string }> {
    if (this.#closed) return Promise.resolve(this.#closed);
    return new Promise((resolve) => this.#closedWaiters.push(resolve));
  }

  close(): void {
    this.#socket.close(1000);
  }

  /** Drops the TCP connection without a close frame, like a network blip. */
  terminate(): void {
    this.#socket.terminate();
  }
}
