/**
 * The body of `GET /api/chain`: the chain a signaling server settles on and its contracts, what wallets and
 * provider nodes need. Signaling's route (edge/economy/economyRoutes.ts) answers in this shape; the browser's
 * wallet and `ath-edge provider` validate it, so it lives here where all of them may import it. A server
 * that does not bill (chain.network = none) has no such route.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Address } from './messages.js';

export const ChainInfoBody = Type.Object({
  network: Type.Union([Type.Literal('anvil'), Type.Literal('arbitrum-sepolia'), Type.Literal('arbitrum-one')]),
  chainId: Type.Integer({ minimum: 1 }),
  /** Given for the embedded chain only; wallets on Arbitrum bring their own RPC. */
  rpcUrl: Type.Optional(Type.String()),
  tokenAddress: Address,
  escrowAddress: Address,
  stakingAddress: Address,
  faucet: Type.Boolean(),
});
export type ChainInfo = Static<typeof ChainInfoBody>;
