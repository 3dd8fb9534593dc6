/**
 * NodeSignalingLink against a real WebSocket server on loopback (the `ws` package's server, standing in for
 * signaling's /ws/node): hello on every connect, validated messages in order, reconnect with a growing
 * backoff that only `accepted()` resets, an invalid frame dropped without losing the connection, and no
 * reconnect after `close()`.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import { encodeMessage, PROTOCOL_VERSION, type ServerMessage, WS_SUBPROTOCOL } from '../protocol/index.js';
import { waitUntil } from '../testing/waitFor.js';
import { NodeSignalingLink, RECONNECT_MIN_MS } from './NodeSignalingLink.js';

const log = pino({ level: 'silent' });

type Server = { url: string; connections: WebSocket[]; received: unknown[]; next: () => Promise<WebSocket> };

describe('NodeSignalingLink', { timeout: 60_000 }, () => {
  let wss: WebSocketServer;
  let server: Server;

  before(async () => {
    wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      handleProtocols: (protocols) => [...protocols][0] ?? false,
    });
    await new Promise((resolve) => wss.once('listening', resolve));
    const connections: WebSocket[] = [];
    const received: unknown[] = [];
    const waiting: Array<(socket: WebSocket) => void> = [];
    wss.on('connection', (socket) => {
      connections.push(socket);
      socket.on('message', (data) => received.push(JSON.parse(data.toString())));
      waiting.shift()?.(socket);
    });
    const { port } = wss.address() as AddressInfo;
    server = {
      url: `ws://127.0.0.1:${port}/ws/node`,
      connections,
      received,
      next: () => new Promise((resolve) => waiting.push(resolve)),
    };
  });

  after(async () => {
    for (const socket of wss.clients) socket.terminate();
    await new Promise((resolve) => wss.close(resolve));
  });

  test('says hello, hands on valid messages, drops invalid ones, reconnects with backoff until accepted', async () => {
    const messages: ServerMessage[] = [];
    const disconnects: number[] = [];
    const link = new NodeSignalingLink({
      url: server.url,
      hello: { role: 'checker', agent: 'link test' },
      log,
      onMessage: (message) => {
        messages.push(message);
      },
      onDisconnected: (code) => disconnects.push(code),
    });
    try {
      const first = server.next();
      link.connect();
      const socket = await first;
      assert.equal(socket.protocol, WS_SUBPROTOCOL);
      await waitUntil(() => server.received.length === 1, { what: 'hello' });
      assert.deepEqual(server.received[0], {
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        role: 'checker',
        agent: 'link test',
      });

      // An invalid frame is dropped; the connection and the next valid message survive it.
      socket.send('{"type":"no-such-message"}');
      socket.send(
        encodeMessage({
          type: 'welcome',
          protocolVersion: PROTOCOL_VERSION,
          peerId: 'node-1',
          nonce: 'a'.repeat(32),
          serverTimeMs: Date.now(),
        } as ServerMessage),
      );
      await waitUntil(() => messages.length === 1, { what: 'the welcome' });
      assert.equal(messages[0]?.type, 'welcome');
      assert.ok(link.open);

      // Lost twice without being accepted: the delay doubles each time.
      assert.equal(link.reconnectDelayMs, RECONNECT_MIN_MS);
      let reconnected = server.next();
      socket.close(4001, 'test drop');
      const second = await reconnected;
      assert.deepEqual(disconnects, [4001]);
      assert.equal(link.reconnectDelayMs, RECONNECT_MIN_MS * 2);
      await waitUntil(() => server.received.length === 2, { what: 'hello again' });
      reconnected = server.next();
      second.close(4002, 'test drop');
      const third = await reconnected;
      assert.deepEqual(disconnects, [4001, 4002]);
      assert.equal(link.reconnectDelayMs, RECONNECT_MIN_MS * 4);

      // Accepted: the next loss reconnects from the shortest delay.
      link.accepted();
      assert.equal(link.reconnectDelayMs, RECONNECT_MIN_MS);
      reconnected = server.next();
      third.close(4003, 'test drop');
      const fourth = await reconnected;
      assert.equal(link.reconnectDelayMs, RECONNECT_MIN_MS * 2);

      // Closed: no onDisconnected, no reconnect.
      const before = server.connections.length;
      link.close(1000, 'test done');
      await waitUntil(() => fourth.readyState === fourth.CLOSED, { what: 'the server to see the close' });
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_MIN_MS * 4));
      assert.equal(server.connections.length, before);
      assert.deepEqual(disconnects, [4001, 4002, 4003]);
    } finally {
      link.close(1000, 'test done');
    }
  });

  test('drop() ends the connection and reconnects; sends while disconnected are dropped', async () => {
    const link = new NodeSignalingLink({
      url: server.url,
      hello: { role: 'host' },
      log,
      onMessage: () => undefined,
      onDisconnected: () => undefined,
    });
    try {
      const first = server.next();
      link.connect();
      await first;
      await waitUntil(() => link.open, { what: 'open' });
      const reconnected = server.next();
      link.drop(4000, 'registration refused');
      assert.equal(link.open, false);
      link.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'host' });
      await reconnected;
      await waitUntil(() => link.open, { what: 'open again' });
    } finally {
      link.close(1000, 'test done');
    }
  });

  test('start() resolves on the first acceptance, or rejects on a refusal before it', async () => {
    const make = () =>
      new NodeSignalingLink({
        url: server.url,
        hello: { role: 'host' },
        log,
        onMessage: () => undefined,
        onDisconnected: () => undefined,
      });
    const accepted = make();
    const refused = make();
    try {
      const started = accepted.start();
      await waitUntil(() => accepted.open, { what: 'open' });
      accepted.accepted();
      await started;
      assert.equal(accepted.refusedAtStart(new Error('late')), false, 'a refusal after acceptance is the owner’s');

      const failing = refused.start();
      await waitUntil(() => refused.open, { what: 'open' });
      assert.equal(refused.refusedAtStart(new Error('registration refused: test')), true);
      await assert.rejects(failing, /registration refused: test/);
    } finally {
      accepted.close(1000, 'test done');
      refused.close(1000, 'test done');
    }
  });
});
