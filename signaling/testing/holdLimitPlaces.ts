/**
 * A signaling instance's share of the network's per-address counts, alone in a process, for the crash test of
 * `ClusterLimits` (signaling/store/redis/clusterLimits.test.ts): it takes `--count` session places for one address
 * on the network's Redis, prints `held`, and keeps its lease until it is killed (SIGKILL: nothing is given back).
 *
 *   holdLimitPlaces.ts --redis URL --prefix P --instance ID --secret HEX --address IP --count N --lease-ms MS
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { addressHash } from '../admission/ipAddress.js';
import { ClusterLimits } from '../store/redis/ClusterLimits.js';

const { values } = parseArgs({
  options: {
    redis: { type: 'string', default: '' },
    prefix: { type: 'string', default: 'ath:' },
    instance: { type: 'string', default: 'holder' },
    secret: { type: 'string', default: '' },
    address: { type: 'string', default: '127.0.0.1' },
    count: { type: 'string', default: '1' },
    'lease-ms': { type: 'string', default: '1000' },
  },
});
// It never outlives the test: its stdin is a pipe from the test process.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
const redis = new Redis(values.redis ?? '', { lazyConnect: true });
await redis.connect();
const limits = new ClusterLimits({
  redis,
  prefix: values.prefix ?? 'ath:',
  instanceId: values.instance ?? 'holder',
  log: pino({ level: 'silent' }),
  leaseMs: Number(values['lease-ms']),
  timeoutMs: 5_000,
});
const key = addressHash(Buffer.from(values.secret ?? '', 'hex'), values.address ?? '127.0.0.1');
for (let i = 0; i < Number(values.count); i += 1) {
  const answer = await limits.acquire('sessions', key, Number.MAX_SAFE_INTEGER);
  if (!answer.admitted || !answer.shared) throw new Error('the network did not count the place');
}
process.stdout.write('held\n');
