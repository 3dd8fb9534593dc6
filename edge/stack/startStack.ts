/**
 * The whole network on one machine, each role in its own process: signaling, then the render hosts and the
 * checkers (pointed at it). Signaling admits only staked hosts and checkers, so each one's wallet is staked
 * first, as `ath-edge provider join` does (its tier's minimum; the faucet pays on the embedded chain). Used by
 * `npm start` (`ath-edge all`) and by the e2e tests, which share one stack.
 *
 * With `stack.signalingInstances` > 1, that many signaling servers form one network: they share a Redis
 * (`signaling.redisUrl`, or Debian's redis-server started here) and, with the economy, a PostgreSQL ledger
 * (`ledger.databaseUrl`, or a throw-away PostgreSQL started here: PGlite is one process's); the render hosts
 * and checkers are given every server's URL and move to another when theirs goes down.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { privateKeyToAccount } from 'viem/accounts';
import { type RedisServer, startRedisServer } from '../../signaling/index.js';
import {
  type Anvil,
  anvilAccount,
  athTokenAbi,
  createChainClients,
  DEV_ACCOUNT,
  deployContracts,
  startAnvil,
} from '../chain/index.js';
import type { EdgeConfig } from '../config/EdgeConfig.js';
import { resolveTlsFiles, trustedSignalingCa } from '../config/tlsSettings.js';
import { loadOrCreateKey } from '../keys/loadOrCreateKey.js';
import { startTestPostgres } from '../ledger/testing/startTestPostgres.js';
import { createLogger } from '../logging/createLogger.js';
import { ensureProviderStake } from '../provider/ensureProviderStake.js';
import { fetchChainInfo } from '../provider/signalingApi.js';
import type { CheckerInfo } from '../roles/runChecker.js';
import type { RenderHostInfo } from '../roles/runRenderHost.js';
import type { SignalingInfo } from '../roles/runSignaling.js';
import { RoleProcess } from './RoleProcess.js';

export type StackProgress = (step: string, state: 'start' | 'done', detail?: string) => void;

export type StartStackParameters = {
  config: EdgeConfig;
  /**
   * The built client to serve from signaling. May be a build still running: it is awaited just before signaling
   * starts, so the chain (and Redis, PostgreSQL) come up meanwhile.
   */
  clientDir: string | undefined | Promise<string | undefined>;
  onProgress?: StackProgress;
};

export type Stack = {
  readonly config: EdgeConfig;
  readonly logDir: string;
  /** The first signaling server (the only one unless stack.signalingInstances > 1). */
  readonly signaling: RoleProcess<SignalingInfo>;
  /** Every signaling server of the network, the first one first. */
  readonly signalingServers: RoleProcess<SignalingInfo>[];
  /** The Redis they share (started here when none was configured), if several. */
  readonly redis: RedisServer | undefined;
  readonly renderHosts: RoleProcess<RenderHostInfo>[];
  /** Checker nodes (stack.checkers), each with its own wallet: they probe every container each round. */
  readonly checkers: RoleProcess<CheckerInfo>[];
  /** Starts one more render host joined to this stack's signaling (tests add hosts with other settings). */
  addRenderHost(name: string, settings?: Record<string, unknown>): Promise<RoleProcess<RenderHostInfo>>;
  /** Starts one more checker node (its wallet staked first) joined to this stack's signaling. */
  addChecker(name: string): Promise<RoleProcess<CheckerInfo>>;
  close(): Promise<void>;
};

