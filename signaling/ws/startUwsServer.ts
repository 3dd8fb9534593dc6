/**
 * The signaling WebSocket on uWebSockets.js. Two endpoints:
 *   /ws/player — browsers; the upgrade carries the player token as a subprotocol `token.<token>` next to
 *                `ath-edge.v1`, and is refused (401) before any message when it is missing or invalid;
 *   /ws/node   — render hosts and checkers; they prove their wallet with a signed nonce after `hello`.
 * The token rides in Sec-WebSocket-Protocol rather than the URL so that it stays out of access logs.
 *
 * Admission control comes first: an upgrade over the connection caps or too fast for its address is refused
 * with 429 and Retry-After; a message over its socket's or address's token bucket is dropped and answered
 * (at most once a second) with `ATH_ERR_RATE_LIMITED` and a retry time; a socket that keeps flooding is closed.
 */

import type uWS from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { AdmissionControl, ConnectionPlace } from '../admission/AdmissionControl.js';
import type { PeerIdentity } from '../hub/PeerDirectory.js';
import type { SignalingHub } from '../hub/SignalingHub.js';
import { AthError, isAthError, MAX_MESSAGE_BYTES, type ServerMessage, WS_SUBPROTOCOL } from '../protocol/index.js';
import { readTlsFiles, type TlsFiles } from '../tls/tlsServerFactory.js';
import { authorizeUpgrade } from './authorizeUpgrade.js';
import type { UwsModule } from './loadUws.js';
import { awaitNetworkAdmission, MessageThrottle, refusedByNetwork } from './MessageThrottle.js';

type SocketData = {
  id: string;
  identity: PeerIdentity;
  closed: boolean;
  ip: string;
  throttle: MessageThrottle;
  place: ConnectionPlace;
  /** Takes a message while the network's count is asked (several instances); set when the socket opens. */
  hold: (copy: () => Uint8Array) => boolean;
  /** When its last message came, or it was last pinged (`performance.now()` ms): see `SpreadPinger`. */
  heardOrPingedMs: number;
};

/**
 * Keep-alive pings. `spread` (default): this server pings each socket silent for `PING_AFTER_MS`, a few sockets at
 * a time on a 50 ms tick, so that the pings of 10,000 sockets are ~25 sends every 50 ms. `native`: uWS's own
 * (`sendPingsAutomatically`), which its timer sweep sends every 4 s for every socket whose idle timeout fell in
 * those 4 s at once — ≈1,250 sends in one go at 10,000 sockets (≈30 ms of this process on a 2-core VM, every
 * relay arriving meanwhile waiting behind it). Either way a socket that sends nothing, pongs included, for
 * `IDLE_TIMEOUT_SEC` is closed by uWS.
 */
export type UwsPings = 'spread' | 'native';

/** A socket with nothing received for this long is closed (uWS's granularity: 4 s). */
const IDLE_TIMEOUT_SEC = 32;
/** A socket silent (and not pinged) for this long is pinged: its pong has ≥ 12 s before the idle timeout. */
const PING_AFTER_MS = 20_000;
const PING_TICK_MS = 50;
/** Every socket is looked at once per this period (a slice of them each tick). */
const PING_SCAN_MS = 2_000;

export type StartUwsServerParameters = {
  hub: SignalingHub;
  bindHost: string;
  port: number;
  tokenSecret: Uint8Array;
  admission: AdmissionControl;
  log: Logger;
  /** wss with this certificate and key (uWS `SSLApp`); plain ws when absent. */
  tls?: TlsFiles;
  /** Default `spread` (see `UwsPings`); `native` for comparison (bench:indexer `--uws-pings native`). */
  pings?: UwsPings;
  /** `spread`: how long a socket is silent before it is pinged. Default `PING_AFTER_MS` (tests shorten it). */
  pingAfterMs?: number;
};

export type UwsServer = { readonly port: number; close(): void };

