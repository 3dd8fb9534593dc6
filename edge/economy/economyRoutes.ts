/**
 * The economy's HTTP API, served by signaling's fastify: balances and escrow of an account (ledger + chain),
 * a session's charges (ticks and settlements with their transaction hashes — amounts only), a provider's
 * earnings, the chain's addresses for wallets, and on the embedded chain a faucet for test ATH.
 *
 * No signature leaves through a public endpoint (issue 12): the meter's voucher and the payer's authorization
 * are handed only to the session's payer or provider, on a request they sign (`GET /api/sessions/:id/voucher`),
 * so that either can redeem it on its own.
 */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import {
  type Account,
  type Address,
  bytesToHex,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  verifyMessage,
  type WalletClient,
} from 'viem';
import {
  AccountBody,
  Address as AddressSchema,
  AthError,
  ChainInfoBody,
  FaucetBody,
  FaucetRequestBody,
  HttpErrorBody,
  ProviderEarningsBody,
  SessionChargesBody,
  SessionId,
  SessionVoucherBody,
  sessionEscrowDomain,
  weiFromString,
  weiToString,
} from '../../signaling/protocol/index.js';
import { athTokenAbi, type ChainSettings, sessionEscrowAbi } from '../chain/index.js';
import {
  accountSummary,
  type Ledger,
  providerEarnings,
  type SessionCharges,
  sessionAuthOf,
  sessionCharges,
} from '../ledger/index.js';
import { typedDigests } from '../metering/index.js';
import { toJson } from './toJson.js';

export type EconomyRoutesParameters = {
  ledger: Ledger;
  chain: ChainSettings;
  publicClient: PublicClient<Transport, Chain>;
  /** Present on the embedded chain only: gives test ATH and gas to wallets. */
  faucet?: { walletClient: WalletClient<Transport, Chain, Account>; athWei: bigint; ethWei: bigint };
};

const AddressParams = Type.Object({ address: AddressSchema });

/** How far a signed voucher request's `issued at` may be from the server's clock. */
const VOUCHER_REQUEST_WINDOW_SEC = 300;

const VoucherRequestHeaders = Type.Object({
  'x-ath-address': AddressSchema,
  'x-ath-issued-at': Type.String({ pattern: '^[1-9][0-9]{0,11}$' }),
  'x-ath-signature': Type.String({ pattern: '^0x[0-9a-fA-F]{130,4096}$' }),
});

/** The personal message (EIP-191) a payer or provider signs to read a session's voucher. */
export function voucherRequestMessage({
  sessionId,
  address,
  issuedAtSec,
}: {
  sessionId: Hex;
  address: Address;
  issuedAtSec: number;
}): string {
  return `ath-edge: read a session voucher\nsession: ${sessionId.toLowerCase()}\nwallet: ${address.toLowerCase()}\nissued at: ${issuedAtSec}`;
}

/**
 * A session's charges as anyone may see them: amounts, times and transaction hashes, field by field — the
 * payer's authorization signature and the meter's voucher signatures stay in the ledger (the response schema
 * would drop them too; this does not rely on it).
 */
export function publicCharges(charges: SessionCharges) {
  const {
    authSignature: _auth,
    signalingInstance: _instance,
    meterEpoch: _epoch,
    meteredUntilMs: _until,
    ...session
  } = charges.session;
  return {
    session,
    ticks: charges.ticks,
    voucher: charges.voucher
      ? {
          sessionId: charges.voucher.sessionId,
          cumulativeWei: charges.voucher.cumulativeWei,
          deliveredSec: charges.voucher.deliveredSec,
          meterAddress: charges.voucher.meterAddress,
          updatedAt: charges.voucher.updatedAt,
        }
      : undefined,
    settlements: charges.settlements.map(({ meterSignature: _sig, ...row }) => row),
    chargedWei: charges.chargedWei,
    settledWei: charges.settledWei,
    unsettledWei: charges.unsettledWei,
    deliveredSec: charges.deliveredSec,
  };
}
const FAUCET_INTERVAL_MS = 60_000;
/** A provider joining the embedded chain asks for its tier's minimum stake at once (test ATH, capped). */
const FAUCET_MAX_ATH_WEI = 100_000n * 10n ** 18n;