export async function startStack({ config, clientDir, onProgress = () => {} }: StartStackParameters): Promise<Stack> {
  const dataDir = resolve(config.dataDir);
  const logDir = join(dataDir, 'logs');
  const runDir = join(dataDir, 'run');
  mkdirSync(logDir, { recursive: true });
  mkdirSync(runDir, { recursive: true });
  const clientDirReady = Promise.resolve(clientDir);
  clientDirReady.catch(() => undefined); // awaited below; a failed build must not be an unhandled rejection first
  const instances = config.stack.signalingInstances ?? 1;
  let chain = config.chain;
  let signalingConfig = config.signaling;
  let ledgerConfig = config.ledger;
  // The embedded chain, Redis and PostgreSQL do not need each other: they start at once (each is seconds).
  const startingAnvil =
    chain.network === 'anvil' && !chain.rpcUrl
      ? (async () => {
          onProgress('chain (anvil) + contracts', 'start');
          const startedMs = Date.now();
          const started = await startAnvil({
            port: chain.anvilPort,
            ...(chain.anvilHost ? { host: chain.anvilHost } : {}),
          });
          try {
            const deployed = await deployEmbedded(started);
            onProgress('chain (anvil) + contracts', 'done', `${((Date.now() - startedMs) / 1000).toFixed(1)} s`);
            return { anvil: started, deployed };
          } catch (error) {
            await started.close();
            throw error;
          }
        })()
      : undefined;
  /** One server started with its progress lines, named by its URL when up. */
  const startServer = async <T extends { url: string }>(step: string, start: () => Promise<T>): Promise<T> => {
    onProgress(step, 'start');
    const started = await start();
    onProgress(step, 'done', started.url);
    return started;
  };
  const startingRedis =
    instances > 1 && !signalingConfig.redisUrl ? startServer('redis-server', startRedisServer) : undefined;
  const startingPostgres =
    instances > 1 && chain.network !== 'none' && !ledgerConfig.databaseUrl
      ? startServer('postgres (shared ledger)', startTestPostgres)
      : undefined;
  const [anvilStarted, redisStarted, postgresStarted] = await Promise.allSettled([
    startingAnvil,
    startingRedis,
    startingPostgres,
  ]);
  const embedded = anvilStarted.status === 'fulfilled' ? anvilStarted.value : undefined;
  const anvil = embedded?.anvil;
  const redis: RedisServer | undefined = redisStarted.status === 'fulfilled' ? redisStarted.value : undefined;
  const postgres: { url: string; close(): Promise<void> } | undefined =
    postgresStarted.status === 'fulfilled' ? postgresStarted.value : undefined;
  const failed = [anvilStarted, redisStarted, postgresStarted].find((result) => result.status === 'rejected');
  if (failed) {
    await postgres?.close();
    await redis?.close();
    await anvil?.close();
    throw failed.reason;
  }
  if (embedded) {
    chain = {
      ...chain,
      ...embedded.deployed,
      rpcUrl: embedded.anvil.rpcUrl,
      chainId: embedded.anvil.chainId,
      ...embeddedPublicRpcUrl(chain, embedded.anvil.rpcUrl),
    };
  }
  if (redis) signalingConfig = { ...signalingConfig, redisUrl: redis.url };
  if (postgres) ledgerConfig = { ...ledgerConfig, databaseUrl: postgres.url };
  // TLS: one pair for the machine (made here once when self-signed), served by signaling (https, wss) and by the
  // render hosts' probe endpoints (wss); the nodes trust a self-signed certificate when they join signaling.
  const served = await resolveTlsFiles({ ...config, dataDir });
  const tls: EdgeConfig['tls'] = served
    ? {
        certFile: served.certFile,
        keyFile: served.keyFile,
        selfSigned: false,
        ...(served.selfSigned ? { caFile: served.certFile } : config.tls.caFile ? { caFile: config.tls.caFile } : {}),
      }
    : config.tls;
  // Children get the parent's resolved config as a file, plus their own overrides as flags.
  const configFile = join(runDir, 'edge.json');
  const resolved: EdgeConfig = {
    ...config,
    dataDir,
    chain,
    signaling: signalingConfig,
    ledger: ledgerConfig,
    tls,
  };
  writeFileSync(configFile, JSON.stringify(resolved, null, 2));
  const roles: RoleProcess<unknown>[] = [];

  const spawnRole = async <Info>(
    name: string,
    role: string,
    args: string[],
    env: Record<string, string> = {},
  ): Promise<RoleProcess<Info>> => {
    onProgress(name, 'start');
    const startedMs = Date.now();
    const child = await RoleProcess.spawn<Info>({
      role,
      args: ['--config', configFile, '--log-file', join(logDir, `${name}.log`), ...args],
      outputFile: join(logDir, `${name}.out`),
      env,
    });
    roles.push(child);
    onProgress(name, 'done', `${((Date.now() - startedMs) / 1000).toFixed(1)} s`);
    return child;
  };

  const close = async () => {
    await Promise.all([...roles].reverse().map((role) => role.stop()));
    await anvil?.close();
    await redis?.close();
    await postgres?.close();
  };

  try {
    const servedClientDir = await clientDirReady;
    const signalingServers: RoleProcess<SignalingInfo>[] = [];
    for (let i = 1; i <= instances; i++) {
      signalingServers.push(
        await spawnRole<SignalingInfo>(i === 1 ? 'signaling' : `signaling-${i}`, 'signaling', [
          ...(servedClientDir ? ['--client-dir', servedClientDir] : []),
          // The first keeps the configured port; the others take free ones.
          ...(i === 1 ? [] : ['--port', '0']),
          ...(instances > 1 ? ['--set', `signaling.instanceId=s${i}`] : []),
        ]),
      );
    }
    const signaling = signalingServers[0] as RoleProcess<SignalingInfo>;
    // Nodes get every server's URL: they move to the next one if theirs goes down.
    const signalingUrls = signalingServers.map((server) => server.info.httpUrl).join(',');
    const stakeLog = createLogger({ level: config.logLevel, role: 'stack', file: join(logDir, 'stake.log') });
    // Over https with the stack's own (self-signed) certificate, staking trusts it like the nodes do.
    const signalingCa = trustedSignalingCa(resolved);
    const chainInfo = await fetchChainInfo({ url: signaling.info.httpUrl, ca: signalingCa });
    /** Stakes the wallet in `keyFile` (created if new) at `tier`'s minimum, as `provider join` does. */
    const stake = async (name: string, keyFile: string, tier: string) => {
      onProgress(`stake ${name} (${tier})`, 'start');
      const result = await ensureProviderStake({
        signalingUrl: signaling.info.httpUrl,
        ...(signalingCa ? { signalingCa } : {}),
        chain: chainInfo,
        rpcUrl: chain.rpcUrl ?? chainInfo.rpcUrl ?? '',
        account: privateKeyToAccount(loadOrCreateKey(keyFile)),
        tier,
        log: stakeLog,
      });
      onProgress(`stake ${name} (${tier})`, 'done', result.stakedNowWei > 0n ? 'staked' : 'already staked');
    };
    const addRenderHost = async (name: string, settings: Record<string, unknown> = {}) => {
      // runRenderHost keeps a host's provider key in keys/provider-<host id>.key.
      await stake(name, join(dataDir, 'keys', `provider-${name}.key`), STACK_PROVIDER_TIER);
      return spawnRole<RenderHostInfo>(
        name,
        'render-host',
        [
          '--signaling',
          signalingUrls,
          '--host-id',
          name,
          ...Object.entries(settings).flatMap(([key, value]) => [
            '--set',
            `renderHost.${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`,
          ]),
        ],
        { UV_THREADPOOL_SIZE: String(renderHostThreadPool(Number(settings['slots'] ?? config.renderHost.slots))) },
      );
    };
    const renderHosts: RoleProcess<RenderHostInfo>[] = [];
    for (let i = 1; i <= config.stack.renderHosts; i++) renderHosts.push(await addRenderHost(`host-${i}`));
    // Each checker has its own wallet (keys/checker-N.key) and only waits for signaling's assignments.
    const checkers: RoleProcess<CheckerInfo>[] = [];
    const addChecker = async (name: string) => {
      // runChecker keeps a checker's key in keys/<name>.key.
      await stake(name, join(dataDir, 'keys', `${name}.key`), 'checker');
      return spawnRole<CheckerInfo>(name, 'checker', ['--signaling', signalingUrls, '--set', `checker.name=${name}`]);
    };
    for (let i = 1; i <= config.stack.checkers; i++) checkers.push(await addChecker(`checker-${i}`));
    return {
      config: resolved,
      logDir,
      signaling,
      signalingServers,
      redis,
      renderHosts,
      checkers,
      addRenderHost,
      addChecker,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The dev stack's render hosts stake the smallest provider tier. */
const STACK_PROVIDER_TIER = 'software';

/**
 * Every session's Opus, NVENC and above-720p60 x264 (720p60 x264 and libvpx encode on the session's thread) share
 * libuv's thread pool (4 threads by default): give a render host 2 per slot plus 2. It must be set before the
 * process starts (libuv reads it once).
 */
export function renderHostThreadPool(slots: number): number {
  return Math.max(4, 2 * slots + 2);
}

/** Deploys the contracts on a fresh embedded chain with anvil's dev accounts in the network's parts. */
async function deployEmbedded(anvil: Anvil) {
  const admin = anvilAccount(DEV_ACCOUNT.admin);
  const { publicClient, walletClient } = createChainClients({
    network: 'anvil',
    chainId: anvil.chainId,
    rpcUrl: anvil.rpcUrl,
    account: admin,
  });
  if (!walletClient) throw new Error('no deployer wallet');
  const meter = anvilAccount(DEV_ACCOUNT.meter).address;
  const deployed = await deployContracts({
    publicClient,
    walletClient,
    admin: admin.address,
    meter,
    treasury: anvilAccount(DEV_ACCOUNT.treasury).address,
    checkerPool: anvilAccount(DEV_ACCOUNT.checkerPool).address,
    slasher: anvilAccount(DEV_ACCOUNT.slasher).address,
    // Short delays on the dev chain, so the wallet page can show a whole withdrawal.
    withdrawDelaySec: 120n,
    unbondingDelaySec: 600n,
  });
  // The faucet account hands out test ATH: give it a good part of the supply.
  const hash = await walletClient.writeContract({
    address: deployed.tokenAddress,
    abi: athTokenAbi,
    functionName: 'transfer',
    args: [anvilAccount(DEV_ACCOUNT.faucet).address, 100_000_000n * 10n ** 18n],
  });
  await publicClient.waitForTransactionReceipt({ hash });
  return {
    tokenAddress: deployed.tokenAddress,
    escrowAddress: deployed.escrowAddress,
    stakingAddress: deployed.stakingAddress,
  };
}

/**
 * What browsers are told to deposit through on the embedded chain: `chain.publicRpcUrl` when set, else anvil's
 * own URL when it is bound to a specific address other machines can reach (a wildcard bind names no such address:
 * set `publicRpcUrl`). Bound to loopback, nothing changes.
 */
export function embeddedPublicRpcUrl(
  chain: Pick<EdgeConfig['chain'], 'anvilHost' | 'publicRpcUrl'>,
  rpcUrl: string,
): { publicRpcUrl?: string } {
  if (chain.publicRpcUrl) return { publicRpcUrl: chain.publicRpcUrl };
  const host = chain.anvilHost ?? '127.0.0.1';
  const loopback = host === 'localhost' || host === '::1' || host.startsWith('127.');
  const wildcard = host === '0.0.0.0' || host === '::';
  return loopback || wildcard ? {} : { publicRpcUrl: rpcUrl };
}
