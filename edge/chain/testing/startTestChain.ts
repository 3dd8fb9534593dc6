/**
 * A real chain for tests: anvil on loopback with the contracts deployed and the dev roles wired
 * (admin, meter, treasury, checker pool = anvil dev accounts 0..3, slasher 5). Close it in `after`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Account, Address, Chain, HDAccount, Hex, PublicClient, Transport, WalletClient } from 'viem';
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import { athTokenAbi, stakingRegistryAbi } from '../abis.js';
import { createChainClients } from '../chainClients.js';
import {
  DEFAULT_MIN_STAKES_WEI,
  type DeployedContracts,
  deployContracts,
  type SlashParameters,
  tierId,
} from '../deployContracts.js';
import { depositToEscrow } from '../depositToEscrow.js';
import { anvilAccount, DEV_ACCOUNT } from '../devAccounts.js';
import { type Anvil, startAnvil } from '../startAnvil.js';

export type TestChain = DeployedContracts & {
  /** The running anvil (another object after `restart()`, same URL). */
  readonly anvil: Anvil;
  publicClient: PublicClient<Transport, Chain>;
  /** A wallet client per account, created on demand. */
  walletFor(account: Account): WalletClient<Transport, Chain, Account>;
  admin: Account;
  meter: HDAccount;
  treasury: Account;
  /** The rewards pool (the escrow's checker share; holds the rewards role). */
  checkerPool: HDAccount;
  /** Holds the slasher role (not the meter). */
  slasher: HDAccount;
  /** A fresh account with ETH for gas and `athWei` ATH. */
  newFundedAccount(athWei?: bigint): Promise<PrivateKeyAccount & { privateKey: Hex }>;
  /** A fresh funded account that approved and deposited `depositWei` ATH into the escrow: a payer. */
  newDepositedAccount(depositWei: bigint): Promise<PrivateKeyAccount & { privateKey: Hex }>;
  /**
   * Stakes `amountWei` (default: the tier's minimum) for `account` in `tier` (`checker`, `software`, …),
   * funding it with ETH and exactly that much ATH first. Returns the account.
   */
  stake<A extends Account>(account: A, tier: string, amountWei?: bigint): Promise<A>;
  /** A fresh account staked at its tier's minimum (or `amountWei`). */
  newStakedAccount(tier: string, amountWei?: bigint): Promise<PrivateKeyAccount & { privateKey: Hex }>;
  /** Moves the chain's clock forward (next block). */
  increaseTime(seconds: number): Promise<void>;
  setNextTimestamp(unixSec: bigint): Promise<void>;
  /**
   * An RPC outage: stops anvil, keeping its state on disk (`restartable` chains only). Calls to the RPC fail
   * with a refused connection until `restart()`.
   */
  stop(): Promise<void>;
  /** Brings the stopped chain back on the same port with the state it had (blocks, receipts, balances). */
  restart(): Promise<void>;
  close(): Promise<void>;
};

export type StartTestChainParameters = {
  withdrawDelaySec?: bigint;
  unbondingDelaySec?: bigint;
  slashParameters?: SlashParameters;
  /** Keep the chain's state in a file so `stop()` / `restart()` work. */
  restartable?: boolean;
  /** anvil ends with this process even when it is killed (SIGKILL): for benchmarks. */
  tiedToParent?: boolean;
};

