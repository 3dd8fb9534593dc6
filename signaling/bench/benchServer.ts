/**
 * The signaling process under load for `bench:indexer`: one process, the chosen transport, a secret the
 * bench shares so it can mint player tokens, the bench's chain (hosts must be staked) and its admission
 * limits (`on`: the product's limits raised to let one address open the bench's thousands of sockets, so their
 * cost is measured; `off`: no limits at all). Prints one JSON line with its URLs, then serves until stdin closes
 * (the bench ends) or a signal arrives.
 */
import { pino } from 'pino';
import { createChainClients } from '../../edge/chain/index.js';
import { ChainStakeGate } from '../../edge/economy/ChainStakeGate.js';
import { DEFAULT_ADMISSION_SETTINGS } from '../admission/AdmissionSettings.js';
import { DEFAULT_SIGNALING_SETTINGS } from '../SignalingSettings.js';
import { startSignaling } from '../startSignaling.js';
import { type BenchServerOptions, benchAdmission } from './benchLimits.js';

const transport = process.argv[2] === 'fastify-ws' ? 'fastify-ws' : 'uws';
const secretHex = process.argv[3] ?? '';
const options = JSON.parse(process.argv[4] ?? '{}') as BenchServerOptions;
const log = pino({ level: 'silent' });
const stakes = new ChainStakeGate({
  publicClient: createChainClients({ network: 'anvil', chainId: options.chainId, rpcUrl: options.rpcUrl }).publicClient,
  stakingAddress: options.stakingAddress,
  log,
});
const server = await startSignaling({
  transport,
  settings: {
    ...DEFAULT_SIGNALING_SETTINGS,
    tokenSecret: Buffer.from(secretHex, 'hex'),
    // The bench's scripted hosts do not heartbeat on the product's schedule.
    heartbeatIntervalMs: 600_000,
    // One staked bench provider serves every bench host.
    stake: { ...DEFAULT_SIGNALING_SETTINGS.stake, hostTiers: { 'nvidia-datacenter': { maxSlots: 1_000_000 } } },
    admission: benchAdmission(options.limits, DEFAULT_ADMISSION_SETTINGS),
  },
  stakes,
  log,
});
console.log(JSON.stringify({ wsPlayerUrl: server.wsPlayerUrl, wsNodeUrl: server.wsNodeUrl, pid: process.pid }));
const stop = () =>
  void server.close().finally(() => {
    stakes.close();
    process.exit(0);
  });
process.stdin.on('end', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
