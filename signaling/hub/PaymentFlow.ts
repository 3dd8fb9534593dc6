/**
 * The payment flow of a session, between the hub and the economy's `PaymentGate`: the terms a player is asked
 * to sign when a slot is leased, the deadline for that signature, the check of the signed SessionAuth, and a
 * studio's play token (checked before Play; its stored authorization checked at the lease). Without a gate
 * the network does not bill and all of this is skipped.
 */
import { addressHash } from '../admission/ipAddress.js';
import { RetryLaterError } from '../admission/RetryLaterError.js';
import { UnpaidEndings } from '../admission/UnpaidEndings.js';
import {
  AthError,
  type EndReasonName,
  isAthError,
  isWireErrorCode,
  type PaymentTermsRecord,
  type PeerMessageOf,
} from '../protocol/index.js';
import type { HostRecord } from '../store/HostRegistry.js';
import type { HubContext, PaymentPort } from './HubContext.js';
import { type PeerState, playerIdOf } from './PeerDirectory.js';
import type { SessionRecord } from './SessionRecord.js';

/** Endings a player cannot cause: they do not count as the player's unpaid endings. */
const HOST_SIDE_ENDINGS: ReadonlySet<EndReasonName> = new Set(['host-lost', 'host-stopped', 'game-crashed', 'drained']);

export class PaymentFlow implements PaymentPort {
  readonly #ctx: HubContext;
  /** Sessions whose SessionAuth is being checked: one check at a time per session (bounded by live sessions). */
  readonly #authorizing = new Set<string>();
  /** Sessions that streamed and ended before payment was accepted, by address and by player token (bounded). */
  readonly #unpaid: UnpaidEndings;