export function economyRoutes({
  ledger,
  chain,
  publicClient,
  faucet,
}: EconomyRoutesParameters): FastifyPluginAsyncTypebox {
  const digests = typedDigests(sessionEscrowDomain({ chainId: chain.chainId, verifyingContract: chain.escrowAddress }));
  const escrowRead = <T>(functionName: string, args: readonly unknown[]) =>
    publicClient.readContract({
      address: chain.escrowAddress,
      abi: sessionEscrowAbi,
      functionName: functionName as 'freeBalance',
      args: args as [Address],
    }) as Promise<T>;

  return async (app) => {
    app.get(
      '/api/chain',
      { schema: { summary: 'The chain and contract addresses wallets need', response: { 200: ChainInfoBody } } },
      async () => ({
        network: chain.network,
        chainId: chain.chainId,
        rpcUrl: chain.network === 'anvil' ? (chain.publicRpcUrl ?? chain.rpcUrl) : undefined,
        tokenAddress: chain.tokenAddress,
        escrowAddress: chain.escrowAddress,
        stakingAddress: chain.stakingAddress,
        faucet: faucet !== undefined,
      }),
    );

    app.get(
      '/api/accounts/:address',
      {
        schema: {
          summary: 'Balances, escrow and open authorizations of a wallet',
          params: AddressParams,
          response: { 200: AccountBody, '4xx': HttpErrorBody },
        },
      },
      async (request) => {
        const address = request.params.address as Address;
        const [tokenWei, account, withdrawal, earningsWei, summary] = await Promise.all([
          publicClient.readContract({
            address: chain.tokenAddress,
            abi: athTokenAbi,
            functionName: 'balanceOf',
            args: [address],
          }),
          escrowRead<readonly [bigint, bigint]>('accounts', [address]),
          escrowRead<readonly [bigint, bigint]>('withdrawRequests', [address]),
          escrowRead<bigint>('earnings', [address]),
          accountSummary(ledger, address),
        ]);
        return toJson({
          address,
          tokenWei,
          escrow: {
            balanceWei: account[0],
            reservedWei: account[1],
            freeWei: account[0] - account[1],
            withdrawRequest: withdrawal[0] > 0n ? { amountWei: withdrawal[0], unlockAtSec: withdrawal[1] } : null,
          },
          earningsWei,
          ledger: summary ?? null,
        });
      },
    );

    app.get(
      '/api/sessions/:id/charges',
      {
        schema: {
          summary: 'A session’s metering ticks, latest voucher and settlements: amounts and tx hashes, no signatures',
          params: Type.Object({ id: SessionId }),
          response: { 200: SessionChargesBody, '4xx': HttpErrorBody },
        },
      },
      async (request) => {
        const charges = await sessionCharges(ledger, request.params.id as `0x${string}`);
        if (!charges)
          throw new AthError({ code: 'ATH_ERR_SESSION_NOT_FOUND', shortMessage: 'no charges for that session' });
        return toJson(publicCharges(charges));
      },
    );

    app.get(
      '/api/sessions/:id/voucher',
      {
        schema: {
          summary:
            'The session’s latest meter voucher and the payer’s authorization, for its payer or provider only ' +
            '(headers: x-ath-address, x-ath-issued-at, x-ath-signature over voucherRequestMessage)',
          params: Type.Object({ id: SessionId }),
          headers: VoucherRequestHeaders,
          response: { 200: SessionVoucherBody, '4xx': HttpErrorBody },
        },
      },
      async (request) => {
        const sessionId = request.params.id.toLowerCase() as Hex;
        const address = request.headers['x-ath-address'].toLowerCase() as Address;
        const issuedAtSec = Number(request.headers['x-ath-issued-at']);
        if (Math.abs(Date.now() / 1000 - issuedAtSec) > VOUCHER_REQUEST_WINDOW_SEC) {
          throw new AthError({
            code: 'ATH_ERR_TOKEN_EXPIRED',
            shortMessage: 'the signed request is too old or too new',
          });
        }
        const signed = await verifyMessage({
          address,
          message: voucherRequestMessage({ sessionId, address, issuedAtSec }),
          signature: request.headers['x-ath-signature'] as Hex,
        }).catch(() => false);
        const charges = signed ? await sessionCharges(ledger, sessionId) : undefined;
        const session = charges?.session;
        if (!signed || !session || (session.payerAddress !== address && session.providerAddress !== address)) {
          // The same answer whether the session exists or not: a stranger learns nothing.
          throw new AthError({
            code: 'ATH_ERR_UNAUTHORIZED',
            shortMessage: 'only the session’s payer or provider, signing the request, may read its voucher',
          });
        }
        const auth = sessionAuthOf(session);
        const voucher = charges.voucher;
        return toJson({
          auth,
          authSignature: session.authSignature,
          usage: voucher
            ? {
                sessionId,
                authHash: bytesToHex(digests.sessionAuth(auth)),
                cumulativeAmount: voucher.cumulativeWei,
                deliveredSeconds: BigInt(voucher.deliveredSec),
              }
            : null,
          usageSignature: voucher?.signature ?? null,
          settledWei: session.settledWei,
        });
      },
    );

    app.get(
      '/api/providers/:address/earnings',
      {
        schema: {
          summary: 'What a provider earned (ledger) and can withdraw (chain)',
          params: AddressParams,
          response: { 200: ProviderEarningsBody, '4xx': HttpErrorBody },
        },
      },
      async (request) => {
        const address = request.params.address as Address;
        const [earned, withdrawableWei] = await Promise.all([
          providerEarnings(ledger, { providerAddress: address }),
          escrowRead<bigint>('earnings', [address]),
        ]);
        return toJson({ ...earned, withdrawableWei });
      },
    );

    if (faucet) {
      const lastGift = new Map<string, number>();
      let queue: Promise<unknown> = Promise.resolve();
      app.post(
        '/api/faucet',
        {
          schema: {
            summary: 'Test ATH and gas for a wallet (embedded chain only)',
            body: FaucetRequestBody,
            response: { 200: FaucetBody, '4xx': HttpErrorBody },
          },
        },
        async (request) => {
          const { athWei: askedWei } = request.body;
          const address = request.body.address as Address;
          const athWei = askedWei === undefined ? faucet.athWei : weiFromString(askedWei);
          if (athWei > FAUCET_MAX_ATH_WEI) {
            throw new AthError({ code: 'ATH_ERR_BAD_MESSAGE', shortMessage: 'the faucet gives at most 100,000 ATH' });
          }
          const key = address.toLowerCase();
          if (Date.now() - (lastGift.get(key) ?? 0) < FAUCET_INTERVAL_MS) {
            throw new AthError({ code: 'ATH_ERR_RATE_LIMITED', shortMessage: 'one faucet gift per minute per wallet' });
          }
          lastGift.set(key, Date.now());
          // One gift at a time: the faucet's nonce is shared.
          const gift = queue.then(async () => {
            const { walletClient } = faucet;
            const hashes: [Hex, Hex] = [
              await walletClient.sendTransaction({ to: address, value: faucet.ethWei }),
              await walletClient.writeContract({
                address: chain.tokenAddress,
                abi: athTokenAbi,
                functionName: 'transfer',
                args: [address, athWei],
              }),
            ];
            for (const hash of hashes) await publicClient.waitForTransactionReceipt({ hash });
            return hashes;
          });
          queue = gift.catch(() => undefined);
          const [ethTx, athTx] = await gift;
          return { address, athWei: weiToString(athWei), ethWei: weiToString(faucet.ethWei), ethTx, athTx };
        },
      );
    }
  };
}
