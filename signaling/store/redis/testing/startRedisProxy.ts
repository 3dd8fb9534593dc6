/**
 * A TCP proxy in front of a redis-server on loopback, for tests that put one connection of an instance on a bad
 * path (a free port of its own; `close` ends it):
 * - `cut()` drops every connection through it and refuses new ones (the instance is partitioned from Redis);
 * - `hold()` holds everything, both ways (its commands wait, as in ioredis' queue, and it hears nothing);
 * - `heal()` ends either: held bytes go through in order, new connections are let in again;
 * - `delayMs` holds each chunk a client sends that long, in order (a slow path; changeable while it runs);
 * - `pause()` stops reading what clients send until `resume()` (Redis seems not to read them).
 * Redis's answers pass at once unless held.
 */
import { createServer, type Server, Socket } from 'node:net';

export type RedisProxy = {
  url: string;
  /** ms each chunk a client sends is held before it goes on (0: at once). */
  delayMs: number;
  cut(): void;
  hold(): void;
  heal(): void;
  pause(): void;
  resume(): void;
  close(): Promise<void>;
};

export async function startRedisProxy(targetPort: number): Promise<RedisProxy> {
  let cut = false;
  let held = false;
  const waiting: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();
  const pass = (to: Socket, chunk: Buffer) => {
    if (held) waiting.push(() => to.write(chunk));
    else to.write(chunk);
  };
  const server: Server = createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = new Socket();
    sockets.add(client).add(upstream);
    clients.add(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      clients.delete(client);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    // What a client sends before the upstream connection is up waits in the socket (written once it connects).
    client.on('data', (chunk: Buffer) => {
      if (proxy.delayMs === 0) pass(upstream, chunk);
      else setTimeout(() => pass(upstream, chunk), proxy.delayMs);
    });
    upstream.on('data', (chunk: Buffer) => pass(client, chunk));
    upstream.connect(targetPort, '127.0.0.1');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('the Redis proxy has no port');
  const proxy: RedisProxy = {
    url: `redis://127.0.0.1:${address.port}`,
    delayMs: 0,
    cut: () => {
      cut = true;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      clients.clear();
    },
    hold: () => {
      held = true;
    },
    heal: () => {
      cut = false;
      held = false;
      for (const send of waiting.splice(0)) send();
    },
    pause: () => {
      for (const client of clients) client.pause();
    },
    resume: () => {
      for (const client of clients) client.resume();
    },
    close: async () => {
      cut = true;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
