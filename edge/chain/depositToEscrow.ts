import type { Account, Address, Chain, Hash, PublicClient, Transport, WalletClient } from 'viem';
import { athTokenAbi, sessionEscrowAbi } from './abis.js';

export type DepositToEscrowParameters = {
  publicClient: PublicClient<Transport, Chain>;
  /** The payer's wallet: a player, or a studio paying for its players. */
  walletClient: WalletClient<Transport, Chain, Account>;
  tokenAddress: Address;
  escrowAddress: Address;
  amountWei: bigint;
};

/**
 * Puts ATH into the session escrow for the wallet's account: `approve` then `deposit`, each waited for until
 * mined (the deposit reverts if it lands before the allowance). Returns both transaction hashes.
 */
export async function depositToEscrow({
  publicClient,
  walletClient,
  tokenAddress,
  escrowAddress,
  amountWei,
}: DepositToEscrowParameters): Promise<{ approveHash: Hash; depositHash: Hash }> {
  const approveHash = await walletClient.writeContract({
    address: tokenAddress,
    abi: athTokenAbi,
    functionName: 'approve',
    args: [escrowAddress, amountWei],
  });
  await publicClient.waitForTransactionReceipt({ hash: approveHash });
  const depositHash = await walletClient.writeContract({
    address: escrowAddress,
    abi: sessionEscrowAbi,
    functionName: 'deposit',
    args: [amountWei],
  });
  await publicClient.waitForTransactionReceipt({ hash: depositHash });
  return { approveHash, depositHash };
}
