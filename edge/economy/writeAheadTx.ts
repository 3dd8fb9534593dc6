/**
 * The write-ahead pattern of every money-moving transaction (settlements, slashes, rewards): sign locally, so
 * the hash is known before the transaction exists anywhere else; record the hash in the ledger; only then
 * broadcast. After a crash, `txFate` says what became of a recorded hash: mined (with its receipt), still in the
 * mempool, or gone (never broadcast, or dropped) — and only "gone" may be sent again.
 */
import {
  type Account,
  type Chain,
  type Hex,
  keccak256,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from 'viem';
import { gasWithHeadroom } from '../chain/index.js';

export type SignedTx = { serialized: Hex; txHash: Hex; nonce: number };

export async function signTx(
  walletClient: WalletClient<Transport, Chain, Account>,
  { to, data }: { to: Hex; data: Hex },
): Promise<SignedTx> {
  const prepared = await walletClient.prepareTransactionRequest({ to, data, chain: walletClient.chain });
  const request = { ...prepared, gas: gasWithHeadroom(prepared.gas) };
  const serialized = await walletClient.signTransaction(request);
  return { serialized, txHash: keccak256(serialized), nonce: request.nonce };
}

export type TxFate = { state: 'mined'; receipt: TransactionReceipt } | { state: 'pending' } | { state: 'gone' };

/** What became of a recorded transaction: its receipt first, then the mempool (a mined one is never "gone"). */
export async function txFate(publicClient: PublicClient<Transport, Chain>, txHash: Hex): Promise<TxFate> {
  const receipt = await publicClient.getTransactionReceipt({ hash: txHash }).catch(() => undefined);
  if (receipt) return { state: 'mined', receipt };
  const tx = await publicClient.getTransaction({ hash: txHash }).catch(() => undefined);
  if (tx) {
    // Mined between the two reads: take the receipt after all.
    const late = await publicClient.getTransactionReceipt({ hash: txHash }).catch(() => undefined);
    return late ? { state: 'mined', receipt: late } : { state: 'pending' };
  }
  return { state: 'gone' };
}

export function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 2000);
}
