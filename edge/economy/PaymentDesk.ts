/**
 * The economy's gate in front of every billed session (implements signaling's PaymentGate): it names the
 * terms — this host's provider and price, a cap and an expiry — and checks the payer's signed SessionAuth
 * against them, against the payer's free escrow on chain (minus what its other open authorizations may still
 * claim), and records the session in the ledger before anything is metered.
 */
import type { Logger } from 'pino';
import type { Address, Chain, Hex, PublicClient, Transport } from 'viem';
import type { HostRecord, PaymentGate, SessionRecord } from '../../signaling/index.js';
import {
  AthError,
  type PaymentTermsRecord,
  type PeerMessageOf,
  type SessionAuth,
  sessionAuthTypes,
  sessionEscrowDomain,
  weiFromString,
  weiToString,
} from '../../signaling/protocol/index.js';
import { sessionEscrowAbi } from '../chain/index.js';
import { accountSummary, createSession, ensureAccount, type Ledger } from '../ledger/index.js';
import { SignatureVerifier, typedDigests } from '../metering/index.js';

export type PaymentDeskSettings = {
  chainId: number;
  escrowAddress: Address;
  /** Cap of one session's authorization: how long one can play at the host's price. */
  maxSessionSeconds: number;
  /** Authorization lifetime. */
  authExpirySec: number;
  authTimeoutMs: number;
};

export type PaymentDeskParameters = {
  settings: PaymentDeskSettings;
  ledger: Ledger;
  publicClient: PublicClient<Transport, Chain>;
  log: Logger;
  now?: () => number;
};

export class PaymentDesk implements PaymentGate {
  readonly authTimeoutMs: number;
  readonly #p: PaymentDeskParameters;
  readonly #log: Logger;
  readonly #verifier = new SignatureVerifier();
  readonly #digests;
  readonly #domain;
  readonly #now: () => number;

  constructor(params: PaymentDeskParameters) {
    this.#p = params;
    this.authTimeoutMs = params.settings.authTimeoutMs;
    this.#log = params.log.child({ mod: 'edge/economy/payments' });
    this.#domain = sessionEscrowDomain({
      chainId: params.settings.chainId,
      verifyingContract: params.settings.escrowAddress,
    });
    this.#digests = typedDigests(this.#domain);
    this.#now = params.now ?? Date.now;
  }

  terms(session: SessionRecord, host: HostRecord): PaymentTermsRecord {
    const { settings } = this.#p;
    return {
      chainId: settings.chainId,
      escrowAddress: settings.escrowAddress,
      providerAddress: host.providerAddress,
      maxAmountWei: weiToString(host.priceWeiPerSec * BigInt(settings.maxSessionSeconds)),
      pricePerSecondWei: weiToString(host.priceWeiPerSec),
      expirySec: String(Math.floor(this.#now() / 1000) + settings.authExpirySec),
    };
  }

  async authorize(
    session: SessionRecord,
    host: HostRecord,
    message: PeerMessageOf<'session-auth'>,
  ): Promise<{ payerAddress: `0x${string}` }> {
    const wire = message.auth;
    const auth: SessionAuth = {
      sessionId: wire.sessionId as Hex,
      player: wire.player as Address,
      provider: wire.provider as Address,
      maxAmount: weiFromString(wire.maxAmount),
      pricePerSecond: weiFromString(wire.pricePerSecond),
      expiry: BigInt(wire.expiry),
    };
    const refuse = (shortMessage: string, details?: string) =>
      new AthError({ code: 'ATH_ERR_BAD_MESSAGE', shortMessage, ...(details ? { details } : {}) });
    const nowSec = BigInt(Math.floor(this.#now() / 1000));
    if (auth.sessionId !== session.id) throw refuse('the authorization is for another session');
    if (auth.provider.toLowerCase() !== host.providerAddress.toLowerCase())
      throw refuse('the authorization names another provider');
    if (auth.pricePerSecond !== host.priceWeiPerSec) throw refuse('the authorization names another price');
    const cap = host.priceWeiPerSec * BigInt(this.#p.settings.maxSessionSeconds);
    if (auth.maxAmount > cap) throw refuse('the authorization cap is above the terms');
    if (auth.maxAmount < host.priceWeiPerSec * 60n)
      throw refuse('the authorization must cover at least a minute of play');
    if (auth.expiry < nowSec + 300n) throw refuse('the authorization expires too soon');
    if (!(await this.#signatureValid(auth, message.signature as Hex))) {
      throw new AthError({
        code: 'ATH_ERR_BAD_SIGNATURE',
        shortMessage: 'the SessionAuth signature is not the payer’s',
      });
    }
    await this.#assertFunds(auth);
    await this.#p.ledger.transaction(async (tx) => {
      await ensureAccount(tx, { address: auth.player, roles: ['player'] });
      await ensureAccount(tx, { address: auth.provider, roles: ['provider'] });
      await createSession(tx, {
        auth,
        authSignature: message.signature as Hex,
        hostId: host.hostId,
        game: session.game,
        state: 'streaming',
      });
    });
    this.#log.info(
      { sessionId: session.id, payer: auth.player, maxAmountWei: String(auth.maxAmount) },
      'session authorized',
    );
    return { payerAddress: auth.player.toLowerCase() as `0x${string}` };
  }

  /** Plain keys are checked in-process (recovered once); smart wallets (code at the address) by ERC-1271. */
  async #signatureValid(auth: SessionAuth, signature: Hex): Promise<boolean> {
    if (this.#verifier.verifyStrict(auth.player, this.#digests.sessionAuth(auth), signature)) return true;
    const code = await this.#p.publicClient.getCode({ address: auth.player }).catch(() => undefined);
    if (!code || code === '0x') return false;
    return this.#p.publicClient
      .verifyTypedData({
        address: auth.player,
        domain: this.#domain,
        types: sessionAuthTypes,
        primaryType: 'SessionAuth',
        message: auth,
        signature,
      })
      .catch(() => false);
  }

  /** Free escrow on chain, minus what the payer's other open authorizations may still claim. */
  async #assertFunds(auth: SessionAuth): Promise<void> {
    let freeWei: bigint;
    try {
      freeWei = await this.#p.publicClient.readContract({
        address: this.#p.settings.escrowAddress,
        abi: sessionEscrowAbi,
        functionName: 'freeBalance',
        args: [auth.player],
      });
    } catch (cause) {
      throw new AthError({ code: 'ATH_ERR_INTERNAL', shortMessage: 'cannot read the escrow right now', cause });
    }
    const summary = await accountSummary(this.#p.ledger, auth.player);
    // Conservative: a session already redeemed once is inside the chain's `reserved` too and so counted
    // twice here — at worst a player with several sessions at once is asked to deposit a little more.
    const pendingWei = (summary?.openAuthorizations ?? [])
      .filter((open) => open.sessionId !== auth.sessionId.toLowerCase())
      .reduce((sum, open) => sum + open.remainingWei, 0n);
    if (freeWei - pendingWei < auth.maxAmount) {
      throw new AthError({
        code: 'ATH_ERR_INSUFFICIENT_FUNDS',
        shortMessage: 'not enough ATH in escrow for this session',
        details: `free ${freeWei - pendingWei} wei, the session may cost up to ${auth.maxAmount} wei`,
      });
    }
  }
}
