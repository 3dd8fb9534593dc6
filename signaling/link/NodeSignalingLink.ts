/**
 * A node's connection to signaling's `/ws/node` — what a render host and a checker both keep. Node.js only
 * (the `ws` client), so it lives apart from `signaling/protocol/`, which the browser bundle imports.
 *
 * On every (re)connect it says `hello` in the node's role; each frame from signaling is validated and handed
 * on (an invalid one is logged and dropped, the connection stays); when the connection goes away it tells
 * the owner and reconnects with exponential backoff, 250 ms doubling to 5 s, until closed. The backoff starts
 * over only when the owner reports that signaling accepted it (`accepted()`, on registration): a connection
 * that opens but is then refused keeps backing off instead of hammering signaling.
 *
 * Given several URLs (signaling servers sharing one Redis), each reconnect tries the next one: when the server
 * it was on goes down, the node is on another within one backoff step (250 ms) and re-registers there.
 */
import type { Logger } from 'pino';
import WebSocket from 'ws';
import {
  type PeerMessage,
  type PeerMessageOf,
  PROTOCOL_VERSION,
  parseServerMessage,
  type ServerMessage,
  WS_SUBPROTOCOL,
} from '../protocol/index.js';
import { wsTlsOptions } from './trustedConnections.js';

export const RECONNECT_MIN_MS = 250;
export const RECONNECT_MAX_MS = 5_000;

export type NodeSignalingLinkParameters = {
  /** `ws://…/ws/node` (or `wss://`) of the signaling server, or of each of several sharing one network (tried in turn). */
  url: string | readonly string[];
  /** A PEM certificate to trust for a `wss:` URL beside the system's CAs (`tls.caFile`: private CA, self-signed). */
  ca?: string;
  hello: Pick<PeerMessageOf<'hello'>, 'role' | 'agent'>;
  log: Logger;
  /** Each valid message, in order of arrival; a rejection is logged with the message type. */
  onMessage: (message: ServerMessage) => Promise<void> | void;
  /** The connection went away (not after `close()`); a reconnect is already scheduled. */
  onDisconnected: (code: number) => void;
};

export class NodeSignalingLink {
  readonly #p: NodeSignalingLinkParameters;
  readonly #urls: readonly string[];
  #urlIndex = 0;
  #socket: WebSocket | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #reconnectDelayMs = RECONNECT_MIN_MS;
  #closed = false;
  /** Settles `start()`: the first acceptance, or a refusal before it. */
  #firstAnswer: { resolve: () => void; reject: (error: Error) => void } | undefined;

  constructor(params: NodeSignalingLinkParameters) {
    this.#p = params;
    this.#urls = typeof params.url === 'string' ? [params.url] : [...params.url];
    if (this.#urls.length === 0) throw new Error('NodeSignalingLink needs at least one URL');
  }

  /** The signaling URL the current (or next) connection uses. */
  get url(): string {
    return this.#urls[this.#urlIndex % this.#urls.length] as string;
  }

  get open(): boolean {
    return this.#socket?.readyState === WebSocket.OPEN;
  }

  /** The delay before the next reconnect (tests and logs). */
  get reconnectDelayMs(): number {
    return this.#reconnectDelayMs;
  }

  /** Connects; resolves once the owner reports `accepted()`, rejects if it reports `refusedAtStart()` first. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#firstAnswer = { resolve, reject };
      this.connect();
    });
  }

  connect(): void {
    if (this.#closed) return;
    const { log } = this.#p;
    const socket = new WebSocket(this.url, [WS_SUBPROTOCOL], wsTlsOptions(this.#p.ca));
    this.#socket = socket;
    socket.on('open', () => this.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, ...this.#p.hello }));
    socket.on('message', (data, isBinary) => {
      let message: ServerMessage;
      try {
        message = parseServerMessage(isBinary ? new Uint8Array(data as Buffer) : data.toString());
      } catch (error) {
        log.warn({ err: error }, 'invalid frame from signaling ignored');
        return;
      }
      Promise.resolve()
        .then(() => this.#p.onMessage(message))
        .catch((error: unknown) => log.error({ err: error, type: message.type }, 'handler failed'));
    });
    socket.on('error', (error) => log.warn({ err: error }, 'signaling connection error'));
    socket.on('close', (code) => this.#onClose(socket, code));
  }

  /** Sends when connected; a message sent while disconnected is dropped (the owner re-syncs on registration). */
  send(message: PeerMessage): void {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }

  /** Signaling accepted this node: `start()` resolves, and the next reconnect starts from the shortest delay. */
  accepted(): void {
    this.#reconnectDelayMs = RECONNECT_MIN_MS;
    this.#firstAnswer?.resolve();
    this.#firstAnswer = undefined;
  }

  /**
   * Signaling refused this node. Before its first acceptance that fails `start()` with `error` and returns
   * true; later (a reconnect refused) it returns false and the owner decides.
   */
  refusedAtStart(error: Error): boolean {
    const first = this.#firstAnswer;
    if (!first) return false;
    this.#firstAnswer = undefined;
    first.reject(error);
    return true;
  }

  /** Ends this connection; the usual reconnect (with backoff) follows. */
  drop(code: number, reason: string): void {
    this.#socket?.close(code, reason);
  }

  /** Ends the connection for good: no reconnect, no `onDisconnected`. */
  close(code: number, reason: string): void {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    this.#socket?.close(code, reason);
  }

  #onClose(socket: WebSocket, code: number): void {
    // A connection replaced since (a reconnect raced its close) is not the node's connection any more.
    if (socket !== this.#socket || this.#closed) return;
    // Next time, the next server (with one server: the same one).
    this.#urlIndex = (this.#urlIndex + 1) % this.#urls.length;
    this.#p.log.warn(
      { code, retryInMs: this.#reconnectDelayMs, next: this.url },
      'signaling connection lost; reconnecting',
    );
    this.#reconnectTimer = setTimeout(() => this.connect(), this.#reconnectDelayMs);
    this.#reconnectDelayMs = Math.min(RECONNECT_MAX_MS, this.#reconnectDelayMs * 2);
    this.#p.onDisconnected(code);
  }
}
