/**
 * Puts up a provider's stake in the StakingRegistry: the minimum of its GPU tier, no more. Idempotent — a
 * provider already staked at least the minimum sends nothing; one below it (after a slash) tops up the
 * difference. On the embedded chain a short wallet is filled from signaling's faucet first; elsewhere the
 * provider must hold the ATH (and the gas) itself.
 */
import type { Logger } from 'pino';
import type { Account, Address, Hex } from 'viem';
import { AthError, weiToString } from '../../signaling/protocol/index.js';
import {
  athTokenAbi,
  createChainClients,
  gasWithHeadroom,
  readOperatorStake,
  stakingRegistryAbi,
  tierId,
} from '../chain/index.js';
import { ProviderErrorCode } from './errors.js';
import { type ChainInfo, requestFaucet } from './signalingApi.js';

export type EnsureProviderStakeParameters = {
  signalingUrl: string;
  /** A PEM certificate to trust for https to signaling beside the system's CAs (`tls.caFile`). */
  signalingCa?: string;
  chain: ChainInfo;
  /** The RPC to send transactions to: the chain info's own (embedded chain) unless configured. */
  rpcUrl: string;
  account: Account;
  tier: string;
  log: Logger;
};

export type EnsureProviderStakeReturnType = {
  tier: string;
  stakeWei: bigint;
  minStakeWei: bigint;
  /** What this call staked (0 when the provider was already staked). */
  stakedNowWei: bigint;
  /** Test ATH the faucet gave (0 when none was needed or there is no faucet). */
  faucetWei: bigint;
  transactions: Hex[];
};

export async function ensureProviderStake({
  signalingUrl,
  signalingCa,
  chain,
  rpcUrl,
  account,
  tier,
  log,
}: EnsureProviderStakeParameters): Promise<EnsureProviderStakeReturnType> {
  const { publicClient, walletClient } = createChainClients({
    network: chain.network,
    chainId: chain.chainId,
    rpcUrl,
    account,
  });
  if (!walletClient) throw new AthError({ code: ProviderErrorCode.stake, shortMessage: 'no wallet for the provider' });
  const staking = chain.stakingAddress as Address;
  const token = chain.tokenAddress as Address;
  const tierHash = tierId(tier);
  const [current, minStakeWei] = await Promise.all([
    readOperatorStake({ publicClient, stakingAddress: staking, operator: account.address }),
    publicClient.readContract({
      address: staking,
      abi: stakingRegistryAbi,
      functionName: 'minStake',
      args: [tierHash],
    }),
  ]);
  if (minStakeWei === 0n) {
    throw new AthError({
      code: ProviderErrorCode.stake,
      shortMessage: `the staking registry has no minimum for tier \`${tier}\``,
      details: 'this network does not take that tier',
    });
  }
  if (current.stakeWei > 0n && current.tierId.toLowerCase() !== tierHash.toLowerCase()) {
    throw new AthError({
      code: ProviderErrorCode.stake,
      shortMessage: `${account.address} is staked in tier ${current.tier ?? current.tierId}, not ${tier}`,
      details: 'an operator stays in one tier while it has stake: join with that --tier, or unbond first',
    });
  }
  const result: EnsureProviderStakeReturnType = {
    tier,
    stakeWei: current.stakeWei,
    minStakeWei,
    stakedNowWei: 0n,
    faucetWei: 0n,
    transactions: [],
  };
  if (current.stakeWei >= minStakeWei) {
    log.info({ provider: account.address, tier, stakeWei: weiToString(current.stakeWei) }, 'already staked');
    return result;
  }
  const neededWei = minStakeWei - current.stakeWei;

  const [balanceWei, gasWei] = await Promise.all([
    publicClient.readContract({ address: token, abi: athTokenAbi, functionName: 'balanceOf', args: [account.address] }),
    publicClient.getBalance({ address: account.address }),
  ]);
  if (balanceWei < neededWei || gasWei === 0n) {
    if (!chain.faucet) {
      throw new AthError({
        code: ProviderErrorCode.stake,
        shortMessage: `staking ${tier} needs ${weiToString(neededWei)} wei of ATH and gas; ${account.address} holds ${weiToString(balanceWei)} wei of ATH and ${weiToString(gasWei)} wei of ETH`,
      });
    }
    const giftWei = neededWei > balanceWei ? neededWei - balanceWei : 0n;
    log.info({ provider: account.address, athWei: weiToString(giftWei) }, 'asking the faucet for test ATH and gas');
    // The faucet's default gift covers gas when no ATH is missing (only ETH was).
    await requestFaucet({ url: signalingUrl, ca: signalingCa }, account.address, giftWei > 0n ? giftWei : 10n ** 18n);
    result.faucetWei = giftWei;
  }

  // simulate → write → wait: a revert surfaces with the contract's reason before any gas is spent.
  const confirm = async (hash: Hex, what: string) => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success') {
      throw new AthError({ code: ProviderErrorCode.stake, shortMessage: `${what} reverted`, details: hash });
    }
    result.transactions.push(hash);
  };
  const allowanceWei = await publicClient.readContract({
    address: token,
    abi: athTokenAbi,
    functionName: 'allowance',
    args: [account.address, staking],
  });
  if (allowanceWei < neededWei) {
    const { request } = await publicClient.simulateContract({
      account,
      address: token,
      abi: athTokenAbi,
      functionName: 'approve',
      args: [staking, neededWei],
    });
    await confirm(await walletClient.writeContract(request), 'approving the stake');
  }
  const { request } = await publicClient.simulateContract({
    account,
    address: staking,
    abi: stakingRegistryAbi,
    functionName: 'stake',
    args: [neededWei, tierHash],
  });
  // A stake change stamps the block time: an estimate taken in the second of the last change falls short after it.
  const gas = gasWithHeadroom(await publicClient.estimateContractGas(request));
  await confirm(await walletClient.writeContract({ ...request, gas }), `staking ${tier}`);
  result.stakedNowWei = neededWei;
  result.stakeWei = current.stakeWei + neededWei;
  log.info({ provider: account.address, tier, stakeWei: weiToString(result.stakeWei) }, 'staked');
  return result;
}
