import type { Logger } from 'pino';
import type { RoundVerdict } from '../checkers/CheckerDesk.js';
import type { SignedDeliveryReceipt } from '../protocol/index.js';
import type { HostRecord } from '../store/HostRegistry.js';
import type { SessionRecord } from './SessionRecord.js';

/**
 * What a host, a player or a checker said a live session delivered. Hosts and players report every few
 * seconds; checkers (issue 14: sampling live sessions) report what they observed of this session's stream.
 * The meter bills on the host's and the checkers' word; the player's can only dispute (see edge/metering).
 */
export type DeliveryReport = {
  sessionId: string;
  source: 'host' | 'player' | 'checker';
  fpsMilli: number;
  atMs: number;
  /** Host reports: how long since the player's last input reached the host. */
  inputIdleMs?: number;
  /** Checker reports: the checker that observed. */
  checkerAddress?: `0x${string}`;
  /** Player reports: frames its decoder counted since the stream started (its counter-report to the receipts). */
  framesDecoded?: number;
  /** Host reports: the host's signed delivery receipt (not verified yet: whoever uses it as evidence checks it). */
  receipt?: SignedDeliveryReceipt;
};

/**
 * The player says the stream is not arriving (under the fps floor) while the host says it is sending: billing of
 * that stretch waits for a checker's word, and the session is flagged for checkers to look at (issue 14).
 */
export type DeliveryDispute = {
  sessionId: string;
  hostId: string;
  hostFpsMilli: number | undefined;
  playerFpsMilli: number;
  atMs: number;
};

/**
 * A disputed stretch of a session the checkers' probe could not settle (issue 14): the host passes its probes,
 * but the session's player counted far fewer frames than the host's signed receipts claim. The held time was not
 * billed; the receipts are the host's signed word, kept as evidence (CheckerDesk verifies and tallies them).
 */
export type DeliveryContradiction = {
  sessionId: string;
  hostId: string;
  /** The host's signed receipts over the stretch (its first and latest; none when it signed none). */
  receipts: SignedDeliveryReceipt[];
  /** What the receipts claim over the stretch (frames per second × 1000, on the host's clock). */
  claimedFpsMilli: number | undefined;
  /** What the player's decoder counted over the stretch; undefined when it reported too little. */
  decodedFpsMilli: number | undefined;
  /** The player's figure the decision used: its decoder's count, else its fps report. */
  playerFpsMilli: number;
  checkerAddress: `0x${string}` | undefined;
  checkerFpsMilli: number;
  /** Held (disputed) time that was not billed. */
  droppedMs: number;
  atMs: number;
  /**
   * Seconds the session's payer was billed for with other providers (the meter reads it from the ledger; undefined:
   * unknown). The checker desk counts a payer's contradiction only with `contradictionMinPayerSec` of it.
   */
  payerDeliveredSecElsewhere?: number | undefined;
};

export type SignalingHubEvents = {
  sessionEnded: (session: SessionRecord) => void;
  sessionStreaming: (session: SessionRecord) => void;
  sessionPaid: (session: SessionRecord) => void;
  /**
   * This instance took over a live session from an instance that went down (several signaling servers on
   * one Redis): a paid one is metered here from now on, from the state the meter left in the store.
   */
  sessionAdopted: (session: SessionRecord) => void;
  /** Another instance took over a session this one ran (its player reconnected there): stop metering it here. */
  sessionMoved: (session: SessionRecord) => void;
  report: (report: DeliveryReport) => void;
  /** A session's delivery is disputed by its player: checkers should observe it (see DeliveryDispute). */
  deliveryDisputed: (dispute: DeliveryDispute) => void;
  /** The meter dropped a disputed stretch that a good probe of the host could not vouch for (see above). */
  deliveryContradicted: (contradiction: DeliveryContradiction & { payerAddress: `0x${string}` | undefined }) => void;
  verdict: (verdict: RoundVerdict) => void;
  /** A host registered (or re-registered after a reconnect) with a proven provider wallet. */
  hostRegistered: (host: HostRecord) => void;
  /** A host went down (connection closed, heartbeats missed); `rendering`: it had sessions (or probes) then. */
  hostDown: (event: { host: HostRecord; why: string; rendering: boolean }) => void;
};

/** The hub's typed events (the economy listens): a throwing listener is logged and does not stop the others. */
export class HubEvents {
  readonly #log: Logger;
  readonly #listeners: { [K in keyof SignalingHubEvents]: Set<SignalingHubEvents[K]> } = {
    sessionEnded: new Set(),
    sessionStreaming: new Set(),
    sessionPaid: new Set(),
    sessionAdopted: new Set(),
    sessionMoved: new Set(),
    report: new Set(),
    deliveryDisputed: new Set(),
    deliveryContradicted: new Set(),
    verdict: new Set(),
    hostRegistered: new Set(),
    hostDown: new Set(),
  };

  constructor(log: Logger) {
    this.#log = log;
  }

  on<K extends keyof SignalingHubEvents>(event: K, listener: SignalingHubEvents[K]): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  emit<K extends keyof SignalingHubEvents>(event: K, payload: Parameters<SignalingHubEvents[K]>[0]): void {
    for (const listener of this.#listeners[event] as Set<(payload: Parameters<SignalingHubEvents[K]>[0]) => void>) {
      try {
        listener(payload);
      } catch (error) {
        this.#log.error({ err: error, event }, 'hub listener threw');
      }
    }
  }
}