export async function startTestChain(options: StartTestChainParameters = {}): Promise<TestChain> {
  const stateDir = options.restartable ? mkdtempSync(join(tmpdir(), 'ath-anvil-')) : undefined;
  const statePath = stateDir === undefined ? undefined : join(stateDir, 'state.json');
  const tied = options.tiedToParent ? { tiedToParent: true } : {};
  let anvil: Anvil = await startAnvil(statePath === undefined ? tied : { statePath, ...tied });
  let stopped = false;
  const admin = anvilAccount(DEV_ACCOUNT.admin);
  const meter = anvilAccount(DEV_ACCOUNT.meter);
  const treasury = anvilAccount(DEV_ACCOUNT.treasury);
  const checkerPool = anvilAccount(DEV_ACCOUNT.checkerPool);
  const slasher = anvilAccount(DEV_ACCOUNT.slasher);
  const base = { network: 'anvil' as const, chainId: anvil.chainId, rpcUrl: anvil.rpcUrl };
  const { publicClient, walletClient } = createChainClients({ ...base, account: admin });
  if (!walletClient) throw new Error('no wallet');
  const deployed = await deployContracts({
    publicClient,
    walletClient,
    admin: admin.address,
    meter: meter.address,
    treasury: treasury.address,
    checkerPool: checkerPool.address,
    slasher: slasher.address,
    ...(options.slashParameters ? { slashParameters: options.slashParameters } : {}),
    ...(options.withdrawDelaySec === undefined ? {} : { withdrawDelaySec: options.withdrawDelaySec }),
    ...(options.unbondingDelaySec === undefined ? {} : { unbondingDelaySec: options.unbondingDelaySec }),
  });
  const walletFor = (account: Account) => {
    const client = createChainClients({ ...base, account }).walletClient;
    if (!client) throw new Error('no wallet');
    return client;
  };
  const rpc = (method: string, params: unknown[]) =>
    fetch(anvil.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    }).then((r) => r.json());
  // One funding transaction at a time: the admin's nonce is shared by every caller.
  let funding: Promise<unknown> = Promise.resolve();
  const fund = async (address: Address, athWei: bigint) => {
    const hashes = [
      await walletClient.sendTransaction({ to: address, value: 10n ** 18n }),
      await walletClient.writeContract({
        address: deployed.tokenAddress,
        abi: athTokenAbi,
        functionName: 'transfer',
        args: [address, athWei],
      }),
    ];
    for (const hash of hashes) await publicClient.waitForTransactionReceipt({ hash });
  };
  const newFundedAccount = async (athWei = 10_000n * 10n ** 18n) => {
    const privateKey = generatePrivateKey();
    const account = Object.assign(privateKeyToAccount(privateKey), { privateKey });
    const done = funding.then(() => fund(account.address, athWei));
    funding = done.catch(() => undefined);
    await done;
    return account;
  };
  const stake = async <A extends Account>(account: A, tier: string, amountWei?: bigint): Promise<A> => {
    const wei = amountWei ?? DEFAULT_MIN_STAKES_WEI[tier] ?? 0n;
    const done = funding.then(() => fund(account.address, wei));
    funding = done.catch(() => undefined);
    await done;
    const wallet = walletFor(account);
    const confirm = async (hash: Hex) => {
      const receipt = await publicClient.waitForTransactionReceipt({ hash });
      if (receipt.status !== 'success') throw new Error(`staking ${tier} for ${account.address} reverted`);
    };
    await confirm(
      await wallet.writeContract({
        address: deployed.tokenAddress,
        abi: athTokenAbi,
        functionName: 'approve',
        args: [deployed.stakingAddress, wei],
      }),
    );
    await confirm(
      await wallet.writeContract({
        address: deployed.stakingAddress,
        abi: stakingRegistryAbi,
        functionName: 'stake',
        args: [wei, tierId(tier)],
      }),
    );
    return account;
  };
  return {
    ...deployed,
    get anvil() {
      return anvil;
    },
    stake,
    newStakedAccount: async (tier, amountWei) => {
      const privateKey = generatePrivateKey();
      return stake(Object.assign(privateKeyToAccount(privateKey), { privateKey }), tier, amountWei);
    },
    publicClient,
    walletFor,
    admin,
    meter,
    treasury,
    checkerPool,
    slasher,
    newFundedAccount,
    async newDepositedAccount(depositWei) {
      const account = await newFundedAccount(depositWei);
      await depositToEscrow({
        publicClient,
        walletClient: walletFor(account),
        tokenAddress: deployed.tokenAddress,
        escrowAddress: deployed.escrowAddress,
        amountWei: depositWei,
      });
      return account;
    },
    async increaseTime(seconds) {
      await rpc('evm_increaseTime', [seconds]);
      await rpc('evm_mine', []);
    },
    async setNextTimestamp(unixSec) {
      await rpc('evm_setNextBlockTimestamp', [Number(unixSec)]);
      await rpc('evm_mine', []);
    },
    async stop() {
      if (statePath === undefined) throw new Error('startTestChain({ restartable: true }) to stop and restart');
      stopped = true;
      await anvil.close();
    },
    async restart() {
      if (statePath === undefined) throw new Error('startTestChain({ restartable: true }) to stop and restart');
      if (!stopped) return;
      const port = Number(new URL(anvil.rpcUrl).port);
      anvil = await startAnvil({ port, chainId: anvil.chainId, statePath, ...tied });
      stopped = false;
    },
    async close() {
      await anvil.close();
      if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
