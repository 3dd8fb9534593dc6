/**
 * The hub's side of checker rounds: a checker's messages (register with its wallet, probe SDP/ICE, probe
 * done, signed reports) go to the `CheckerDesk` (signaling/checkers), which owns the rounds, assignments and
 * verdicts; a host's messages for a probe session (offer, ICE, start, reports, end — to the host it is a player's
 * session) are recognised here by the probe's session id and go to the checker and the desk instead of a player.
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

  /** A probe is a session to its host, but not a player's: its start, reports and end go to the CheckerDesk. */
  isProbe(sessionId: string): boolean {
    return this.#ctx.checkers.isProbe(sessionId);
  }

  /** A host's delivery report for a probe: kept beside the checker's measurement; false: a player's session. */
  hostReport(peer: PeerState, message: PeerMessageOf<'host-report'>): boolean {
    return this.#ctx.checkers.hostReport(this.#ctx.registration.peerHost(peer).hostId, message);
  }

  /** A host ended a probe session itself; false: a player's session. */
  probeEndedByHost(peer: PeerState, message: PeerMessageOf<'host-session-ended'>): boolean {
    return this.#ctx.checkers.probeEndedByHost(this.#ctx.registration.peerHost(peer).hostId, message.sessionId);
  }

  checkerLeft(peer: PeerState): void {
    this.#ctx.checkers.checkerLeft(peer.handle.id);
  }
}
