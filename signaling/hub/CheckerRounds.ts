/**
 * The hub's side of checker rounds: a checker's messages (register with its wallet, probe SDP/ICE, probe
 * done, signed reports) go to the `CheckerDesk` (signaling/checkers), which owns the rounds, assignments and
 * verdicts; a host's probe messages (offer, ICE, start/end of a probe session) are recognised here by their
 * probe session id and relayed to the checker instead of a player.
 */
import { AthError, type PeerMessage, type PeerMessageOf } from '../protocol/index.js';
import type { HubContext } from './HubContext.js';
import type { PeerState } from './PeerDirectory.js';

export class CheckerRounds {
  readonly #ctx: HubContext;

  constructor(ctx: HubContext) {
    this.#ctx = ctx;
  }

  /** Every message from a checker connection (after `hello`). */
  dispatch(peer: PeerState, message: PeerMessage): void {
    const { checkers, peers } = this.#ctx;
    if (message.type === 'register-checker') {
      if (peer.checkerAddress) throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'already registered' });
      checkers
        .register(peer.handle.id, peer.nonce, message, peer.identity.remoteIp)
        .then((checkerAddress) => {
          peer.checkerAddress = checkerAddress;
          peers.clearDeadline(peer);
          peer.handle.send({ type: 'checker-registered', checkerAddress });
        })
        .catch((error: unknown) => peers.replyError(peer, error, message));
      return;
    }
    if (!peer.checkerAddress) throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'register first' });
    switch (message.type) {
      case 'answer':
      case 'ice':
        checkers.relayFromChecker(peer.handle.id, message);
        return;
      case 'probe-done':
        checkers.probeDone(peer.handle.id, message.sessionId);
        return;
      case 'check-report':
        checkers
          .report(peer.handle.id, message)
          .then((accepted) => peer.handle.send({ type: 'report-accepted', ...accepted }))
          .catch((error: unknown) => peers.replyError(peer, error, message));
        return;
      default:
        throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: `a checker may not send \`${message.type}\`` });
    }
  }

  /** A host's offer or ICE for a probe session goes to its checker; false: not a probe (a player's session). */
  relayFromHost(peer: PeerState, message: PeerMessageOf<'offer'> | PeerMessageOf<'ice'>): boolean {
    return this.#ctx.checkers.relayFromHost(this.#ctx.registration.peerHost(peer).hostId, message);
  }

  /** Probe sessions never take a slot: a host's start/end of one is not a player session's. */
  isProbe(sessionId: string): boolean {
    return this.#ctx.checkers.isProbe(sessionId);
  }

  checkerLeft(peer: PeerState): void {
    this.#ctx.checkers.checkerLeft(peer.handle.id);
  }
}
