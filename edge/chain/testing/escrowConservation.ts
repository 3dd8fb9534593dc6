/**
 * The escrow's conservation law, read from a real chain: the ATH the SessionEscrow contract holds equals what it
 * owes — every payer's escrow balance plus every earner's (providers, checker pool, treasury) earnings — to the
 * wei. Payers are everyone who ever deposited (the `Deposited` events); earners are the given addresses, the
 * checker pool and the treasury, and every payer too (a payer who redirects a payment to itself earns).
 * Money credited to an address outside that set shows up as a gap, which is the point.
 */
import assert from 'node:assert/strict';
import type { Address } from 'viem';
import { athTokenAbi, sessionEscrowAbi } from '../abis.js';
import type { TestChain } from './startTestChain.js';

export type EscrowBooks = {
  tokenBalanceWei: bigint;
  payerBalancesWei: bigint;
  earningsWei: bigint;
  payers: Address[];
};

/** Reads the escrow's token balance and Σ of what it owes. */
export async function readEscrowBooks(chain: TestChain, earners: readonly Address[] = []): Promise<EscrowBooks> {
  const { publicClient, escrowAddress } = chain;
  const deposits = await publicClient.getContractEvents({
    address: escrowAddress,
    abi: sessionEscrowAbi,
    eventName: 'Deposited',
    fromBlock: 0n,
  });
  const payers = [...new Set(deposits.map((log) => (log.args.payer as Address).toLowerCase() as Address))];
  const everyone = [
    ...new Set(
      [...payers, ...earners, chain.checkerPool.address, chain.treasury.address].map(
        (address) => address.toLowerCase() as Address,
      ),
    ),
  ];
  const read = <T>(functionName: 'accounts' | 'earnings', address: Address) =>
    publicClient.readContract({
      address: escrowAddress,
      abi: sessionEscrowAbi,
      functionName,
      args: [address],
    } as never) as Promise<T>;
  const balances = await Promise.all(payers.map((p) => read<readonly [bigint, bigint]>('accounts', p)));
  const earnings = await Promise.all(everyone.map((p) => read<bigint>('earnings', p)));
  const tokenBalanceWei = await publicClient.readContract({
    address: chain.tokenAddress,
    abi: athTokenAbi,
    functionName: 'balanceOf',
    args: [escrowAddress],
  });
  return {
    tokenBalanceWei,
    payerBalancesWei: balances.reduce((sum, [balance]) => sum + balance, 0n),
    earningsWei: earnings.reduce((sum, e) => sum + e, 0n),
    payers,
  };
}

/** token.balanceOf(escrow) = Σ payer balances + Σ earnings, to the wei. */
export async function assertEscrowConserved(chain: TestChain, earners: readonly Address[] = []): Promise<void> {
  const books = await readEscrowBooks(chain, earners);
  assert.equal(
    books.tokenBalanceWei,
    books.payerBalancesWei + books.earningsWei,
    `escrow conservation: holds ${books.tokenBalanceWei} wei, owes ${books.payerBalancesWei} (payers) + ${books.earningsWei} (earnings)`,
  );
}
