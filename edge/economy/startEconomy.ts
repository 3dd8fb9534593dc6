/**
 * The economy inside the signaling process: the ledger, the payment desk (SessionAuth checks), the meter
 * (ticks → vouchers → outbox) and the settlement worker (outbox → chain), plus their HTTP API. With the
 * embedded PGlite ledger everything that touches it must live in this one process; with a Postgres server
 * (`DATABASE_URL`) the settler may also run on its own (`ath-edge settler`).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import type { Address, Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { Metrics, SignalingMetricKey } from '../../metrics/index.js';
import { DEFAULT_STAKE_SETTINGS, type DrainStore, type SignalingHub } from '../../signaling/index.js';
import { AthError } from '../../signaling/protocol/index.js';
import { anvilAccount, type ChainSettings, createChainClients, DEV_ACCOUNT, sessionEscrowAbi } from '../chain/index.js';
import type { EdgeConfig } from '../config/EdgeConfig.js';
import { type Ledger, openLedger } from '../ledger/index.js';
import { createVoucherSigner, Meter } from '../metering/index.js';
import { SettlementWorker } from '../settler/SettlementWorker.js';
import { ChainStakeGate } from './ChainStakeGate.js';
import { economyRoutes } from './economyRoutes.js';
import { ledgerDrainStore } from './ledgerDrainStore.js';
import { PaymentDesk } from './PaymentDesk.js';
import { providerStatusRoutes } from './providerStatus.js';
import { StakeWatcher } from './StakeWatcher.js';
import { startTrust, type Trust } from './startTrust.js';
import { studioRoutes } from './studioRoutes.js';
import { trustRoutes } from './trustRoutes.js';

export type Economy = {
  readonly chain: ChainSettings;
  readonly ledger: Ledger;
  readonly payments: PaymentDesk;
  /** Signaling's gate on hosts and checkers: the StakingRegistry, read and watched. */
  readonly stakes: ChainStakeGate;
  /** Signaling's drains, in the ledger. */
  readonly drains: DrainStore;
  readonly routes: ReadonlyArray<FastifyPluginAsyncTypebox>;
  /** The checkers' EIP-712 domain (the staking registry). */
  readonly checkerDomain: { chainId: number; verifyingContract: Address };
  /** Starts metering and settlement on a running hub. */
  attach(hub: SignalingHub, metrics: Metrics<SignalingMetricKey>): Promise<void>;
  /** Slashing and rewards, once attached. */
  readonly trust: Trust | undefined;
  close(): Promise<void>;
};

/** The chain settings a configured node uses; throws ATH_ERR_CONFIG when something is missing. */
export function chainSettingsOf(config: EdgeConfig): ChainSettings {
  const c = config.chain;
  if (c.network === 'none' || !c.rpcUrl || !c.chainId || !c.tokenAddress || !c.escrowAddress || !c.stakingAddress) {
    throw new AthError({
      code: 'ATH_ERR_CONFIG',
      shortMessage: 'billing needs chain.rpcUrl, chain.chainId and the token, escrow and staking addresses',
      details: 'ath-edge all fills them for the embedded chain; `ath-edge deploy` prints them for Arbitrum',
    });
  }
  return {
    network: c.network,
    rpcUrl: c.rpcUrl,
    chainId: c.chainId,
    tokenAddress: c.tokenAddress as Address,
    escrowAddress: c.escrowAddress as Address,
    stakingAddress: c.stakingAddress as Address,
    ...(c.publicRpcUrl ? { publicRpcUrl: c.publicRpcUrl } : {}),
  };
}

