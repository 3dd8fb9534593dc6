/**
 * The economy's gate in front of every billed session (implements signaling's PaymentGate): it names the
 * terms — this host's provider and price, a cap and an expiry — and checks the payer's signed SessionAuth
 * against them, against the payer's free escrow on chain (minus what its other open authorizations may still
 * claim), and records the session in the ledger before anything is metered.
 */
import type { Logger } from 'pino';
import type { Address, Chain, Hex, PublicClient, Transport } from 'viem';
import type { HostRecord, PaymentGate, PlayTokenRequest, SessionRecord, Sponsorship } from '../../signaling/index.js';
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
import {
  accountSummary,
  createSession,
  ensureAccount,
  findPlayToken,
  getPlayToken,
  getSession,
  getStudio,
  type Ledger,
  type PlayToken,
} from '../ledger/index.js';
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

  terms(_session: SessionRecord, host: HostRecord): PaymentTermsRecord {
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

  // ---- studio play tokens (issue 8) ----------------------------------------------------------------------
  //
  // How a studio's authorization stays verifiable on chain: SessionEscrow pays `auth.provider` and checks the
  // payer's signature over the whole SessionAuth (sessionId, provider, price included), ECDSA or ERC-1271. So a
  // studio cannot sign a blank cheque for "any provider". Instead its backend asks `POST /api/play-tokens/terms`
  // for a fresh session id and a provider/price serving the game, signs that SessionAuth with the studio wallet
  // (maxAmount = the token's cap), and sends it with `POST /api/play-tokens`. The token is bound to that one
  // session; at Play the hub matches it only to that provider's hosts at that price, and the meter and settler
  // use the studio's signature exactly as they use a player's. Smart-wallet studios work through ERC-1271.

  /** The studio's signature over a SessionAuth, the way the escrow will check it. */
  async sessionAuthSigned(auth: SessionAuth, signature: Hex): Promise<boolean> {
    return this.#signatureValid(auth, signature);
  }

  async admitPlayToken({ playToken, game, pageOrigin, sameOrigin }: PlayTokenRequest): Promise<Sponsorship> {
    const token = await findPlayToken(this.#p.ledger, playToken);
    if (!token?.sessionId || !token.providerAddress || token.priceWeiPerSec === null) {
      throw new AthError({ code: 'ATH_ERR_UNAUTHORIZED', shortMessage: 'unknown play token' });
    }
    if (token.expired) {
      throw new AthError({
        code: 'ATH_ERR_TOKEN_EXPIRED',
        shortMessage: `this play token expired at ${token.expiresAt.toISOString()}; the studio must mint a new one`,
      });
    }
    if (token.game !== game) {
      throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: `this play token is for \`${token.game}\`` });
    }
    if (!sameOrigin && pageOrigin !== token.origin) {
      throw new AthError({
        code: 'ATH_ERR_ORIGIN_NOT_ALLOWED',
        shortMessage: `this play token may only be used on ${token.origin}, not on ${pageOrigin ?? 'a page without an Origin'}`,
      });
    }
    if (token.capWei - token.spentWei < token.priceWeiPerSec) {
      throw new AthError({
        code: 'ATH_ERR_CAP_EXHAUSTED',
        shortMessage: 'this play token’s spending cap is used up; the studio must mint a new one',
      });
    }
    const played = await getSession(this.#p.ledger, token.sessionId);
    if (played?.state === 'ended') {
      throw new AthError({
        code: 'ATH_ERR_TOKEN_EXPIRED',
        shortMessage: 'this play token’s session is over; the studio must mint a new one',
      });
    }
    const studio = await getStudio(this.#p.ledger, token.studioId);
    if (!studio || studio.revokedAt !== null) {
      throw new AthError({ code: 'ATH_ERR_UNAUTHORIZED', shortMessage: 'the studio of this play token is revoked' });
    }
    if (!played) await this.#assertFunds(this.#studioAuth(token, studio.ownerAddress), 'the studio');
    return {
      sessionId: token.sessionId,
      providerAddress: token.providerAddress,
      priceWeiPerSec: token.priceWeiPerSec,
      playTokenId: token.playTokenId,
    };
  }

  async authorizeSponsored(
    session: SessionRecord,
    host: HostRecord,
    sponsorship: Sponsorship,
  ): Promise<{ payerAddress: `0x${string}` }> {
    const token = await getPlayToken(this.#p.ledger, sponsorship.playTokenId);
    const studio = token ? await getStudio(this.#p.ledger, token.studioId) : undefined;
    if (!token?.authSignature || !studio || token.sessionId !== session.id.toLowerCase()) {
      throw new AthError({ code: 'ATH_ERR_UNAUTHORIZED', shortMessage: 'the play token has no authorization' });
    }
    const auth = this.#studioAuth(token, studio.ownerAddress);
    if (auth.provider !== host.providerAddress.toLowerCase() || auth.pricePerSecond !== host.priceWeiPerSec) {
      throw new AthError({
        code: 'ATH_ERR_NOT_ALLOWED',
        shortMessage: 'the host is not the one the studio signed for',
      });
    }
    await this.#p.ledger.transaction(async (tx) => {
      await ensureAccount(tx, { address: auth.provider, roles: ['provider'] });
      await createSession(tx, {
        auth,
        authSignature: token.authSignature as Hex,
        hostId: host.hostId,
        game: session.game,
        studioId: token.studioId,
        playTokenId: token.playTokenId,
        state: 'streaming',
      });
    });
    this.#log.info(
      { sessionId: session.id, studioId: token.studioId, playTokenId: token.playTokenId, capWei: String(token.capWei) },
      'studio session authorized',
    );
    return { payerAddress: studio.ownerAddress };
  }

  #studioAuth(token: PlayToken, studioAddress: Address): SessionAuth {
    return {
      sessionId: token.sessionId as Hex,
      player: studioAddress,
      provider: token.providerAddress as Address,
      maxAmount: token.capWei,
      pricePerSecond: token.priceWeiPerSec ?? 0n,
      expiry: token.authExpirySec ?? 0n,
    };
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
  async #assertFunds(auth: SessionAuth, payer = 'you'): Promise<void> {
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
        shortMessage: `${payer === 'you' ? 'not' : `${payer} has not`} enough ATH in escrow for this session`,
        details: `free ${freeWei - pendingWei} wei, the session may cost up to ${auth.maxAmount} wei`,
      });
    }
  }
}