/** `uws`: a native build from `loadUws()`. */
export function startUwsServer(
  {
    hub,
    bindHost,
    port,
    tokenSecret,
    admission,
    log,
    tls,
    pings = 'spread',
    pingAfterMs = PING_AFTER_MS,
  }: StartUwsServerParameters,
  uws: UwsModule,
): Promise<UwsServer> {
  const wsLog = log.child({ mod: 'signaling/ws' });
  if (tls) readTlsFiles(tls); // A missing or unreadable file is a clear config error, not a silent uWS failure.
  const app = tls ? uws.SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile }) : uws.App();
  // This uWS build has no app.close(): keep the open sockets so shutdown can end them.
  const open = new Set<uWS.WebSocket<SocketData>>();

  const behavior = (kind: PeerIdentity['kind']): uWS.WebSocketBehavior<SocketData> => ({
    // Frames up to 4× the protocol limit reach the parser and get a typed error; beyond that uWS closes (1009).
    maxPayloadLength: MAX_MESSAGE_BYTES * 4,
    maxBackpressure: 1024 * 1024,
    idleTimeout: IDLE_TIMEOUT_SEC,
    sendPingsAutomatically: pings === 'native',
    upgrade: (res, req, context) => {
      // Headers must be read before the first await or return: uWS reuses the request object.
      const protocolHeader = req.getHeader('sec-websocket-protocol');
      const key = req.getHeader('sec-websocket-key');
      const extensions = req.getHeader('sec-websocket-extensions');
      const page = { origin: req.getHeader('origin') || undefined, host: req.getHeader('host') || undefined };
      const ip = admission.clientAddress(
        Buffer.from(res.getRemoteAddressAsText()).toString(),
        req.getHeader('x-forwarded-for') || undefined,
      );
      let identity: PeerIdentity;
      try {
        identity = authorizeUpgrade({ kind, protocolHeader, secret: tokenSecret, page, remoteIp: ip });
      } catch (error) {
        const code = isAthError(error) ? error.code : 'ATH_ERR_UNAUTHORIZED';
        wsLog.info({ code, kind }, 'upgrade refused');
        res.writeStatus(code === 'ATH_ERR_BAD_MESSAGE' ? '400 Bad Request' : '401 Unauthorized');
        res.writeHeader('content-type', 'application/json');
        res.end(JSON.stringify({ code, message: isAthError(error) ? error.shortMessage : 'unauthorized' }));
        return;
      }
      const admitted = admission.admitConnection(ip);
      if (!admitted.admitted) {
        wsLog.debug({ ip, kind, why: admitted.why }, 'upgrade refused: admission control');
        res.writeStatus('429 Too Many Requests');
        res.writeHeader('retry-after', String(Math.ceil(admitted.retryAfterMs / 1000)));
        res.writeHeader('content-type', 'application/json');
        res.end(JSON.stringify({ code: 'ATH_ERR_RATE_LIMITED', message: admitted.why }));
        return;
      }
      const throttle = new MessageThrottle(admission.socketBucket());
      const data: SocketData = {
        id: hub.newPeerId(),
        identity,
        closed: false,
        ip,
        throttle,
        place: admitted.place,
        hold: () => false,
        heardOrPingedMs: performance.now(),
      };
      res.upgrade(data, key, WS_SUBPROTOCOL, extensions, context);
    },
    open: (ws) => {
      open.add(ws);
      const data = ws.getUserData();
      // Several instances: the network's count decides before the hub hears of the socket (its messages wait).
      data.hold = awaitNetworkAdmission<Uint8Array>({
        shared: admission.confirmShared(data.place),
        attach: () =>
          hub.attach(
            {
              id: data.id,
              send: (message: ServerMessage) => {
                if (!data.closed) ws.send(JSON.stringify(message), false);
              },
              close: (code, reason) => {
                if (!data.closed) ws.end(code, reason);
              },
            },
            data.identity,
          ),
        receive: (message) => hub.receive(data.id, message),
        refuse: (refusal) => {
          ws.send(JSON.stringify(refusedByNetwork(refusal)), false);
          ws.end(4029, 'rate limited');
        },
        isClosed: () => data.closed,
      });
    },
    message: (ws, message) => {
      const data = ws.getUserData();
      data.heardOrPingedMs = pinger.nowMs;
      const verdict = data.throttle.admit(admission, data.ip);
      if (verdict.action === 'drop') return;
      if (verdict.action === 'reply') {
        ws.send(JSON.stringify(verdict.reply), false);
        return;
      }
      if (verdict.action === 'close') {
        wsLog.info({ ip: data.ip, peerId: data.id }, 'socket closed: it kept flooding past its rate limit');
        ws.end(4029, 'rate limited');
        return;
      }
      // The ArrayBuffer is only valid during this callback: a copy waits (a few at most).
      if (data.hold(() => new Uint8Array(message.slice(0)))) return;
      // The ArrayBuffer is only valid during this callback; the hub parses it synchronously.
      hub.receive(data.id, message);
    },
    close: (ws, code) => {
      open.delete(ws);
      const data = ws.getUserData();
      data.closed = true;
      admission.connectionClosed(data.place);
      hub.detach(data.id, { clean: code === 1000 || code === 1001 });
    },
  });

  const pinger = new SpreadPinger(open, pings === 'spread', pingAfterMs);
  app.ws<SocketData>('/ws/player', behavior('player'));
  app.ws<SocketData>('/ws/node', behavior('node'));
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').end('signaling WebSocket endpoints: /ws/player, /ws/node');
  });

  return new Promise((resolve, reject) => {
    app.listen(bindHost, port, (listenSocket) => {
      if (!listenSocket) {
        pinger.close();
        reject(
          new AthError({
            code: 'ATH_ERR_SIGNALING_LISTEN',
            shortMessage: `cannot listen on ${bindHost}:${port} for WebSockets`,
          }),
        );
        return;
      }
      const boundPort = uws.us_socket_local_port(listenSocket);
      wsLog.info({ port: boundPort }, 'signaling WebSocket listening');
      let closed = false;
      resolve({
        port: boundPort,
        close: () => {
          if (closed) return;
          closed = true;
          pinger.close();
          uws.us_listen_socket_close(listenSocket);
          for (const ws of [...open]) ws.end(1001, 'signaling shutting down');
        },
      });
    });
  });
}

