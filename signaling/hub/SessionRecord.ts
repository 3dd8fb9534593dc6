import type { PlayerLocation } from '../geo/geo.js';
import type { CodecName, EndReasonName, QualityName, SessionStateName } from '../protocol/index.js';
import type { Sponsorship } from './Sponsorship.js';
import type { CandidateScore } from './scoreCandidates.js';

/**
 * One session as the store keeps it: plain data only (no sockets, no timers — those are per instance, see
 * `SessionTimers`), so a shared store can hold it.
 */
export type SessionRecord = {
  id: string;
  /**
   * The signaling instance that runs this session (its timers, its meter, its state changes): the one its
   * player connected to. Other instances hand the session's messages to it.
   */
  owner: string;
  playerId: string;
  playerPeerId: string | undefined;
  /**
   * The address the player connected from when it asked to play, as `addressHash` (a keyed hash of its /64 or
   * IPv4 address): live sessions and unpaid endings are counted per address; the address itself is not kept.
   */
  playerAddressKey: string;
  game: string;
  codecs: CodecName[];
  /** The player's quality rung, passed to the host (absent: auto). */
  quality?: QualityName;
  maxPriceWeiPerSec: bigint | undefined;
  state: SessionStateName;
  hostId: string | undefined;
  slot: number | undefined;
  priceWeiPerSec: bigint;
  createdAtMs: number;
  queuedAtMs: number | undefined;
  leasedAtMs: number | undefined;
  /** A studio play token's session: the studio pays, on terms it signed before the lease. */
  sponsorship?: Sponsorship;
  streamingAtMs: number | undefined;
  /** The player's Play → first frame was observed (once per session, whatever its reports repeat). */
  setupObserved: boolean;
  endedAtMs: number | undefined;
  endReason: EndReasonName | undefined;
  endMessage: string | undefined;
  /** `play` said to wait in line when every slot is taken (else: no-free-slot error). */
  queueIfBusy: boolean;
  /** Hosts the player was asked to measure (probe-request); results for others are ignored. */
  probeHostIds: string[];
  /** Why this host: every candidate with its score terms, kept for `GET /api/sessions/:id`. */
  decision: MatchDecision | undefined;
  /** Who pays, once the SessionAuth was accepted (undefined: not yet, or the network does not bill). */
  payerAddress: `0x${string}` | undefined;
  /** Where the player probably is (its network prefix's learnt place, or its time zone's city), if known. */
  location?: PlayerLocation;
  /** The player's network prefix: what its probes teach is kept for the next players there. */
  networkPrefix?: string;
};

export type MatchDecision = {
  candidates: CandidateScore[];
  chosenHostId: string;
  decidedAtMs: number;
  pickMicros: number;
};
