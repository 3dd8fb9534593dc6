/**
 * The player's signaling WebSocket: opens with the token in the subprotocol (`ath-edge.v1`,
 * `token.<token>`), says `hello`, waits for `welcome`, and from then on hands every frame — validated by
 * `parseServerMessage` — to its listener. It never reconnects by itself: `AthPlayer` owns that policy.
 */
import {
  AthError,
  encodeMessage,
  type MESSAGES_BY_ROLE,
  type PeerMessageOf,
  PROTOCOL_VERSION,
  parseServerMessage,
  type ServerMessage,
  type ServerMessageOf,
  WS_SUBPROTOCOL,
} from '../../signaling/protocol/index.js';
import { ClientErrorCode } from '../errors.js';

export type PlayerMessageType = (typeof MESSAGES_BY_ROLE)['player'][number];
export type PlayerMessage = { [K in PlayerMessageType]: PeerMessageOf<K> }[PlayerMessageType];

export type WebSocketLike = Pick<WebSocket, 'send' | 'close' | 'readyState' | 'protocol'> & {
  binaryType: BinaryType;
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
};
export type WebSocketFactory = (url: string, protocols: string[]) => WebSocketLike;

export type SignalingCloseInfo = { code: number; reason: string; wasClean: boolean };

export type SignalingClientListeners = {
  /** A validated frame from the server. */
  message(message: ServerMessage): void;
  /** A frame that failed validation (it is dropped; the connection stays up). */
  invalid(error: AthError): void;
  /** The connection ended without `close()` being called. */
  closed(info: SignalingCloseInfo): void;
};

export type ConnectSignalingParameters = {
  url: string;
  token: string;
  listeners: SignalingClientListeners;
  createSocket?: WebSocketFactory;
  /** Time for open + `hello` → `welcome`. */
  timeoutMs?: number;
  agent?: string;
};

const OPEN = 1;
const DEFAULT_TIMEOUT_MS = 8_000;

export class SignalingClient {
  readonly welcome: ServerMessageOf<'welcome'>;
  readonly #socket: WebSocketLike;
  #closed = false;

  private constructor(socket: WebSocketLike, welcome: ServerMessageOf<'welcome'>, listeners: SignalingClientListeners) {
    this.#socket = socket;
    this.welcome = welcome;
    socket.onmessage = (event) => {
      let message: ServerMessage;
      try {
        message = parseServerMessage(frameData(event.data));
      } catch (error) {
        listeners.invalid(asBadFrame(error));
        return;
      }
      listeners.message(message);
    };
    socket.onclose = (event) => {
      if (this.#closed) return;
      this.#closed = true;
      listeners.closed({ code: event.code, reason: event.reason, wasClean: event.wasClean });
    };
    socket.onerror = null;
  }

  /** Opens the socket and completes the `hello`/`welcome` handshake; rejects with an AthError. */
  static connect({
    url,
    token,
    listeners,
    createSocket = (u, p) => new WebSocket(u, p),
    timeoutMs = DEFAULT_TIMEOUT_MS,
    agent,
  }: ConnectSignalingParameters): Promise<SignalingClient> {
    return new Promise((resolve, reject) => {
      let socket: WebSocketLike;
      try {
        socket = createSocket(url, [WS_SUBPROTOCOL, `token.${token}`]);
      } catch (cause) {
        reject(unreachable('cannot open the signaling WebSocket', cause));
        return;
      }
      socket.binaryType = 'arraybuffer';
      let settled = false;
      const fail = (error: AthError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
        if (socket.readyState <= OPEN) socket.close(1000);
        reject(error);
      };
      const timer = setTimeout(() => fail(unreachable('signaling did not answer in time')), timeoutMs);
      socket.onopen = () => {
        const hello: PeerMessageOf<'hello'> = {
          type: 'hello',
          protocolVersion: PROTOCOL_VERSION,
          role: 'player',
          ...(agent ? { agent: agent.slice(0, 128) } : {}),
        };
        socket.send(encodeMessage(hello));
      };
      socket.onmessage = (event) => {
        let message: ServerMessage;
        try {
          message = parseServerMessage(frameData(event.data));
        } catch (error) {
          fail(asBadFrame(error));
          return;
        }
        if (message.type === 'error') {
          fail(new AthError({ code: message.code, shortMessage: message.message, details: 'during hello' }));
          return;
        }
        if (message.type !== 'welcome') {
          fail(
            new AthError({
              code: ClientErrorCode.badServerFrame,
              shortMessage: `expected welcome, got ${message.type}`,
            }),
          );
          return;
        }
        settled = true;
        clearTimeout(timer);
        resolve(new SignalingClient(socket, message, listeners));
      };
      // The browser tells nothing about why (a refused upgrade — 401 — looks like any network failure).
      socket.onerror = () => fail(unreachable('the signaling WebSocket failed'));
      socket.onclose = (event) => fail(unreachable(`the signaling WebSocket closed (${event.code})`));
    });
  }

  get open(): boolean {
    return !this.#closed && this.#socket.readyState === OPEN;
  }

  /** Sends one message; false when the socket is not open (the caller decides whether that matters). */
  send(message: PlayerMessage): boolean {
    if (!this.open) return false;
    this.#socket.send(encodeMessage(message));
    return true;
  }

  /** Idempotent. A 1000 close tells signaling the page left on purpose (short reload grace). */
  close(code = 1000, reason = 'client closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.onmessage = this.#socket.onclose = this.#socket.onerror = null;
    if (this.#socket.readyState <= OPEN) this.#socket.close(code, reason);
  }
}

function frameData(data: unknown): string | ArrayBuffer {
  if (typeof data === 'string' || data instanceof ArrayBuffer) return data;
  throw new AthError({ code: ClientErrorCode.badServerFrame, shortMessage: 'unexpected frame payload type' });
}

function asBadFrame(error: unknown): AthError {
  return new AthError({
    code: ClientErrorCode.badServerFrame,
    shortMessage: 'signaling sent an invalid frame',
    details: error instanceof Error ? error.message : String(error),
    cause: error,
  });
}

function unreachable(shortMessage: string, cause?: unknown): AthError {
  return new AthError({ code: ClientErrorCode.signalingUnreachable, shortMessage, cause });
}
