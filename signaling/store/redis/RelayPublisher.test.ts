/**
 * The reply-less relay publisher on a real redis-server (started here on a free port): batches arrive whole and in
 * order, Redis sends nothing back once it is set up, it refuses while down (the caller falls back) and reconnects
 * by itself after a Redis restart; the store's direct messages go through it and keep their order around commands.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { ClusterDirectMessage } from '../../protocol/cluster.js';
import { waitUntil } from '../../testing/waitFor.js';
import { RedisSignalingStore } from './RedisSignalingStore.js';
import { RelayPublisher } from './RelayPublisher.js';
import { type RedisServer, startRedisServer } from './startRedisServer.js';
import { startRedisProxy } from './testing/startRedisProxy.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
let redis: RedisServer;
const closers: Array<() => unknown> = [];

before(async () => {
  redis = await startRedisServer();
});
after(async () => {
  for (const close of closers.splice(0).reverse()) {
    try {
      await close();
    } catch {
      // keep closing the rest
    }
  }
  await redis.close();
});

/** Two stores on one prefix; `a`'s command and relay connections may go elsewhere (a proxy). */
async function twoStores(name: string, urls: { aCommands?: string; aRelays?: string } = {}) {
  const prefix = `${name}${Date.now().toString(36)}:`;
  const [a, b] = await Promise.all([
    RedisSignalingStore.open({
      url: urls.aCommands ?? redis.url,
      log,
      prefix,
      instanceId: `${name}a`,
      pollIntervalMs: 100,
      ...(urls.aRelays ? { relayPublisher: { url: urls.aRelays } } : {}),
    }),
    RedisSignalingStore.open({ url: redis.url, log, prefix, instanceId: `${name}b`, pollIntervalMs: 100 }),
  ]);
  closers.push(
    () => a.close(),
    () => b.close(),
  );
  // What b heard from a, in order: direct messages (`d<n>`) and feed changes (`f<atMs>`).
  const heard: string[] = [];
  b.cluster.onMessage((message: ClusterDirectMessage) => {
    if (message.k === 'deliver') heard.push(`d${message.message.slice(0, 8).trim()}`);
  });
  b.unpaidEndings.onEnding((ending) => heard.push(`f${ending.atMs}`));
  await waitUntil(() => a.relayPublisherReady, { timeoutMs: 5_000, what: 'a’s relay connection' });
  let n = 0;
  const send = (padding = '') =>
    a.cluster.send(`${name}b`, {
      k: 'deliver',
      peerId: `peer-${name}b-1`,
      message: String(n++).padEnd(8) + padding,
    });
  const shareEnding = (atMs: number) => a.unpaidEndings.share({ addressKey: 'ab'.repeat(16), playerId: 'p', atMs });
  return { a, b, heard, send, shareEnding, sent: () => n };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

async function subscriber(...channels: string[]): Promise<Array<[string, string]>> {
  const sub = new Redis(redis.url, { lazyConnect: true, retryStrategy: (n) => Math.min(50 * n, 500) });
  sub.on('error', () => undefined);
  closers.push(() => sub.disconnect());
  await sub.connect();
  const got: Array<[string, string]> = [];
  sub.on('message', (channel: string, raw: string) => got.push([channel, raw]));
  await sub.subscribe(...channels);
  return got;
}

describe('RelayPublisher', () => {
  test('batches arrive whole and in order; Redis answers none of them', async () => {
    const got = await subscriber('r:a', 'r:b');
    const publisher = new RelayPublisher({ url: redis.url, log });
    closers.push(() => publisher.close());
    await waitUntil(() => publisher.ready, { timeoutMs: 5_000, what: 'the relay connection set up' });
    const multiLine = 'one\ntwo\r\nthree — ünïcödé';
    for (let i = 0; i < 500; i++) {
      assert.equal(
        publisher.publish([['r:a', `a${i}`], ...(i % 100 === 0 ? [['r:b', multiLine] as const] : [])]),
        'sent',
      );
    }
    await waitUntil(() => got.length === 505, { timeoutMs: 5_000, what: 'all 505 messages' });
    assert.deepEqual(
      got.filter(([channel]) => channel === 'r:a').map(([, raw]) => raw),
      Array.from({ length: 500 }, (_, i) => `a${i}`),
    );
    assert.deepEqual(
      got.filter(([channel]) => channel === 'r:b').map(([, raw]) => raw),
      Array(5).fill(multiLine),
    );
    // Redis lists the connection by its name, its last command a PUBLISH.
    const admin = new Redis(redis.url);
    closers.push(() => admin.disconnect());
    const list = String(await admin.client('LIST'));
    const line = list.split('\n').find((l) => l.includes('name=ath-signaling-relay')) ?? '';
    assert.match(line, /cmd=publish/, list);
    // Nothing came back to read: the publisher would have stopped using the connection (ready false) if it had.
    assert.equal(publisher.ready, true);
  });

  test('refuses while Redis is down, reconnects after a restart, and what it sends then arrives', async () => {
    const publisher = new RelayPublisher({ url: redis.url, log });
    closers.push(() => publisher.close());
    await waitUntil(() => publisher.ready, { timeoutMs: 5_000, what: 'the relay connection set up' });
    redis.kill();
    await waitUntil(() => !publisher.ready, { timeoutMs: 5_000, what: 'the publisher seeing Redis gone' });
    assert.equal(publisher.publish([['r:c', 'lost']]), 'down', 'refused while down: the caller sends another way');
    await redis.restart();
    const got = await subscriber('r:c');
    await waitUntil(() => publisher.ready, { timeoutMs: 10_000, what: 'the relay connection back' });
    for (let i = 0; i < 100; i++) assert.equal(publisher.publish([['r:c', `c${i}`]]), 'sent');
    await waitUntil(() => got.length === 100, { timeoutMs: 5_000, what: '100 messages after the restart' });
    assert.deepEqual(
      got.map(([, raw]) => raw),
      Array.from({ length: 100 }, (_, i) => `c${i}`),
    );
  });

  test('Redis busy when it reconnects (a long script; LOADING after a restart is the same): it tries again', async () => {
    const publisher = new RelayPublisher({ url: redis.url, log, connectionName: 'relay-busy' });
    const admin = new Redis(redis.url);
    const scripter = new Redis(redis.url);
    closers.push(
      () => publisher.close(),
      () => admin.disconnect(),
      () => scripter.disconnect(),
    );
    await waitUntil(() => publisher.ready, { timeoutMs: 5_000, what: 'the relay connection set up' });
    await admin.config('SET', 'busy-reply-threshold', '20');
    await scripter.ping();
    const clients = String(await admin.client('LIST')).split('\n');
    const id = clients.find((line) => line.includes('name=relay-busy'))?.match(/id=(\d+)/)?.[1];
    assert.ok(id, 'the relay connection listed');
    // The connection drops; while it reconnects (100 ms later) Redis runs a script for 0.6 s and answers -BUSY.
    await admin.client('KILL', 'ID', id);
    const busy = scripter.eval(
      "local t = redis.call('TIME') local till = t[1] * 1e6 + t[2] + 6e5 repeat t = redis.call('TIME') until t[1] * 1e6 + t[2] >= till return 1",
      0,
    );
    await busy;
    await waitUntil(() => publisher.ready, {
      timeoutMs: 5_000,
      what: 'the relay connection back after the busy spell',
    });
    assert.equal(publisher.refused, false);
    const got = await subscriber('r:busy');
    assert.equal(publisher.publish([['r:busy', 'after']]), 'sent');
    await waitUntil(() => got.length === 1, { timeoutMs: 5_000, what: 'the message after the busy spell' });
  });

  test('a wrong password: never used, and says so', async () => {
    const url = redis.url.replace('redis://', 'redis://:wrong@');
    const publisher = new RelayPublisher({ url, log });
    closers.push(() => publisher.close());
    // Redis with no password refuses AUTH: the publisher gives up on its connection (the store falls back).
    await waitUntil(() => publisher.refused, { timeoutMs: 5_000, what: 'the set-up refused' });
    assert.equal(publisher.ready, false);
    assert.equal(publisher.publish([['r:d', 'x']]), 'down');
  });
});

describe('RedisSignalingStore direct messages', () => {
  test('go through the relay connection, in order, also mixed with feed writes and across a Redis restart', async () => {
    const prefix = `rp${Date.now().toString(36)}:`;
    const open = (instanceId: string) =>
      RedisSignalingStore.open({ url: redis.url, log, prefix, instanceId, pollIntervalMs: 100 });
    const [a, b] = await Promise.all([open('ra'), open('rb')]);
    closers.push(
      () => a.close(),
      () => b.close(),
    );
    const got: string[] = [];
    b.cluster.onMessage((message: ClusterDirectMessage) => {
      if (message.k === 'deliver') got.push(message.message);
    });
    await waitUntil(() => a.relayPublisherReady, { timeoutMs: 5_000, what: 'a’s relay connection' });
    const send = (i: number) =>
      a.cluster.send('rb', { k: 'deliver', peerId: 'peer-rb-1', message: JSON.stringify({ n: i }) });
    let n = 0;
    // Plain relays, relays in the same turn as a feed write (they wait behind it), relays in bursts.
    for (let round = 0; round < 30; round++) {
      send(n++);
      if (round % 3 === 0) a.unpaidEndings.share({ addressKey: 'ab'.repeat(16), playerId: 'p', atMs: round });
      send(n++);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await waitUntil(() => got.length === n, { timeoutMs: 5_000, what: `${n} relays` });
    assert.deepEqual(
      got.map((raw) => (JSON.parse(raw) as { n: number }).n),
      Array.from({ length: n }, (_, i) => i),
    );
    const admin = new Redis(redis.url);
    closers.push(() => admin.disconnect());
    assert.match(String(await admin.client('LIST')), /name=ath-signaling-relay .*cmd=publish/);
    // Redis restarts (empty): meanwhile relays fall back to the command connection, then the relay connection again.
    await redis.restart();
    await waitUntil(() => a.relayPublisherReady && b.cluster.isAlive('ra'), {
      timeoutMs: 15_000,
      what: 'the relay connection back',
    });
    got.length = 0;
    const before = n;
    // b's subscription comes back with its connection: send until one arrives, then 50 more in order.
    await waitUntil(
      () => {
        send(n++);
        return got.length > 0;
      },
      { timeoutMs: 10_000, what: 'b hearing a again' },
    );
    const first = (JSON.parse(got[0] as string) as { n: number }).n;
    assert.ok(first >= before);
    const from = n;
    for (let i = 0; i < 50; i++) send(n++);
    await waitUntil(() => got.some((raw) => (JSON.parse(raw) as { n: number }).n === n - 1), {
      timeoutMs: 5_000,
      what: 'the last relay',
    });
    const after = got.map((raw) => (JSON.parse(raw) as { n: number }).n).filter((i) => i >= from);
    assert.deepEqual(
      after,
      Array.from({ length: 50 }, (_, i) => from + i),
    );
    assert.equal(a.relayPublisherReady, true);
  });

  test('keep their order, and come after a feed change sent before them, when the relay connection is slower', async () => {
    // The relay connection goes through a proxy that holds what it sends for 30 ms: a batch on it, then a feed
    // write with a batch behind it on the command connection, would arrive the wrong way round if batches ever
    // switched to the command connection while the relay connection is up (as on a network, where two connections
    // are not read in the order their bytes were sent).
    const proxy = await startRedisProxy(redis.port);
    proxy.delayMs = 30;
    closers.push(() => proxy.close());
    const { heard, send, shareEnding, sent } = await twoStores('s', { aRelays: proxy.url });
    const expected: string[] = [];
    for (let round = 0; round < 20; round++) {
      expected.push(`d${sent()}`);
      send();
      await nextTurn();
      shareEnding(round);
      expected.push(`f${round}`, `d${sent()}`);
      send();
      await nextTurn();
    }
    await waitUntil(() => heard.length === expected.length, { timeoutMs: 5_000, what: 'every message' });
    // Direct messages in the order sent; each after the feed change sent before it (a feed change may come
    // before the direct message sent just before it: nothing waits that way round).
    assert.deepEqual(
      heard.filter((m) => m.startsWith('d')),
      expected.filter((m) => m.startsWith('d')),
    );
    for (let round = 0; round < 20; round++) {
      assert.ok(heard.indexOf(`f${round}`) < heard.indexOf(`d${2 * round + 1}`), heard.join(' '));
    }
  });

  test('a feed write that times out unanswered still comes before the direct message sent after it', async () => {
    // The command connection goes through a proxy that, once set up, holds its bytes longer than the store's
    // command timeout (3 s): the write fails there (timed out), yet ioredis still sends it and Redis runs it.
    const proxy = await startRedisProxy(redis.port);
    closers.push(() => proxy.close());
    const { heard, send, shareEnding } = await twoStores('t', { aCommands: proxy.url, aRelays: redis.url });
    proxy.delayMs = 3_500;
    shareEnding(1);
    await nextTurn();
    send();
    await waitUntil(() => heard.length === 2, { timeoutMs: 10_000, what: 'both messages' });
    proxy.delayMs = 0;
    assert.deepEqual(heard, ['f1', 'd0']);
  });

  test('wait while the relay connection has too much unsent (Redis not reading it), then arrive in order', async () => {
    const proxy = await startRedisProxy(redis.port);
    closers.push(() => proxy.close());
    const { a, heard, send, sent } = await twoStores('u', { aRelays: proxy.url });
    proxy.pause();
    const padding = 'x'.repeat(200 * 1024);
    for (let i = 0; i < 100; i++) {
      send(padding);
      await nextTurn();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    // None went round the stalled connection (20 MB: past what the kernel and the publisher's buffer take).
    assert.deepEqual(heard, []);
    assert.equal(a.relayPublisherReady, true);
    proxy.resume();
    await waitUntil(() => heard.length === sent(), { timeoutMs: 20_000, what: 'every message' });
    assert.deepEqual(
      heard,
      Array.from({ length: sent() }, (_, i) => `d${i}`),
    );
  });
});
