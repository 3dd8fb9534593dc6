/**
 * What the hub's modules share: the settings and services every one of them uses, the store beneath them,
 * and each module's port — the few calls one concern makes into another (a session's end serves the queue,
 * a lease starts the payment flow…). Modules depend on these ports, never on each other's files, so the
 * import graph stays a tree: `SignalingHub` composes the modules; the modules import only this file and
 * what lies below it (store, peers, events, timers, protocol).
 */
import type { Logger } from 'pino';
import type { Metrics, SignalingMetricKey } from '../../metrics/index.js';
import type { CheckerDesk } from '../checkers/CheckerDesk.js';
import type { EndReasonName, PaymentTermsRecord, PeerMessageOf, SessionStateName } from '../protocol/index.js';
import type { SignalingSettings } from '../SignalingSettings.js';
import type { HostRecord } from '../store/HostRegistry.js';
import type { SignalingStore } from '../store/SignalingStore.js';
import type { StakeGate } from '../trust/StakeGate.js';
import type { HubEvents } from './HubEvents.js';
import type { PaymentGate } from './PaymentGate.js';
import type { PeerDirectory, PeerState } from './PeerDirectory.js';
import type { SessionRecord } from './SessionRecord.js';
import type { SessionTimers } from './SessionTimers.js';
import type { Sponsorship } from './Sponsorship.js';

/** Session lifecycle (`SessionLifecycle`): states, ends, ownership checks, the assignment message. */
export type SessionsPort = {
  /** The live session with this id; throws ATH_ERR_SESSION_NOT_FOUND. */
  live(sessionId: string): SessionRecord;
  /** The live session of this player connection; throws ATH_ERR_NOT_YOUR_SESSION. */
  playerSession(peer: PeerState, sessionId: string): SessionRecord;
  /** The live session on this host connection's host; throws ATH_ERR_NOT_YOUR_SESSION. */
  hostSession(peer: PeerState, sessionId: string): SessionRecord;
  setState(session: SessionRecord, state: SessionStateName): void;
  end(session: SessionRecord, reason: EndReasonName, message?: string): void;
  /** Tells the player its slot (`session`), with the payment terms when the network bills. */
  sendAssigned(session: SessionRecord, resumed: boolean): void;
  /** A player came back to its session (reload, network blip; `keepStream`: its media never stopped). */
  resume(peer: PeerState, session: SessionRecord, keepStream?: boolean): void;
  /** This instance took over a session whose instance went down. */
  adopt(session: SessionRecord): void;
  /** The player came back here to a session another instance ran: it is run (and metered) here from now on. */
  resumeMoved(peer: PeerState, session: SessionRecord, keepStream: boolean): void;
  /** A host came back (re-registered, possibly on another instance): sessions waiting for it go on. */
  hostBack(hostId: string): void;
};

/** Matchmaking (`Matchmaking`): Play, probes, ranking, leases and the queue. */
export type MatchmakingPort = {
  play(peer: PeerState, message: PeerMessageOf<'play'>, sponsorship?: Sponsorship): void;
  /** Leases freed slots to the heads of the lines. */
  serveQueue(): void;
  /** Tells a waiting player its place in line (nothing if it does not wait). */
  sendQueuePosition(session: SessionRecord): void;
  /** A waiting session left the game's line (ended): the players behind it move up. */
  leftQueue(game: string): void;
};

/** The payment flow (`PaymentFlow`): terms, authorizations, play tokens. */
export type PaymentPort = {
  /** The terms to put in the `session` message, or undefined (no billing, already paid, sponsored). */
  termsFor(session: SessionRecord, host: HostRecord): PaymentTermsRecord | undefined;
  /** A slot was just leased to the session: the authorization deadline starts (and a studio's is checked). */
  leased(session: SessionRecord, host: HostRecord): void;
  /** `play` with a play token: checked by the economy before Play goes on. */
  admitPlayToken(peer: PeerState, message: PeerMessageOf<'play'>): void;
  /** This instance took over a leased session: an authorization still owed gets its deadline here. */
  adopted(session: SessionRecord): void;
  /**
   * Before a new session is made for `play`: throws `ATH_ERR_UNPAID_SESSIONS` (a RetryLaterError) when too many
   * sessions of this player's address or token ended unpaid lately.
   */
  admitPlay(peer: PeerState): void;
};

/** Host registration and liveness (`Registration`). */
export type RegistrationPort = {
  /** The registered host on this connection; throws ATH_ERR_NOT_ALLOWED. */
  peerHost(peer: PeerState): HostRecord;
  hostDown(host: HostRecord, why: string): void;
};

export type HubServices = {
  readonly settings: SignalingSettings;
  readonly log: Logger;
  readonly metrics: Metrics<SignalingMetricKey>;
  readonly now: () => number;
  readonly store: SignalingStore;
  readonly peers: PeerDirectory;
  readonly events: HubEvents;
  readonly timers: SessionTimers;
  /** The economy's gate; undefined when the network does not bill. */
  readonly payments: PaymentGate | undefined;
  readonly checkers: CheckerDesk;
  /** The StakingRegistry's word on hosts' and checkers' stake. */
  readonly stakes: StakeGate;
};

export type HubPorts = {
  readonly sessions: SessionsPort;
  readonly matchmaking: MatchmakingPort;
  readonly payment: PaymentPort;
  readonly registration: RegistrationPort;
};

export type HubContext = HubServices & HubPorts;