/**
 * Pings the sockets silent for `PING_AFTER_MS`, looking at a slice of them every `PING_TICK_MS` so that each is
 * looked at once per `PING_SCAN_MS`: the keep-alive sends are spread evenly instead of coming in uWS's 4 s bursts.
 * `nowMs` is the tick's clock (a message's arrival is stamped with it: no clock read per message).
 */
class SpreadPinger {
  readonly #open: Set<uWS.WebSocket<SocketData>>;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #afterMs: number;
  #cursor: Iterator<uWS.WebSocket<SocketData>> | undefined;
  nowMs = performance.now();

  constructor(open: Set<uWS.WebSocket<SocketData>>, enabled: boolean, afterMs: number) {
    this.#open = open;
    this.#afterMs = afterMs;
    if (!enabled) return;
    this.#timer = setInterval(() => this.#tick(), PING_TICK_MS);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    const nowMs = performance.now();
    this.nowMs = nowMs;
    let visits = Math.ceil((this.#open.size * PING_TICK_MS) / PING_SCAN_MS);
    while (visits > 0) {
      this.#cursor ??= this.#open.values();
      const next = this.#cursor.next();
      if (next.done) {
        this.#cursor = undefined;
        return;
      }
      visits -= 1;
      const ws = next.value;
      const data = ws.getUserData();
      if (data.closed || nowMs - data.heardOrPingedMs < this.#afterMs) continue;
      data.heardOrPingedMs = nowMs;
      ws.ping();
    }
  }
}
