/**
 * The economy's gate in front of every billed session (implements signaling's PaymentGate): it names the
 * terms — this host's provider and price, a cap and an expiry — and checks the payer's signed SessionAuth
 * against them and records the session in the ledger before anything is metered.
 *
 * It accepts exactly what the escrow will honour (issue 12): the contract's signature rules (65 bytes, v 27/28,
 * low s; smart wallets through ERC-1271 with the contract's gas cap), its bounds (cap and price in 80 bits, an
 * expiry in 32 bits), an expiry that covers the whole session plus its settlement — and then it asks the
 * escrow itself: `checkAuthorization` runs the first redeem's checks on chain (a dry run) and must say OK.
 *
 * Reserves are exact: a payer's authorizations are taken one at a time (in this process, and across processes
 * through a ledger lease), and a new one must fit in what is free — the escrow balance on chain, minus a
 * pending withdrawal, minus everything the payer's other sessions may still draw: the unsettled charges of
 * ended sessions and the whole remaining cap of open ones (and of ended ones whose reserve is not released yet).
 */
import type { Logger } from 'pino';
import type { Address, Chain, Hex, PublicClient, Transport } from 'viem';
import type { HostRecord, PaymentGate, PlayTokenRequest, SessionRecord, Sponsorship } from '../../signaling/index.js';
import {
  AthError,
  type PaymentTermsRecord,
  type PeerMessageOf,
  type SessionAuth,
  sessionEscrowDomain,
  weiFromString,
  weiToString,
} from '../../signaling/protocol/index.js';
import { sessionEscrowAbi } from '../chain/index.js';
import {
  acquireLease,
  createSession,
  endSession,
  ensureAccount,
  findPlayToken,
  getPlayToken,
  getSession,
  getStudio,
  type Ledger,
  type PlayToken,
  payerCommitmentsWei,
  releaseLease,
} from '../ledger/index.js';
import { SignatureVerifier, typedDigests } from '../metering/index.js';

export type PaymentDeskSettings = {
  chainId: number;
  escrowAddress: Address;
  /** Cap of one session's authorization: how long one can play at the host's price. */
  maxSessionSeconds: number;
  /** Authorization lifetime: the terms' expiry, and the latest expiry accepted (plus a little clock skew). */
  authExpirySec: number;
  authTimeoutMs: number;
  /**
   * Time kept for settlement after a session: an authorization must outlive the session it pays by this much,
   * and the meter ends a session this long before its authorization expires. Default 900 s.
   */
  expiryMarginSec?: number;
};

/** SessionEscrow's skip codes (VoucherSkipped / checkAuthorization). */
const ESCROW_CODE = {
  ok: 0,
  stale: 1,
  badSignature: 2,
  expired: 3,
  overCap: 4,
  overPrice: 5,
  insufficientEscrow: 6,
  wrongTerms: 7,
  closed: 8,
} as const;

const MAX_UINT80 = (1n << 80n) - 1n;
const MAX_UINT32 = (1n << 32n) - 1n;
/** Clock skew between this server and the chain that an expiry may exceed `authExpirySec` by. */
const EXPIRY_SKEW_SEC = 300n;
const DEFAULT_EXPIRY_MARGIN_SEC = 900;
const PAYER_LOCK_TTL_MS = 20_000;

export type PaymentDeskParameters = {
  settings: PaymentDeskSettings;
  ledger: Ledger;
  publicClient: PublicClient<Transport, Chain>;
  /**
   * The account the settler sends redeems from (the meter's): `checkAuthorization` is run as that sender, so a
   * wallet that answers ERC-1271 by `tx.origin` answers here as it will in the real redeem.
   */
  redeemerAddress: Address;
  log: Logger;
  now?: () => number;
  /** This signaling process (the Meter's `instanceId`): sessions record who meters them, for orphan sweeps. */
  instanceId?: string;
};

