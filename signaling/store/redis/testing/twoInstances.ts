/**
 * The fixture of the tests that run several signaling instances of one network: one real redis-server (Debian's,
 * on a free port) and one anvil chain with the real contracts for the whole test file, started before its tests and
 * stopped after them, with what the tests opened meanwhile (`closeLater`) closed first, last opened first, each
 * even when another fails to close. `network` starts two instances on a fresh key prefix; `contents` reads what Redis
 * holds under one.
 *
 * Call `useTwoInstances` once at the top of a test file: it registers the file's `before` and `after` hooks.
 */
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { startTestChain, type TestChain } from '../../../../edge/chain/testing/startTestChain.js';
import { startTestSignaling, type TestSignaling } from '../../../testing/startTestSignaling.js';
import { type RedisServer, startRedisServer } from '../startRedisServer.js';

export type UseTwoInstancesParameters = {
  /** The player-token secret of the instances `network` starts (tests issue their players' tokens with it). */
  secret: Uint8Array;
  /** The instances' logger; startTestSignaling's quiet one when absent. */
  log?: Logger;
};

export type TwoInstances = {
  /** The file's redis-server (started in `before`). */
  readonly redis: RedisServer;
  /** The file's chain (started in `before`). */
  readonly chain: TestChain;
  /** Closed after the file's tests, before Redis and the chain: last registered first. */
  closeLater(...closers: Array<() => Promise<unknown> | unknown>): void;
  /**
   * Two instances of one network on the file's Redis (`redisUrl` to reach it another way, e.g. through a proxy) and
   * chain, on a fresh key prefix: `<name>a` and `<name>b`, with `settings` over the file's secret and logger.
   * Returns both and the prefix; they are closed after the file's tests.
   */
  network(
    name: string,
    settings?: Parameters<typeof startTestSignaling>[0],
    redisUrl?: string,
  ): Promise<[TestSignaling, TestSignaling, string]>;
  /** Every key under `prefix` with its value as text (strings, hashes, sets, sorted sets; other types by name). */
  contents(prefix: string): Promise<Map<string, string>>;
};

export function useTwoInstances({ secret, log }: UseTwoInstancesParameters): TwoInstances {
  let redis: RedisServer | undefined;
  let chain: TestChain | undefined;
  const closers: Array<() => Promise<unknown> | unknown> = [];
  before(async () => {
    [redis, chain] = await Promise.all([startRedisServer(), startTestChain()]);
  });
  after(async () => {
    for (const close of closers.splice(0).reverse()) {
      try {
        await close();
      } catch {
        // keep closing the rest
      }
    }
    await redis?.close();
    await chain?.close();
  });
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the ${what} is started in the file's before hook`);
    return value;
  };
  const fixture: TwoInstances = {
    get redis() {
      return started(redis, 'redis-server');
    },
    get chain() {
      return started(chain, 'chain');
    },
    closeLater: (...more) => {
      closers.push(...more);
    },
    network: async (name, settings = {}, redisUrl) => {
      const prefix = `${name}${randomBytes(3).toString('hex')}:`;
      const url = redisUrl ?? fixture.redis.url;
      const start = (instanceId: string) =>
        startTestSignaling(
          { chain: fixture.chain, tokenSecret: secret, ...(log ? { log } : {}), ...settings },
          { redisUrl: url, prefix, instanceId },
        );
      const a = await start(`${name}a`);
      closers.push(() => a.close());
      const b = await start(`${name}b`);
      closers.push(() => b.close());
      return [a, b, prefix];
    },
    contents: async (prefix) => {
      const client = new Redis(fixture.redis.url);
      try {
        const held = new Map<string, string>();
        for (const key of await client.keys(`${prefix}*`)) {
          const type = await client.type(key);
          if (type === 'string') held.set(key, (await client.get(key)) ?? '');
          else if (type === 'hash') held.set(key, JSON.stringify(await client.hgetall(key)));
          else if (type === 'set') held.set(key, JSON.stringify(await client.smembers(key)));
          else if (type === 'zset') held.set(key, JSON.stringify(await client.zrange(key, 0, -1)));
          else held.set(key, type);
        }
        return held;
      } finally {
        client.disconnect();
      }
    },
  };
  return fixture;
}
