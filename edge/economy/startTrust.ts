/**
 * Earned trust, paid for real: the SlashDesk (records every decided round, decides slashes and checker bars),
 * the SlashSender (the slasher key sends them) and the RewardsJob (the rewards pool's key pays stakers weekly
 * and checkers per period). The slasher and the rewards keys are their own — never the meter's — and on the
 * embedded chain they are anvil's dev accounts 5 and 3.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Account, Chain, Hex, PublicClient, Transport } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { SignalingHub } from '../../signaling/index.js';
import { AthError } from '../../signaling/protocol/index.js';
import { anvilAccount, ChainClock, type ChainSettings, createChainClients, DEV_ACCOUNT } from '../chain/index.js';
import type { EdgeConfig } from '../config/EdgeConfig.js';
import type { Ledger } from '../ledger/index.js';
import { EconomyErrorCode } from './errors.js';
import { RewardsJob } from './RewardsJob.js';
import { SlashDesk } from './SlashDesk.js';
import { SlashSender } from './SlashSender.js';

export type Trust = {
  readonly clock: ChainClock;
  readonly desk: SlashDesk;
  readonly slasher: SlashSender | undefined;
  readonly rewards: RewardsJob | undefined;
  close(): Promise<void>;
};

export type StartTrustParameters = {
  config: EdgeConfig;
  chain: ChainSettings;
  ledger: Ledger;
  publicClient: PublicClient<Transport, Chain>;
  hub: SignalingHub;
  /** The meter's address: the slasher and rewards keys must be others. */
  meterAddress: `0x${string}`;
  log: Logger;
};

/** A configured key, or the embedded chain's dev account; undefined when neither. */
function keyAccount(key: string | undefined, network: ChainSettings['network'], devIndex: number): Account | undefined {
  if (key !== undefined) return privateKeyToAccount(key as Hex);
  return network === 'anvil' ? anvilAccount(devIndex) : undefined;
}

export function startTrust({
  config,
  chain,
  ledger,
  publicClient,
  hub,
  meterAddress,
  log,
}: StartTrustParameters): Trust {
  const clock = new ChainClock({ publicClient });
  clock.start();
  const workerId = `signaling-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`.slice(0, 128);
  const desk = new SlashDesk({
    hub,
    ledger,
    publicClient,
    stakingAddress: chain.stakingAddress,
    clock,
    rules: {
      enabled: config.economy.slashing.enabled,
      farBelowSpecRatio: config.economy.slashing.farBelowSpecRatio,
    },
    log,
  });
  desk.start();
  const distinct = (account: Account | undefined, what: string): Account | undefined => {
    if (account && account.address.toLowerCase() === meterAddress.toLowerCase()) {
      throw new AthError({
        code: EconomyErrorCode.trustKeys,
        shortMessage: `the ${what} key must not be the meter's`,
        details: account.address,
      });
    }
    return account;
  };
  const slasherAccount = config.economy.slashing.enabled
    ? distinct(keyAccount(config.chain.slasherKey, chain.network, DEV_ACCOUNT.slasher), 'slasher')
    : undefined;
  const rewardsAccount = config.economy.rewards.enabled
    ? distinct(keyAccount(config.chain.rewardsKey, chain.network, DEV_ACCOUNT.checkerPool), 'rewards')
    : undefined;
  const walletFor = (account: Account) => {
    const { walletClient } = createChainClients({ ...chain, account });
    if (!walletClient) throw new AthError({ code: EconomyErrorCode.trustKeys, shortMessage: 'no wallet' });
    return walletClient;
  };
  let slasher: SlashSender | undefined;
  if (slasherAccount) {
    slasher = new SlashSender({
      ledger,
      publicClient,
      walletClient: walletFor(slasherAccount),
      stakingAddress: chain.stakingAddress,
      workerId,
      intervalMs: config.economy.slashing.intervalMs,
      log,
    });
    slasher.start();
  } else if (config.economy.slashing.enabled) {
    log.warn('no chain.slasherKey: slashes are decided and recorded, but not sent');
  }
  let rewards: RewardsJob | undefined;
  if (rewardsAccount) {
    rewards = new RewardsJob({
      ledger,
      publicClient,
      walletClient: walletFor(rewardsAccount),
      stakingAddress: chain.stakingAddress,
      escrowAddress: chain.escrowAddress,
      tokenAddress: chain.tokenAddress,
      clock,
      rules: {
        stakerShareBps: config.economy.rewards.stakerShareBps,
        checkerPeriodSec: config.economy.rewards.checkerPeriodSec,
        intervalMs: config.economy.rewards.intervalMs,
        chunkSize: 100,
      },
      workerId,
      log,
      ...(config.chain.deployBlock === undefined ? {} : { fromBlock: BigInt(config.chain.deployBlock) }),
    });
    rewards.start();
  } else if (config.economy.rewards.enabled) {
    log.warn('no chain.rewardsKey: reward periods are computed when a process with the key runs');
  }
  return {
    clock,
    desk,
    slasher,
    rewards,
    async close() {
      await desk.close();
      await slasher?.close();
      await rewards?.close();
      clock.close();
    },
  };
}