export class PaymentDesk implements PaymentGate {
  readonly authTimeoutMs: number;
  readonly #p: PaymentDeskParameters;
  readonly #log: Logger;
  readonly #verifier = new SignatureVerifier();
  readonly #digests;
  readonly #now: () => number;
  /** This desk's name as a holder of the per-payer authorization lease. */
  readonly #lockHolder = `desk-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
  /** Per payer, the authorization in progress in this process (the next one waits for it). */
  readonly #payerQueue = new Map<string, Promise<unknown>>();

  constructor(params: PaymentDeskParameters) {
    this.#p = params;
    this.authTimeoutMs = params.settings.authTimeoutMs;
    this.#log = params.log.child({ mod: 'edge/economy/payments' });
    this.#digests = typedDigests(
      sessionEscrowDomain({ chainId: params.settings.chainId, verifyingContract: params.settings.escrowAddress }),
    );
    this.#now = params.now ?? Date.now;
  }

  /** Seconds kept for settlement between a session's end and its authorization's expiry. */
  get expiryMarginSec(): number {
    return this.#p.settings.expiryMarginSec ?? DEFAULT_EXPIRY_MARGIN_SEC;
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
    if (auth.sessionId !== session.id) throw refuse('the authorization is for another session');
    if (auth.provider.toLowerCase() !== host.providerAddress.toLowerCase())
      throw refuse('the authorization names another provider');
    if (auth.pricePerSecond !== host.priceWeiPerSec) throw refuse('the authorization names another price');
    const cap = host.priceWeiPerSec * BigInt(this.#p.settings.maxSessionSeconds);
    if (auth.maxAmount > cap) throw refuse('the authorization cap is above the terms');
    if (auth.maxAmount < host.priceWeiPerSec * 60n)
      throw refuse('the authorization must cover at least a minute of play');
    const signature = message.signature as Hex;
    await this.assertHonoured(auth, signature, { notBeforeSec: 0n });
    await this.#serialized(auth.player, async () => {
      await this.#assertFunds(auth);
      await this.#p.ledger.transaction(async (tx) => {
        await ensureAccount(tx, { address: auth.player, roles: ['player'] });
        await ensureAccount(tx, { address: auth.provider, roles: ['provider'] });
        await createSession(tx, {
          auth,
          authSignature: signature,
          hostId: host.hostId,
          game: session.game,
          state: 'streaming',
          ...(this.#p.instanceId === undefined ? {} : { signalingInstance: this.#p.instanceId }),
        });
      });
    });
    this.#log.info(
      { sessionId: session.id, payer: auth.player, maxAmountWei: String(auth.maxAmount) },
      'session authorized',
    );
    return { payerAddress: auth.player.toLowerCase() as `0x${string}` };
  }

  /**
   * Refuses an authorization the escrow would not honour: bounds first (cap and price in 80 bits, an expiry in
   * 32 bits no later than `authExpirySec` from now and late enough for the whole session — up to its cap —
   * starting at `notBeforeSec` (a play token's last use) plus the settlement margin), then the signature by the
   * contract's ECDSA rules, then the escrow's own check of a first redeem (`checkAuthorization`, run on chain:
   * ERC-1271 wallets with the contract's gas cap, the payer's free balance unless `fundsLater`).
   * Throws AthError: ATH_ERR_BAD_MESSAGE, ATH_ERR_BAD_SIGNATURE, ATH_ERR_INSUFFICIENT_FUNDS, ATH_ERR_REPLAY,
   * ATH_ERR_CHAIN_READ.
   */
  async assertHonoured(
    auth: SessionAuth,
    signature: Hex,
    { notBeforeSec, fundsLater = false }: { notBeforeSec: bigint; fundsLater?: boolean },
  ): Promise<void> {
    const refuse = (shortMessage: string, details?: string) =>
      new AthError({ code: 'ATH_ERR_BAD_MESSAGE', shortMessage, ...(details ? { details } : {}) });
    const { settings } = this.#p;
    if (auth.pricePerSecond === 0n || auth.pricePerSecond > MAX_UINT80) throw refuse('the price is out of bounds');
    if (auth.maxAmount < auth.pricePerSecond || auth.maxAmount > MAX_UINT80) throw refuse('the cap is out of bounds');
    const nowSec = BigInt(Math.floor(this.#now() / 1000));
    const start = notBeforeSec > nowSec ? notBeforeSec : nowSec;
    const playSec = (auth.maxAmount + auth.pricePerSecond - 1n) / auth.pricePerSecond;
    const sessionSec = playSec < BigInt(settings.maxSessionSeconds) ? playSec : BigInt(settings.maxSessionSeconds);
    const earliest = start + sessionSec + BigInt(this.expiryMarginSec);
    const latest = start + BigInt(settings.authExpirySec) + EXPIRY_SKEW_SEC;
    if (auth.expiry > MAX_UINT32 || auth.expiry > latest) {
      throw refuse(
        'the authorization expires too late',
        `expiry ${auth.expiry} > ${latest < MAX_UINT32 ? latest : MAX_UINT32}`,
      );
    }
    if (auth.expiry < earliest) {
      throw refuse(
        'the authorization expires before the session and its settlement could be over',
        `expiry ${auth.expiry} < ${earliest} (the session up to its cap, then ${this.expiryMarginSec} s to settle)`,
      );
    }
    const digest = this.#digests.sessionAuth(auth);
    // A plain key must sign exactly as the contract recovers; anything else is for the wallet contract (ERC-1271),
    // which the escrow asks below with its gas cap.
    const plainKey = this.#verifier.verifyStrict(auth.player, digest, signature);
    let code: number;
    try {
      code = await this.#p.publicClient.readContract({
        address: settings.escrowAddress,
        abi: sessionEscrowAbi,
        functionName: 'checkAuthorization',
        args: [auth, signature],
        // As the settler's redeem will: an eth_call without a sender runs with tx.origin = 0.
        account: this.#p.redeemerAddress,
      });
    } catch (cause) {
      throw new AthError({
        code: 'ATH_ERR_CHAIN_READ',
        shortMessage: 'cannot check the authorization with the escrow right now',
        cause,
      });
    }
    if (
      code === ESCROW_CODE.badSignature ||
      (!plainKey && code === ESCROW_CODE.ok && !(await this.#hasCode(auth.player)))
    ) {
      throw new AthError({
        code: 'ATH_ERR_BAD_SIGNATURE',
        shortMessage: 'the SessionAuth signature is not the payer’s',
      });
    }
    if (code === ESCROW_CODE.insufficientEscrow && !fundsLater) {
      throw new AthError({
        code: 'ATH_ERR_INSUFFICIENT_FUNDS',
        shortMessage: 'not enough ATH in escrow for this session',
        details: `the session may cost up to ${auth.maxAmount} wei`,
      });
    }
    if (code === ESCROW_CODE.stale || code === ESCROW_CODE.wrongTerms || code === ESCROW_CODE.closed) {
      throw new AthError({ code: 'ATH_ERR_REPLAY', shortMessage: 'this session id is already registered on chain' });
    }
    if (code !== ESCROW_CODE.ok && code !== ESCROW_CODE.insufficientEscrow) {
      throw refuse('the escrow would not honour this authorization', `escrow code ${code}`);
    }
  }

  async #hasCode(address: Address): Promise<boolean> {
    const code = await this.#p.publicClient.getCode({ address }).catch(() => undefined);
    return code !== undefined && code !== '0x';
  }

  /**
   * Runs `fn` while no other authorization of this payer runs — in this process (a queue per payer) and in
   * every process sharing the ledger (the lease `auth:<payer>`, waited for up to the lease's time).
   */
  async #serialized<T>(payer: Address, fn: () => Promise<T>): Promise<T> {
    const key = payer.toLowerCase();
    const before = this.#payerQueue.get(key) ?? Promise.resolve();
    const run = before
      .catch(() => undefined)
      .then(async () => {
        const name = `auth:${key}`;
        const deadline = this.#now() + PAYER_LOCK_TTL_MS;
        for (;;) {
          const lease = await acquireLease(this.#p.ledger, {
            name,
            holder: this.#lockHolder,
            ttlMs: PAYER_LOCK_TTL_MS,
          });
          if (lease.held) break;
          if (this.#now() > deadline) {
            throw new AthError({
              code: 'ATH_ERR_RATE_LIMITED',
              shortMessage: 'another authorization of this payer is in progress',
            });
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        try {
          return await fn();
        } finally {
          await releaseLease(this.#p.ledger, { name, holder: this.#lockHolder }).catch(() => undefined);
        }
      });
    this.#payerQueue.set(key, run);
    try {
      return await run;
    } finally {
      if (this.#payerQueue.get(key) === run) this.#payerQueue.delete(key);
    }
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

  /**
   * The expiry a studio's authorization should name for a play token usable until `usableUntilSec`: the
   * latest this desk accepts (the token's last use, plus a whole session, plus settlement, fit in it).
   */
  studioAuthExpirySec(usableUntilSec: bigint): bigint {
    return usableUntilSec + BigInt(this.#p.settings.authExpirySec);
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
    // An early refusal; the exact check is made when the session is recorded (authorizeSponsored).
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
    await this.#serialized(auth.player, async () => {
      await this.#assertFunds(auth, 'the studio');
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
          ...(this.#p.instanceId === undefined ? {} : { signalingInstance: this.#p.instanceId }),
        });
      });
    });
    this.#log.info(
      { sessionId: session.id, studioId: token.studioId, playTokenId: token.playTokenId, capWei: String(token.capWei) },
      'studio session authorized',
    );
    return { payerAddress: studio.ownerAddress };
  }

  /**
   * The hub session ended while its authorization was being recorded: no meter runs it, so its ledger session
   * ends here with nothing charged, and its cap is no longer committed against the payer. Idempotent.
   */
  async abandoned(session: SessionRecord): Promise<void> {
    const { ended } = await endSession(this.#p.ledger, {
      sessionId: session.id as Hex,
      reason: session.endReason ?? 'error',
      ...(session.endMessage === undefined ? {} : { message: session.endMessage.slice(0, 512) }),
    });
    if (ended) this.#log.info({ sessionId: session.id }, 'session ended during its authorization: nothing charged');
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

  /**
   * The payer's free escrow must cover this authorization's cap: the escrow balance on chain, minus a pending
   * withdrawal, minus what the payer's other sessions may still draw (the ledger's `payerCommitmentsWei`).
   * The ledger is read before the chain, so a settlement landing in between can only make the check stricter.
   * Call it inside `#serialized` for the payer.
   */
  async #assertFunds(auth: SessionAuth, payer = 'you'): Promise<void> {
    const committedWei = await payerCommitmentsWei(this.#p.ledger, {
      payerAddress: auth.player,
      excludeSessionId: auth.sessionId,
    });
    let balanceWei: bigint;
    let withdrawingWei: bigint;
    try {
      const read = <T>(functionName: 'accounts' | 'withdrawRequests') =>
        this.#p.publicClient.readContract({
          address: this.#p.settings.escrowAddress,
          abi: sessionEscrowAbi,
          functionName,
          args: [auth.player],
        }) as Promise<T>;
      const [account, withdrawal] = await Promise.all([
        read<readonly [bigint, bigint]>('accounts'),
        read<readonly [bigint, bigint]>('withdrawRequests'),
      ]);
      balanceWei = account[0];
      withdrawingWei = withdrawal[0];
    } catch (cause) {
      throw new AthError({ code: 'ATH_ERR_CHAIN_READ', shortMessage: 'cannot read the escrow right now', cause });
    }
    const freeWei = balanceWei - withdrawingWei - committedWei;
    if (freeWei < auth.maxAmount) {
      throw new AthError({
        code: 'ATH_ERR_INSUFFICIENT_FUNDS',
        shortMessage: `${payer === 'you' ? 'not' : `${payer} has not`} enough ATH in escrow for this session`,
        details:
          `free ${freeWei > 0n ? freeWei : 0n} wei (balance ${balanceWei}, withdrawing ${withdrawingWei}, ` +
          `committed to other sessions ${committedWei}); the session may cost up to ${auth.maxAmount} wei`,
      });
    }
  }
}