export async function startEconomy({
  config,
  log,
  clientDir,
}: {
  config: EdgeConfig;
  log: Logger;
  /** The built client, for the studios' `/embed/:game` page. */
  clientDir?: string | undefined;
}): Promise<Economy> {
  const chain = chainSettingsOf(config);
  const { maxSessionSeconds, authExpirySec, expiryMarginSec } = config.economy;
  if (authExpirySec < maxSessionSeconds + expiryMarginSec) {
    throw new AthError({
      code: 'ATH_ERR_CONFIG',
      shortMessage: 'economy.authExpirySec must cover economy.maxSessionSeconds plus economy.expiryMarginSec',
      details: `${authExpirySec} < ${maxSessionSeconds} + ${expiryMarginSec}`,
    });
  }
  const meterAccount =
    config.chain.meterKey !== undefined
      ? privateKeyToAccount(config.chain.meterKey as Hex)
      : chain.network === 'anvil'
        ? anvilAccount(DEV_ACCOUNT.meter)
        : undefined;
  if (!meterAccount) {
    throw new AthError({
      code: 'ATH_ERR_CONFIG',
      shortMessage: 'chain.meterKey is required outside the embedded chain',
    });
  }
  const meterKey: Hex =
    'getHdKey' in meterAccount
      ? (`0x${Buffer.from(meterAccount.getHdKey().privateKey ?? new Uint8Array()).toString('hex')}` as Hex)
      : (config.chain.meterKey as Hex);
  const { publicClient, walletClient } = createChainClients({ ...chain, account: meterAccount });
  if (!walletClient) throw new AthError({ code: 'ATH_ERR_CONFIG', shortMessage: 'no wallet for the meter' });
  const ledger = await openLedger({
    ...(config.ledger.databaseUrl
      ? { databaseUrl: config.ledger.databaseUrl }
      : { dataDir: join(config.dataDir, 'ledger') }),
    logger: log,
  });
  // This process, among all sharing the ledger: the settlement lease's holder, and the metering instance that
  // sessions record (so the sessions of a process that died are found and closed by the next one).
  const instanceId = `signaling-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`.slice(0, 128);
  const payments = new PaymentDesk({
    settings: {
      chainId: chain.chainId,
      escrowAddress: chain.escrowAddress,
      maxSessionSeconds: config.economy.maxSessionSeconds,
      authExpirySec: config.economy.authExpirySec,
      authTimeoutMs: config.economy.authTimeoutMs,
      expiryMarginSec: config.economy.expiryMarginSec,
    },
    ledger,
    publicClient,
    redeemerAddress: meterAccount.address,
    log,
    instanceId,
  });
  const faucetClient =
    chain.network === 'anvil' && config.economy.faucet
      ? createChainClients({ ...chain, account: anvilAccount(DEV_ACCOUNT.faucet) }).walletClient
      : undefined;
  let attachedHub: SignalingHub | undefined;
  let trust: Trust | undefined;
  const routes = [
    providerStatusRoutes({
      ledger,
      chain,
      publicClient,
      hub: () => attachedHub,
      trust: {
        ledger,
        publicClient,
        stakingAddress: chain.stakingAddress,
        clock: () => trust?.clock,
        rules: config.economy.rewards,
      },
    }),
    economyRoutes({
      ledger,
      chain,
      publicClient,
      ...(faucetClient
        ? { faucet: { walletClient: faucetClient, athWei: 1_000n * 10n ** 18n, ethWei: 10n ** 18n } }
        : {}),
    }),
  ];
  let meter: Meter | undefined;
  let settler: SettlementWorker | undefined;
  routes.push(
    studioRoutes({
      ledger,
      payments,
      chainId: chain.chainId,
      escrowAddress: chain.escrowAddress,
      publicClient,
      hosts: () => attachedHub?.hosts,
      clientDir,
    }),
  );
  const stakes = new ChainStakeGate({ publicClient, stakingAddress: chain.stakingAddress, log });
  let stakeWatcher: StakeWatcher | undefined;
  routes.push(
    trustRoutes({
      ledger,
      publicClient,
      stakingAddress: chain.stakingAddress,
      clock: () => trust?.clock,
      rules: config.economy.rewards,
    }),
  );
  let orphanSweep: NodeJS.Timeout | undefined;
  return {
    chain,
    ledger,
    payments,
    stakes,
    drains: ledgerDrainStore(ledger),
    routes,
    checkerDomain: { chainId: chain.chainId, verifyingContract: chain.stakingAddress },
    async attach(hub, metrics) {
      attachedHub = hub;
      // The ledger mirrors operators' stakes for the provider status page.
      stakeWatcher = new StakeWatcher({ hub, ledger, stakes, log, checkerTier: DEFAULT_STAKE_SETTINGS.checkerTier });
      stakeWatcher.start();
      meter = new Meter({
        hub,
        ledger,
        signer: createVoucherSigner({
          privateKey: meterKey,
          domain: {
            name: 'AthSessionEscrow',
            version: '1',
            chainId: chain.chainId,
            verifyingContract: chain.escrowAddress,
          },
        }),
        meterAddress: meterAccount.address,
        escrow: {
          // What the escrow can pay: the balance, less a withdrawal the payer has asked for.
          balanceWei: async (payer) => {
            const read = <T>(functionName: 'accounts' | 'withdrawRequests') =>
              publicClient.readContract({
                address: chain.escrowAddress,
                abi: sessionEscrowAbi,
                functionName,
                args: [payer],
              }) as Promise<T>;
            const [[balanceWei], [withdrawingWei]] = await Promise.all([
              read<readonly [bigint, bigint]>('accounts'),
              read<readonly [bigint, bigint]>('withdrawRequests'),
            ]);
            return balanceWei - withdrawingWei;
          },
        },
        settings: {
          tickSec: config.economy.tickSec,
          fpsFloor: config.economy.fpsFloor,
          reportFreshMs: 12_000,
          expiryMarginSec: config.economy.expiryMarginSec,
        },
        log,
        metrics,
        instanceId,
      });
      // Sessions a dead signaling process left streaming: ended now, and again whenever one dies later.
      await meter.closeOrphans();
      orphanSweep = setInterval(() => void meter?.closeOrphans(), 60_000);
      orphanSweep.unref();
      settler = new SettlementWorker({
        ledger,
        publicClient,
        walletClient,
        escrowAddress: chain.escrowAddress,
        // Unique per process: it names this process as the holder of the settlement lease.
        workerId: instanceId,
        intervalMs: config.economy.settleIntervalMs,
        batchSize: config.economy.settleBatchSize,
        log,
        metrics,
        // A session whose authorization the escrow refuses for good plays unpaid: it ends (at once here; the
        // meter of whichever process runs it also ends it at its next tick, reading the refusal in the ledger).
        onRefused: ({ sessionId }) =>
          hub.endSession(sessionId, 'insufficient-funds', 'The payer’s authorization was refused by the escrow.'),
      });
      await settler.start();
      // Slashing on confirmed verdicts and weekly rewards, each with its own key (edge/economy/startTrust.ts).
      trust = startTrust({ config, chain, ledger, publicClient, hub, meterAddress: meterAccount.address, log });
    },
    get trust() {
      return trust;
    },
    async close() {
      clearInterval(orphanSweep);
      await trust?.close();
      await stakeWatcher?.close();
      stakes.close();
      await meter?.close();
      await settler?.close();
      await ledger.close();
    },
  };
}