  constructor(ctx: HubContext) {
    this.#ctx = ctx;
    this.#unpaid = new UnpaidEndings(ctx.settings.admission.unpaidEndings);
    ctx.events.on('sessionEnded', (session) => this.#ended(session));
    // Several instances: every instance counts the endings of all (a player does not get `max` per instance).
    ctx.store.unpaidEndings?.onEnding((ending) =>
      this.#unpaid.record({ addressKey: ending.addressKey, playerId: ending.playerId }, ending.atMs),
    );
  }

  admitPlay(peer: PeerState): void {
    if (!this.#ctx.payments) return;
    const waitMs = this.#unpaid.retryAfterMs(
      { addressKey: addressHash(this.#ctx.settings.tokenSecret, peer.identity.remoteIp), playerId: playerIdOf(peer) },
      this.#ctx.now(),
    );
    if (waitMs > 0) {
      const { max, windowMs } = this.#ctx.settings.admission.unpaidEndings;
      throw new RetryLaterError(
        'ATH_ERR_UNPAID_SESSIONS',
        `${max} sessions from this address or player ended before payment was authorized within ${Math.round(windowMs / 60_000)} min: Play again in ${Math.ceil(waitMs / 1000)} s`,
        waitMs,
      );
    }
  }

  /** A session that got a slot (and so streamed) ended before its payment was accepted: the player's count grows. */
  #ended(session: SessionRecord): void {
    // A sponsored session's authorization is the studio's, checked at the lease: not the player's to withhold.
    if (!this.#ctx.payments || session.payerAddress || session.sponsorship || session.leasedAtMs === undefined) return;
    if (session.endReason !== undefined && HOST_SIDE_ENDINGS.has(session.endReason)) return;
    const ending = {
      addressKey: session.playerAddressKey,
      playerId: session.playerId,
      atMs: this.#ctx.now(),
    };
    this.#unpaid.record(ending, ending.atMs);
    // (A record from an older instance may lack the key: counted here, not shared.)
    if (ending.addressKey) this.#ctx.store.unpaidEndings?.share(ending);
  }

  termsFor(session: SessionRecord, host: HostRecord): PaymentTermsRecord | undefined {
    const gate = this.#ctx.payments;
    return gate && !session.payerAddress && !session.sponsorship ? gate.terms(session, host) : undefined;
  }

  leased(session: SessionRecord, host: HostRecord): void {
    const gate = this.#ctx.payments;
    if (!gate) return;
    // The stream starts at once (first frame matters); the authorization must follow within the timeout.
    this.#ctx.timers.set(session.id, 'auth', gate.authTimeoutMs, () =>
      this.#ctx.sessions.end(session, 'insufficient-funds', 'No payment authorization arrived for this session.'),
    );
    if (session.sponsorship) this.#authorizeSponsored(session, host);
  }

  adopted(session: SessionRecord): void {
    const gate = this.#ctx.payments;
    if (!gate || session.payerAddress || session.hostId === undefined) return;
    this.#ctx.timers.set(session.id, 'auth', gate.authTimeoutMs, () =>
      this.#ctx.sessions.end(session, 'insufficient-funds', 'No payment authorization arrived for this session.'),
    );
  }

  onSessionAuth(peer: PeerState, message: PeerMessageOf<'session-auth'>): void {
    const session = this.#ctx.sessions.playerSession(peer, message.sessionId);
    const gate = this.#ctx.payments;
    const host = session.hostId ? this.#ctx.store.hosts.get(session.hostId) : undefined;
    if (!gate || !host) {
      throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'this session needs no payment authorization' });
    }
    if (session.payerAddress) {
      throw new AthError({ code: 'ATH_ERR_REPLAY', shortMessage: 'this session is already authorized' });
    }
    if (this.#authorizing.has(session.id)) {
      throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'an authorization is already being checked' });
    }
    this.#authorizing.add(session.id);
    gate
      .authorize(session, host, message)
      .finally(() => this.#authorizing.delete(session.id))
      .then(({ payerAddress }) => this.#paymentAccepted(session, payerAddress))
      .catch((error: unknown) => {
        this.#ctx.peers.replyError(peer, error, message);
        if (session.state !== 'ended' && !session.payerAddress) {
          const text = isAthError(error) ? error.message : 'The payment authorization was refused.';
          this.#ctx.sessions.end(session, 'insufficient-funds', text.slice(0, 500));
        }
      });
  }

  /**
   * Play with a studio play token: the economy checks the token (expiry, game, page origin, cap, the studio's
   * escrow) and names the session id and the provider/price the studio signed for; then Play goes on as usual,
   * matched only to that provider's hosts at that price.
   */
  admitPlayToken(peer: PeerState, message: PeerMessageOf<'play'>): void {
    const gate = this.#ctx.payments;
    const playToken = message.playToken;
    if (!gate?.admitPlayToken || playToken === undefined) {
      throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'this network does not bill: no play tokens' });
    }
    const identity = peer.identity;
    gate
      .admitPlayToken({
        playToken,
        game: message.game,
        pageOrigin: identity.kind === 'player' ? identity.origin : undefined,
        sameOrigin: this.#ctx.peers.fromOwnPage(identity),
      })
      .then((sponsorship) => {
        if (!this.#ctx.peers.has(peer.handle.id)) return;
        const existing = this.#ctx.store.sessions.get(sponsorship.sessionId);
        if (existing && existing.state !== 'ended') {
          throw new AthError({ code: 'ATH_ERR_ALREADY_PLAYING', shortMessage: 'this play token is already in use' });
        }
        if (existing?.payerAddress) {
          throw new AthError({
            code: 'ATH_ERR_TOKEN_EXPIRED',
            shortMessage: 'this play token’s session is over; the studio must mint a new one',
          });
        }
        this.#ctx.matchmaking.play(peer, message, sponsorship);
      })
      .catch((error: unknown) => this.#ctx.peers.replyError(peer, error, message));
  }

  /** The payer's authorization (a player's signature, or a studio's) holds: the session is paid from now on. */
  #paymentAccepted(session: SessionRecord, payerAddress: `0x${string}`): void {
    if (session.state === 'ended') {
      // Ended while the authorization was recorded: no meter will ever end it, so the gate does (else its cap
      // stays committed against the payer's escrow).
      this.#ctx.payments
        ?.abandoned?.(session)
        .catch((error: unknown) =>
          this.#ctx.log.error({ err: error, sessionId: session.id }, 'could not end an abandoned paid session'),
        );
      return;
    }
    session.payerAddress = payerAddress;
    this.#ctx.store.sessions.put(session);
    this.#ctx.timers.clear(session.id, 'auth');
    this.#ctx.peers.sendToPlayer(session, { type: 'payment-accepted', sessionId: session.id, payerAddress });
    this.#ctx.events.emit('sessionPaid', session);
  }

  /** A sponsored session was leased: the studio's stored authorization is checked and recorded for billing. */
  #authorizeSponsored(session: SessionRecord, host: HostRecord): void {
    const gate = this.#ctx.payments;
    const sponsorship = session.sponsorship;
    if (!gate?.authorizeSponsored || !sponsorship) return;
    gate
      .authorizeSponsored(session, host, sponsorship)
      .then(({ payerAddress }) => this.#paymentAccepted(session, payerAddress))
      .catch((error: unknown) => {
        const code = isAthError(error) && isWireErrorCode(error.code) ? error.code : 'ATH_ERR_INTERNAL';
        const text = isAthError(error) ? error.message : 'The studio’s authorization was refused.';
        this.#ctx.log.warn({ sessionId: session.id, code }, 'sponsored authorization refused');
        this.#ctx.peers.sendToPlayer(session, {
          type: 'error',
          code,
          message: text.slice(0, 1024),
          ref: 'play',
          sessionId: session.id,
        });
        this.#ctx.sessions.end(session, 'insufficient-funds', text.slice(0, 500));
      });
  }
}
