/**
 * The indexer's side of verification: checkers register with their wallet and must hold the checker tier's
 * stake; each container is assigned to 2N+1 distinct checkers (N = 1 by default) drawn at random weighted by
 * stake — never the container's own provider, nor (by config) a checker on the container's own network — at
 * registration and then every interval. Each checker measures the container on its own WebRTC probe stream and
 * returns a signed EIP-712 CheckReport.
 *
 * A verdict is *confirmed* when at least `minResponders` distinct staked checkers reported and a majority of
 * the round's target size (⌊(2N+1)/2⌋+1 votes) agree; anything less is `inconclusive` and changes nothing, so
 * one checker (or a round short of checkers) never decides alone. Confirmed verdicts move the container's
 * quality score; `failedVerdictsToDrain` failing ones in a row drain its *provider* (every host of that address,
 * whatever its id) — recorded in the DrainStore (the ledger), so a restart does not lift it — and
 * `probationPasses` passing ones in a row while drained lift it again. Checkers who agree with the majority
 * are credited; those in the minority are recorded.
 *
 * A probe is a player's session as far as the host can tell (ProbeLine.ts): a free slot, the same
 * `start-session`, one of its games at the game's own resolution and frame rate, and the container is held to
 * that game's manifest (`gameSpecs`), not to what it declares. Probes of one container run one after the other;
 * they are never billed. A failing report of a probe that never got a slot (the container was full the whole
 * time: the checker saw no offer) does not count — a busy container is not a down one (`RoundVerdict.unprobed`).
 * A probe running when a player's session starts on its container yields to the newcomer (ProbeLine.yieldTo; a probe
 * gives way to two newcomers at most): its checker gets a fresh assignment in the same round, and what the cut probe
 * measured is not counted.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import { type Address, type Hex, verifyMessage } from 'viem';
import type { Metrics, SignalingMetricKey } from '../../metrics/index.js';
import { type NetworkPrefixBits, sameNetwork } from '../admission/ipAddress.js';
import {
  AthError,
  checkerRegistrationMessage,
  deliveryReceiptSigner,
  type IceServerRecord,
  type PeerMessageOf,
  type ServerMessage,
  type SignedDeliveryReceipt,
} from '../protocol/index.js';
import type { HostRecord } from '../store/HostRegistry.js';
import type { DrainMap, HostStore } from '../store/SignalingStore.js';
import type { DrainStore, ProviderDrain } from '../trust/DrainStore.js';
import type { StakeGate, StakePosition } from '../trust/StakeGate.js';
import { admitStake, type StakeSettings } from '../trust/stakePolicy.js';
import { CheckReportVerifier } from './CheckReportVerifier.js';
import { type ExpectedStream, expectedStream, type GameSpecs, type LineProbe, ProbeLine } from './ProbeLine.js';

export type CheckSettings = {
  /** Between two rounds of a container. */
  intervalMs: number;
  /** 2N+1. */
  checkersPerContainer: number;
  /**
   * A checker that has not reported by then is replaced (once), then the round closes. Probes of a container run
   * one after the other, so this covers all of them.
   */
  deadlineMs: number;
  /** One probe holds its slot at most this long. */
  probeTimeoutMs: number;
  /** A container serving players is probed at most this often (a probe beside a player costs it frames). */
  busyDeferralMs: number;
  /**
   * A probe does not start while one of the container's players is in the first this-many ms of its session
   * (ProbeLine: a newcomer's first seconds are not shared with a check), and a probe running when a player's session
   * starts yields to it and runs again after that start-up — two newcomers at most a probe (ProbeLine
   * `NEWCOMERS_A_PROBE_GIVES_WAY_TO`); sampling a dispute does not wait nor yield.
   */
  startupQuietMs: number;
  /**
   * A container's first round comes this long after its host registered (and not before, when checkers connect
   * later). 1 s here; `npm start`'s config says 30 s (signaling.firstCheckDelayMs): a round during the host's and
   * the stack's own start-up measures the machine's start-up, not the host.
   */
  firstRoundDelayMs: number;
  /** Known games' manifests (width, height, fps): what a container is held to, whatever it declares. */
  gameSpecs: GameSpecs;
  /** Weight of the newest verdict in the quality score's moving average. */
  qualityAlpha: number;
  /** RTT at which the RTT half of a round's quality reaches 0. */
  rttCeilingMs: number;
  failedVerdictsToDrain: number;
  /** EIP-712 domain of CheckReport (the staking registry on the configured chain). */
  domain: { chainId: number; verifyingContract: `0x${string}` };
  /** Accepted clock skew of a report's timestamp. */
  maxReportSkewSec: number;
  /** Distinct staked checkers whose reports a verdict needs; with fewer it is inconclusive. */
  minResponders: number;
  /** Confirmed passing verdicts in a row that lift a provider's drain. */
  probationPasses: number;
  /** Never assign a container to a checker in its own network of these prefix lengths (0: no such rule). */
  excludeSameNetwork: NetworkPrefixBits;
  /**
   * Distinct payers whose sessions' own evidence contradicted a provider's signed delivery receipts while its
   * probes passed (`contradicted`), within `contradictionWindowMs`, that drain the provider. 0: never.
   */
  contradictedPlayersToDrain: number;
  contradictionWindowMs: number;
  /**
   * Seconds a payer must have been billed for with other providers before its contradiction counts (0: any payer).
   * Else a few fresh wallets, each playing a moment on an honest host and lying about their decoders, drain it.
   */
  contradictionMinPayerSec: number;
};

export const DEFAULT_CHECK_SETTINGS: CheckSettings = {
  intervalMs: 60_000,
  checkersPerContainer: 3,
  deadlineMs: 45_000,
  probeTimeoutMs: 20_000,
  busyDeferralMs: 600_000,
  startupQuietMs: 8_000,
  firstRoundDelayMs: 1_000,
  gameSpecs: {},
  qualityAlpha: 0.3,
  rttCeilingMs: 200,
  failedVerdictsToDrain: 2,
  domain: { chainId: 31337, verifyingContract: '0x0000000000000000000000000000000000000000' },
  maxReportSkewSec: 300,
  minResponders: 2,
  probationPasses: 3,
  excludeSameNetwork: { ipv4PrefixBits: 0, ipv6PrefixBits: 0 },
  contradictedPlayersToDrain: 3,
  contradictionWindowMs: 24 * 3_600_000,
  contradictionMinPayerSec: 600,
};

export type SignedCheckReport = {
  report: PeerMessageOf<'check-report'>['report'];
  signature: `0x${string}`;
};

/**
 * The outcome of one check round. `verdict` is `ok` or `fail` only when confirmed (see the module comment):
 * `confirmed` says the same in one field, for consumers that act on verdicts (slashing, rewards).
 */
export type RoundVerdict = {
  hostId: string;
  providerAddress: `0x${string}`;
  round: bigint;
  verdict: 'ok' | 'fail' | 'inconclusive';
  confirmed: boolean;
  /** Distinct staked checkers that reported. */
  responders: number;
  majority: `0x${string}`[];
  minority: `0x${string}`[];
  silent: `0x${string}`[];
  /** Checkers whose failing report was not counted: their probe never got a slot (the container was full). */
  unprobed: `0x${string}`[];
  /** Checkers whose probe got a slot (the host was sent its `start-session`): only their reports measured it. */
  probed: `0x${string}`[];
  reports: SignedCheckReport[];
  qualityScore: number;
  /** This verdict drained the provider. */
  drained: boolean;
  /** What the container was held to in this round: the probed game's manifest. */
  expected?: ExpectedStream;
  /** What the host itself reported delivering (`host-report`) during each checker's probe, by checker. */
  hostClaims?: Record<string, { fpsMilli: number; framesSent: number }>;
  /** Live sessions whose delivery this round sampled (their players disputed it): each got the majority's fps. */
  sampled?: string[];
  /** This verdict completed the provider's probation: its drain is lifted. */
  drainLifted: boolean;
};

/** A checker's observation of a live session, from a decided round that sampled it (hub `reportCheckerObservation`). */
export type SessionObservation = { sessionId: string; checkerAddress: `0x${string}`; fpsMilli: number };

/** A live session whose player disputes delivery: the checkers sample its host now (hub `deliveryDisputed`). */
export type SampleRequest = { sessionId: string; hostId: string; game: string | undefined };

type CheckerPeer = { peerId: string; address: `0x${string}`; stakeWei: bigint; remoteIp: string };

type Probe = LineProbe & { checker: CheckerPeer; round: bigint; done: boolean; yielded: boolean };

type Round = {
  hostId: string;
  round: bigint;
  expected: ExpectedStream;
  assigned: Map<`0x${string}`, Probe>;
  reports: Map<`0x${string}`, SignedCheckReport>;
  /**
   * Checkers whose failing report came for a probe that never got a slot (every slot was busy): it measured
   * nothing, so it is no evidence against the host and does not count (not a vote, not the minority).
   */
  unprobed: Set<`0x${string}`>;
  /**
   * Checkers silent at the deadline, taken out of the round when it was reassigned: they never vote in it (a late
   * report would add a vote beyond 2N+1 — a colluder and its replacement could tie the round) nor come back into it.
   */
  dropped: Set<`0x${string}`>;
  /**
   * The host went away (its connection closed, its heartbeats lapsed) once one of this round's probes had started: the
   * probes it dropped with its line never start, and their failing reports count all the same (not `unprobed`) —
   * else a host that leaves when a probe reaches it (it can tell one in its reserve) would leave every round
   * inconclusive.
   */
  hostLeftMidProbe: boolean;
  replaced: boolean;
  timer: NodeJS.Timeout;
  /** When `timer` fires (Date.now() clock). */
  deadlineAtMs: number;
  /**
   * Checkers whose probe yielded to a player (see `playerSessionStarting`): the yielded probe's session id and when that
   * player's start-up ends, until that probe's report (or its `probe-done`) has come — that report measured a cut
   * stream and is not counted — and the re-run is assigned.
   */
  yieldedReports: Map<`0x${string}`, { sessionId: string; startupEndsAtMs: number }>;
  /** Live sessions of this container whose delivery the round samples. */
  samples: Set<string>;
};

/** A session whose own evidence contradicted its host's signed delivery receipts (hub `deliveryContradicted`). */
export type ContradictionReport = {
  sessionId: string;
  hostId: string;
  payerAddress: `0x${string}` | undefined;
  receipts: SignedDeliveryReceipt[];
  /** Seconds the payer was billed for with other providers (the ledger's; undefined: unknown, counted as none). */
  payerDeliveredSecElsewhere?: number | undefined;
};

/** What `contradicted` did: counted it, drained the provider with it, or why it did not count. */
export type ContradictionOutcome = 'counted' | 'drained' | 'not-counted' | 'unknown-host';

export type CheckerDeskParameters = {
  settings: CheckSettings;
  stakeSettings: StakeSettings;
  stakes: StakeGate;
  drains: DrainStore;
  /** The drains in force as the instances of a network share them (`SignalingStore.drains`); default: this desk's. */
  drainMap?: DrainMap;
  hosts: HostStore;
  send: (peerId: string, message: ServerMessage) => void;
  isConnected: (peerId: string) => boolean;
  /**
   * Connected to this signaling instance (not another one sharing the store). A container's rounds run on the
   * instance its host is connected to, only: every message of its probes (offer, ICE, reports, end) arrives there,
   * and two instances never run rounds of one container at once. Default: `isConnected`.
   */
  isLocal?: (peerId: string) => boolean;
  log: Logger;
  metrics: Metrics<SignalingMetricKey>;
  onVerdict: (verdict: RoundVerdict) => void;
  /** STUN/TURN servers for a probe session (TURN credentials issued for it); none when absent. */
  iceServersFor?: (sessionId: string) => IceServerRecord[];
  /** How long ago a player's session got its slot (the hub's session record); probes wait out its start-up. */
  playerSessionAgeMs?: (sessionId: string) => number | undefined;
  /** What a decided round's majority measured, for each live session it sampled. */
  onObservation?: (observation: SessionObservation) => void;
  /**
   * Several instances: records a payer's contradiction for the network and answers the distinct payers within the
   * window on every instance (`SharedLimits.countContradiction`; undefined when the store cannot answer: this
   * desk's own count stands). Without it, the count is this desk's.
   */
  sharedContradictions?: (
    provider: string,
    payer: string,
    atMs: number,
    windowMs: number,
  ) => Promise<number | undefined>;
};

/**
 * A container's next round number: above its last one here, and never below the clock in ms. The ledger and the
 * StakingRegistry key reports, verdicts and slashes by (container, round), so a number must never come back — and a
 * counter from 1 would, after a signaling restart or when the container's rounds move to another instance (its
 * verdicts were dropped as duplicates and a failing round could not be slashed for). The clock makes a number unique
 * without asking anyone; +1 keeps two rounds in one millisecond apart.
 */
export function nextRoundNumber(previous: bigint | undefined, nowMs: number): bigint {
  const fromClock = BigInt(Math.floor(nowMs));
  return previous !== undefined && previous >= fromClock ? previous + 1n : fromClock;
}

export class CheckerDesk {
  readonly #p: CheckerDeskParameters;
  readonly #log: Logger;
  readonly #checkers = new Map<string, CheckerPeer>();
  readonly #probes = new Map<string, Probe>();
  readonly #rounds = new Map<string, Round>();
  readonly #roundCounter = new Map<string, bigint>();
  readonly #schedule = new Map<string, NodeJS.Timeout>();
  /** Latest verdict per container, for delivery verification. */
  readonly #latest = new Map<string, RoundVerdict>();
  /** Checker registrations being checked (signature, stake), by peer: one at a time per connection. */
  readonly #registering = new Set<string>();
  /**
   * Drains in force, by provider address (lower case): the store's, shared by the instances of a network (a
   * drained provider's host that connects to another instance stays drained); the DrainStore holds them across
   * restarts.
   */
  readonly #drains: DrainMap;
  /** DrainStore writes, in order; `flush()` waits for them. */
  #writes: Promise<void> = Promise.resolve();
  readonly #line: ProbeLine;
  /** When each container's last round started (busy containers are checked less often). */
  readonly #lastRoundAtMs = new Map<string, number>();
  /** Disputed sessions waiting for the round under way on their container to end. */
  readonly #pendingSamples = new Map<string, SampleRequest[]>();
  /** When each host's first round is due (set at its first registration only: reconnecting does not push it back). */
  readonly #firstRoundAtMs = new Map<string, number>();
  /** By provider (lower case): payers whose sessions contradicted its signed receipts, and when (see `contradicted`). */
  readonly #contradictions = new Map<string, Map<string, number>>();
  /** By payer (lower case): the providers its contradictions counted against, and when (see `#spendRecord`). */
  readonly #payerProviders = new Map<string, Map<string, number>>();
  #closed = false;

  /** For the configured domain; made again if the settings' domain changes (a chain deployed after start). */
  #verifier: { key: string; verifier: CheckReportVerifier } | undefined;

  constructor(params: CheckerDeskParameters) {
    this.#p = params;
    this.#drains = params.drainMap ?? new Map<string, ProviderDrain>();
    this.#log = params.log.child({ mod: 'signaling/checkers' });
    this.#line = new ProbeLine({
      hosts: params.hosts,
      send: params.send,
      ...(params.iceServersFor ? { iceServersFor: params.iceServersFor } : {}),
      probeTimeoutMs: params.settings.probeTimeoutMs,
      startupQuietMs: params.settings.startupQuietMs,
      ...(params.playerSessionAgeMs ? { playerSessionAgeMs: params.playerSessionAgeMs } : {}),
      // The checker learns when its probe got a slot: it waits for the host's offer from then, not from the
      // assignment (a probe behind others, or behind players, may wait long for one).
      onStarted: (line) => {
        const probe = this.#probes.get(line.sessionId);
        if (probe) params.send(probe.checker.peerId, { type: 'probe-started', sessionId: probe.sessionId });
      },
      log: this.#log,
    });
  }

  get checkerCount(): number {
    return this.#checkers.size;
  }

  latestVerdict(hostId: string): RoundVerdict | undefined {
    return this.#latest.get(hostId);
  }

  isProbe(sessionId: string): boolean {
    return this.#probes.has(sessionId);
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#schedule.values()) clearTimeout(timer);
    for (const round of this.#rounds.values()) clearTimeout(round.timer);
    this.#line.close();
  }

  /** Resolves once every drain written so far is in the DrainStore. */
  flush(): Promise<void> {
    return this.#writes;
  }

  // ---- drains ------------------------------------------------------------------------------------------

  /** Reads the drains in force from the DrainStore (at start, before hosts register). */
  async loadDrains(): Promise<void> {
    for (const drain of await this.#p.drains.active()) {
      // Another instance of the network may hold it already, with probation passes since.
      const provider = drain.providerAddress.toLowerCase();
      if (!this.#drains.has(provider)) this.#drains.set(provider, drain);
    }
    if (this.#drains.size > 0) this.#log.info({ providers: [...this.#drains.keys()] }, 'drains in force loaded');
  }

  /** Passing checks in a row that lift a drain. */
  get probationPasses(): number {
    return this.#p.settings.probationPasses;
  }

  /** The provider's drain in force, if any. */
  drainOf(providerAddress: string): Readonly<ProviderDrain> | undefined {
    return this.#drains.get(providerAddress.toLowerCase());
  }

  /**
   * Sets a host's `drained` and `drainReason` from its provider's drain and its own stake shortfall (set by the
   * hub from the StakingRegistry): either keeps it out of matching.
   */
  syncDrained(host: HostRecord): void {
    const drain = this.#drains.get(host.providerAddress.toLowerCase());
    this.#p.hosts.update(host.hostId, {
      drained: drain !== undefined || host.stakeShortfall !== undefined,
      drainReason: drain
        ? `${drain.reason} — on probation: ${drain.probationPasses} of ${this.#p.settings.probationPasses} passing checks`
        : host.stakeShortfall,
    });
  }

  #syncProvider(providerAddress: string): void {
    for (const host of this.#p.hosts.hostsOf(providerAddress)) this.syncDrained(host);
  }

  #write(what: string, write: () => Promise<void>): void {
    this.#writes = this.#writes.then(write).catch((error: unknown) => {
      this.#log.error({ err: error, what }, 'writing a drain to the store failed');
    });
  }

  // ---- checkers ----------------------------------------------------------------------------------------

  /**
   * A checker proves its wallet (a signature over the connection's nonce) and its stake (the checker tier's
   * minimum in the StakingRegistry). One registration at a time per connection.
   */
  async register(
    peerId: string,
    nonce: string,
    message: PeerMessageOf<'register-checker'>,
    remoteIp = '',
  ): Promise<`0x${string}`> {
    if (this.#registering.has(peerId) || this.#checkers.has(peerId)) {
      throw new AthError({
        code: 'ATH_ERR_NOT_ALLOWED',
        shortMessage: this.#registering.has(peerId) ? 'a registration is already in progress' : 'already registered',
      });
    }
    this.#registering.add(peerId);
    try {
      return await this.#register(peerId, nonce, message, remoteIp);
    } finally {
      this.#registering.delete(peerId);
    }
  }

  async #register(
    peerId: string,
    nonce: string,
    message: PeerMessageOf<'register-checker'>,
    remoteIp: string,
  ): Promise<`0x${string}`> {
    const address = message.checkerAddress.toLowerCase() as `0x${string}`;
    const valid = await verifyMessage({
      address,
      message: checkerRegistrationMessage(address, nonce),
      signature: message.signature as `0x${string}`,
    }).catch(() => false);
    if (!valid) {
      throw new AthError({
        code: 'ATH_ERR_BAD_SIGNATURE',
        shortMessage: 'registration signature does not match the checker address',
      });
    }
    const alreadyConnected = () => {
      for (const checker of this.#checkers.values()) {
        if (checker.address === address && this.#p.isConnected(checker.peerId)) {
          throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'this checker is already connected' });
        }
      }
    };
    alreadyConnected();
    const { position } = await admitStake({
      gate: this.#p.stakes,
      settings: this.#p.stakeSettings,
      address,
      role: 'checker',
    });
    alreadyConnected();
    if (!this.#p.isConnected(peerId) || this.#closed) {
      throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'the connection closed' });
    }
    const checker: CheckerPeer = { peerId, address, stakeWei: position.stakeWei, remoteIp };
    this.#checkers.set(peerId, checker);
    this.#log.info({ checker: address, stakeWei: String(position.stakeWei) }, 'checker registered');
    // Containers that could not be checked for want of checkers get a round now.
    for (const host of this.#p.hosts.all()) {
      if (!this.#rounds.has(host.hostId)) this.#scheduleRound(host.hostId, this.#firstRoundWaitMs(host.hostId));
    }
    this.#topUpRounds(checker);
    return address;
  }

  /**
   * Rounds that started short of checkers (one or two were connected, as right after start-up) take a
   * newcomer, so that they still end with 2N+1 votes rather than one checker's word.
   */
  #topUpRounds(checker: CheckerPeer): void {
    for (const round of this.#rounds.values()) {
      // (A reassigned round is not topped up: its seats went to drawn replacements, not to whoever connects next.)
      if (
        round.replaced ||
        round.assigned.size >= this.#p.settings.checkersPerContainer ||
        round.assigned.has(checker.address) ||
        round.dropped.has(checker.address)
      )
        continue;
      const host = this.#p.hosts.get(round.hostId);
      if (host?.state !== 'up' || !host.peerId || !this.#mayCheck(checker, host)) continue;
      this.#assign(host, round, checker);
      this.#log.info({ hostId: round.hostId, round: String(round.round), checker: checker.address }, 'round topped up');
    }
  }

  checkerLeft(peerId: string): void {
    this.#checkers.delete(peerId);
  }

  /**
   * A checker address's stake changed (the StakingRegistry said so): its draw weight follows; a checker below
   * the checker tier's minimum is dropped. Returns the connections of dropped checkers (the hub closes them).
   */
  checkerStakeChanged(address: string, position: StakePosition, allowed: boolean): string[] {
    const dropped: string[] = [];
    for (const checker of this.#checkers.values()) {
      if (checker.address !== address.toLowerCase()) continue;
      if (allowed) checker.stakeWei = position.stakeWei;
      else {
        this.#checkers.delete(checker.peerId);
        dropped.push(checker.peerId);
        this.#log.warn({ checker: checker.address }, 'checker dropped: its stake fell below the checker tier');
      }
    }
    return dropped;
  }

  /** Whether `checker` may check `host`: not the host's own provider, not on the host's network (by config). */
  #mayCheck(checker: CheckerPeer, host: HostRecord): boolean {
    if (checker.address === host.providerAddress.toLowerCase()) return false;
    return !(
      host.remoteIp &&
      checker.remoteIp &&
      sameNetwork(checker.remoteIp, host.remoteIp, this.#p.settings.excludeSameNetwork)
    );
  }

  /** Connected checkers that may check `host`, minus `exclude`. */
  #eligible(host: HostRecord, exclude: ReadonlySet<string> = new Set()): CheckerPeer[] {
    return [...this.#checkers.values()].filter(
      (c) => this.#p.isConnected(c.peerId) && !exclude.has(c.address) && this.#mayCheck(c, host),
    );
  }

  // ---- containers --------------------------------------------------------------------------------------

  /** A host registered: its first round comes after `firstRoundDelayMs`, then one every interval. */
  hostRegistered(hostId: string): void {
    if (!this.#firstRoundAtMs.has(hostId)) {
      this.#firstRoundAtMs.set(hostId, Date.now() + this.#p.settings.firstRoundDelayMs);
    }
    this.#scheduleRound(hostId, Math.max(1_000, this.#firstRoundWaitMs(hostId)));
  }

  /** 0, or how long until a freshly registered host's first round is due. */
  #firstRoundWaitMs(hostId: string): number {
    const at = this.#firstRoundAtMs.get(hostId);
    return at === undefined ? 0 : Math.max(0, at - Date.now());
  }

  hostGone(hostId: string): void {
    const round = this.#rounds.get(hostId);
    // (Any probe of the round started, not only a running one: between two probes — the next one waiting out a
    // colluder's start-up, say — the host knows a round is under way just as well.)
    if (round && [...round.assigned.values()].some((probe) => probe.startedAtMs !== undefined)) {
      round.hostLeftMidProbe = true;
      this.#log.warn(
        { hostId, round: String(round.round) },
        'host left during a round it was probed in: the round’s fails count',
      );
    }
    clearTimeout(this.#schedule.get(hostId));
    this.#schedule.delete(hostId);
    this.#line.hostGone(hostId);
    this.#pendingSamples.delete(hostId);
  }

  /** A host left the registry for good: nothing is kept for it (its provider's drain stays). */
  hostEvicted(hostId: string): void {
    this.hostGone(hostId);
    this.#firstRoundAtMs.delete(hostId);
    const round = this.#rounds.get(hostId);
    if (round) {
      clearTimeout(round.timer);
      this.#rounds.delete(hostId);
      for (const probe of round.assigned.values()) this.#stopProbe(probe);
    }
    this.#roundCounter.delete(hostId);
    this.#latest.delete(hostId);
  }

  #scheduleRound(hostId: string, delayMs: number): void {
    if (this.#closed) return;
    clearTimeout(this.#schedule.get(hostId));
    const timer = setTimeout(() => this.#startRound(hostId), delayMs);
    timer.unref();
    this.#schedule.set(hostId, timer);
  }

  /**
   * A live session's player disputes what it gets: its container is checked now, whatever its schedule and
   * however busy it is (a probe beside the session measures what the host delivers at that moment, and the host
   * cannot tell it from a player's), on the session's game. The decided round's majority is reported as
   * observations of the session (`onObservation`). A round already under way may have measured before the
   * dispute: the sampling round follows it at once. Returns whether the session is being sampled (false: the
   * host is gone, or no checker is connected).
   */
  sampleSession(request: SampleRequest): boolean {
    if (this.#closed) return false;
    if (this.#rounds.has(request.hostId)) {
      const pending = this.#pendingSamples.get(request.hostId) ?? [];
      if (!pending.some((p) => p.sessionId === request.sessionId)) pending.push(request);
      this.#pendingSamples.set(request.hostId, pending);
      return true;
    }
    clearTimeout(this.#schedule.get(request.hostId));
    this.#schedule.delete(request.hostId);
    const started = this.#startRound(request.hostId, { samples: [request] });
    if (!started) this.#scheduleRound(request.hostId, this.#p.settings.intervalMs);
    return started;
  }

  #startRound(hostId: string, options: { samples?: SampleRequest[] } = {}): boolean {
    this.#schedule.delete(hostId);
    const host = this.#p.hosts.get(hostId);
    if (host?.state !== 'up' || !host.peerId) return false;
    if (this.#rounds.has(hostId)) return false;
    // Another instance holds its host's connection: that one checks it (see `isLocal`).
    if (!(this.#p.isLocal ?? this.#p.isConnected)(host.peerId)) return false;
    const available = this.#eligible(host);
    if (available.length === 0) {
      this.#log.debug({ hostId }, 'no eligible checker connected; the container waits for one');
      return false;
    }
    // A probe is a real session: beside a live player it costs that player frames. While players play, the
    // container is checked at most every `busyDeferralMs` (their own delivery reports cover the time between) —
    // unless a player disputes its delivery: then it is checked now.
    const last = this.#lastRoundAtMs.get(hostId);
    const serving = host.slots.some((slot) => slot.state !== 'free' && !this.#probes.has(slot.sessionId ?? ''));
    const sample = options.samples?.[0];
    if (!sample && serving && last !== undefined && Date.now() - last < this.#p.settings.busyDeferralMs) {
      this.#scheduleRound(hostId, this.#p.settings.intervalMs);
      return false;
    }
    const expected = expectedStream(host, this.#p.settings.gameSpecs, sample?.game);
    if (!expected) return false;
    this.#lastRoundAtMs.set(hostId, Date.now());
    const round = nextRoundNumber(this.#roundCounter.get(hostId), Date.now());
    this.#roundCounter.set(hostId, round);
    const chosen = pickByStake(available, this.#p.settings.checkersPerContainer);
    const state: Round = {
      hostId,
      round,
      expected,
      assigned: new Map(),
      reports: new Map(),
      unprobed: new Set(),
      dropped: new Set(),
      hostLeftMidProbe: false,
      replaced: false,
      timer: setTimeout(() => this.#onDeadline(hostId), this.#p.settings.deadlineMs),
      deadlineAtMs: Date.now() + this.#p.settings.deadlineMs,
      yieldedReports: new Map(),
      samples: new Set((options.samples ?? []).map((request) => request.sessionId)),
    };
    state.timer.unref();
    this.#rounds.set(hostId, state);
    for (const checker of chosen) this.#assign(host, state, checker);
    this.#log.info(
      {
        hostId,
        round: String(round),
        checkers: chosen.map((c) => c.address),
        ...(sample ? { sampling: [...state.samples] } : {}),
      },
      'check round started',
    );
    return true;
  }

  #assign(host: HostRecord, round: Round, checker: CheckerPeer, options: { rerunOf?: Probe } = {}): void {
    const probe: Probe = {
      sessionId: `0x${randomBytes(32).toString('hex')}`,
      hostId: host.hostId,
      game: round.expected.game,
      slot: undefined,
      state: 'queued',
      startedAtMs: undefined,
      timer: undefined,
      hostClaim: undefined,
      sampling: round.samples.size > 0,
      // A re-run (of a probe that yielded) carries on the newcomers its probe gave way to (they are bounded).
      gaveWayTo: [...(options.rerunOf?.gaveWayTo ?? [])],
      checker,
      round: round.round,
      done: false,
      yielded: false,
    };
    this.#probes.set(probe.sessionId, probe);
    round.assigned.set(checker.address, probe);
    const iceServers = this.#p.iceServersFor?.(probe.sessionId) ?? [];
    this.#p.send(checker.peerId, {
      type: 'check-assignment',
      round: String(round.round),
      container: host.hostId,
      probeSessionId: probe.sessionId,
      expected: round.expected,
      // What is left of the round (a probe re-assigned after yielding gets the rest, not a whole one).
      deadlineMs: Math.max(1_000, Math.min(this.#p.settings.deadlineMs, round.deadlineAtMs - Date.now())),
      ...(iceServers.length > 0 ? { iceServers } : {}),
    });
    // The host hears of it as a player's session, when the probes before it are done and a slot is free.
    this.#line.enqueue(probe, { first: options.rerunOf !== undefined });
  }

  /**
   * A player's session got a slot of the container (Matchmaking, before the host is sent its `start-session`). A
   * probe running there yields to it (ProbeLine.yieldTo): a newcomer's first seconds are not shared with a second
   * stream on its host. What the cut probe measured is not counted, as a failure or as a pass: once its checker has
   * reported it (or said `probe-done`), the checker gets a fresh assignment in the same round, at the head of the line
   * (`#rerun`) — not before that report, so a report is never mistaken for the other probe's (a cut probe's checker may
   * wait its whole connect window for media that never comes). The re-run waits out that player's start-up. A probe
   * gives way (waits or yields) to `NEWCOMERS_A_PROBE_GIVES_WAY_TO` players at most, its re-runs included, so a host
   * cannot put a probe off by starting sessions by more than that many `startupQuietMs` windows; a sampling round
   * never yields.
   */
  playerSessionStarting(hostId: string, playerSessionId: string): void {
    this.#yieldTo(hostId, playerSessionId, 0);
  }

  /**
   * Containers where a probe holds a slot it would give a player who finds no free one (a paying player never
   * waits behind a check): Matchmaking picks among them and calls `giveWayToWaitingPlayer`.
   */
  hostsWithYieldableProbeSlot(): Iterable<string> {
    return this.#line.hostsWithYieldableSlot();
  }

  /**
   * A player found no free slot and `hostId`'s is held by a probe: the probe yields as to a starting session
   * (`playerSessionStarting`), and the container's line starts nothing for a moment, so that the slot is the
   * player's to lease. True if a probe gave its slot up.
   */
  giveWayToWaitingPlayer(hostId: string, playerSessionId: string): boolean {
    return this.#yieldTo(hostId, playerSessionId, this.#p.settings.startupQuietMs);
  }

  #yieldTo(hostId: string, playerSessionId: string, holdSlotMs: number): boolean {
    if (this.#closed || this.#probes.has(playerSessionId)) return false;
    const round = this.#rounds.get(hostId);
    if (!round || round.samples.size > 0) return false;
    const yielded = this.#line.yieldTo(hostId, playerSessionId, { holdSlotMs });
    if (!yielded) return false;
    const probe = this.#probes.get(yielded.sessionId);
    if (!probe) return true;
    probe.yielded = true;
    this.#stopProbe(probe);
    if (round.round !== probe.round || round.assigned.get(probe.checker.address) !== probe) return true;
    round.yieldedReports.set(probe.checker.address, {
      sessionId: probe.sessionId,
      startupEndsAtMs: Date.now() + this.#p.settings.startupQuietMs,
    });
    this.#log.info(
      { hostId, round: String(round.round), checker: probe.checker.address, playerSessionId },
      'a probe yielded to a player’s session start: its checker probes again after the start-up',
    );
    return true;
  }

  /** The checker of a yielded probe reported it (not counted) or gave it up: its re-run is assigned now. */
  #rerun(round: Round, checkerAddress: `0x${string}`): void {
    const pending = round.yieldedReports.get(checkerAddress);
    round.yieldedReports.delete(checkerAddress);
    const probe = round.assigned.get(checkerAddress);
    const host = this.#p.hosts.get(round.hostId);
    if (!pending || !probe?.yielded || this.#rounds.get(round.hostId) !== round || !host?.peerId) return;
    if (!this.#p.isConnected(probe.checker.peerId)) return;
    // Room for the re-run after the player's start-up: a whole round's time from then, as a fresh assignment gets
    // (a probe running when it is assigned may hold the line up to probeTimeoutMs first). Once per probe: bounded.
    const deadlineAtMs = Math.max(Date.now(), pending.startupEndsAtMs) + this.#p.settings.deadlineMs;
    if (deadlineAtMs > round.deadlineAtMs) {
      clearTimeout(round.timer);
      round.timer = setTimeout(() => this.#onDeadline(round.hostId), deadlineAtMs - Date.now());
      round.timer.unref();
      round.deadlineAtMs = deadlineAtMs;
    }
    this.#assign(host, round, probe.checker, { rerunOf: probe });
  }

  #onDeadline(hostId: string): void {
    const round = this.#rounds.get(hostId);
    if (!round) return;
    const silent = [...round.assigned.keys()].filter((address) => !round.reports.has(address));
    const host = this.#p.hosts.get(hostId);
    if (silent.length > 0 && !round.replaced && host?.peerId) {
      // Unanswered assignments go to checkers not yet in this round, once; then the round closes.
      round.replaced = true;
      const fresh = this.#eligible(host, new Set(round.assigned.keys()));
      const replacements = pickByStake(fresh, silent.length);
      for (const address of silent) {
        this.#stopProbe(round.assigned.get(address));
        round.assigned.delete(address);
        round.dropped.add(address);
      }
      for (const checker of replacements) this.#assign(host, round, checker);
      if (replacements.length > 0) {
        this.#log.info({ hostId, silent, replacements: replacements.map((c) => c.address) }, 'assignments reassigned');
        round.timer = setTimeout(() => this.#onDeadline(hostId), this.#p.settings.deadlineMs);
        round.timer.unref();
        round.deadlineAtMs = Date.now() + this.#p.settings.deadlineMs;
        return;
      }
    }
    this.#finish(round);
  }

  // ---- probe signaling ---------------------------------------------------------------------------------

  /** Host → checker (offer, ICE) for a probe session; false if the id is not a probe of this host. */
  relayFromHost(hostId: string, message: PeerMessageOf<'offer'> | PeerMessageOf<'ice'>): boolean {
    const probe = this.#probes.get(message.sessionId);
    if (!probe) return false;
    if (probe.hostId !== hostId) {
      throw new AthError({ code: 'ATH_ERR_NOT_YOUR_SESSION', shortMessage: 'that probe is not on your host' });
    }
    this.#p.send(probe.checker.peerId, message);
    return true;
  }

  /** Checker → host (answer, ICE) for its own probe. */
  relayFromChecker(peerId: string, message: PeerMessageOf<'answer'> | PeerMessageOf<'ice'>): void {
    const probe = this.#ownProbe(peerId, message.sessionId);
    const host = this.#p.hosts.get(probe.hostId);
    if (host?.peerId) this.#p.send(host.peerId, message);
  }

  probeDone(peerId: string, sessionId: string): void {
    const probe = this.#ownProbe(peerId, sessionId);
    const round = this.#rounds.get(probe.hostId);
    // A checker done with a yielded probe without reporting it: its re-run is assigned now.
    if (probe.yielded && round?.yieldedReports.get(probe.checker.address)?.sessionId === sessionId) {
      this.#rerun(round, probe.checker.address);
    }
    this.#stopProbe(probe);
  }

  #ownProbe(peerId: string, sessionId: string): Probe {
    const probe = this.#probes.get(sessionId);
    if (!probe || probe.checker.peerId !== peerId) {
      throw new AthError({ code: 'ATH_ERR_NOT_YOUR_SESSION', shortMessage: 'that probe is not yours' });
    }
    return probe;
  }

  #stopProbe(probe: Probe | undefined): void {
    if (!probe || probe.done) return;
    probe.done = true;
    this.#line.stop(probe);
    // Keep the id a little longer so late ICE from either side is recognised, not refused (a yielded probe's checker
    // still measures its cut stream for a few seconds, then reports it and says `probe-done`).
    setTimeout(() => this.#probes.delete(probe.sessionId), probe.yielded ? 60_000 : 10_000).unref();
  }

  /** A host's `host-report` for a probe session: its claim is kept beside the checker's measurement. */
  hostReport(hostId: string, message: PeerMessageOf<'host-report'>): boolean {
    const probe = this.#probes.get(message.sessionId);
    if (!probe) return false;
    if (probe.hostId !== hostId) {
      throw new AthError({ code: 'ATH_ERR_NOT_YOUR_SESSION', shortMessage: 'that session is not on your host' });
    }
    probe.hostClaim = { fpsMilli: message.fpsMilli, framesSent: message.framesSent };
    return true;
  }

  /** A host ended a probe session itself (its game failed, crashed, …): the slot is free; the checker sees it. */
  probeEndedByHost(hostId: string, sessionId: string): boolean {
    const probe = this.#probes.get(sessionId);
    if (!probe) return false;
    if (probe.hostId === hostId) this.#line.endedByHost(probe);
    return true;
  }

  // ---- reports -----------------------------------------------------------------------------------------

  #reportVerifier(): CheckReportVerifier {
    const { domain } = this.#p.settings;
    const key = `${domain.chainId}:${domain.verifyingContract.toLowerCase()}`;
    if (this.#verifier?.key !== key) this.#verifier = { key, verifier: new CheckReportVerifier(domain) };
    return this.#verifier.verifier;
  }

  async report(peerId: string, message: PeerMessageOf<'check-report'>): Promise<{ round: string; container: string }> {
    const checker = this.#checkers.get(peerId);
    if (!checker) throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'register as a checker first' });
    const { report } = message;
    const claimed = report.checker.toLowerCase();
    if (claimed !== checker.address) {
      throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'report names another checker' });
    }
    const round = this.#rounds.get(report.container);
    if (round?.round === BigInt(report.round) && round.yieldedReports.has(checker.address)) {
      // The report of a probe that yielded to a player (the re-run is assigned only after it). It measured a cut
      // stream: not counted, as a failure or a pass; the checker's re-run decides its vote.
      this.#log.info(
        { hostId: round.hostId, round: String(round.round), checker: checker.address, ok: report.ok },
        'report of a probe that yielded to a player: not counted (its re-run counts)',
      );
      this.#rerun(round, checker.address);
      return { round: report.round, container: report.container };
    }
    const probe = round?.round === BigInt(report.round) ? round.assigned.get(checker.address) : undefined;
    if (round?.dropped.has(checker.address) && round.round === BigInt(report.round)) {
      throw new AthError({
        code: 'ATH_ERR_NOT_ASSIGNED',
        shortMessage: `your assignment to ${report.container} in round ${report.round} went to another checker after the deadline`,
      });
    }
    if (!round || !probe) {
      throw new AthError({
        code: 'ATH_ERR_NOT_ASSIGNED',
        shortMessage: `you are not assigned to ${report.container} in round ${report.round}`,
      });
    }
    if (round.reports.has(checker.address)) {
      throw new AthError({ code: 'ATH_ERR_REPLAY', shortMessage: 'this round was already reported' });
    }
    const skewSec = Math.abs(Number(report.timestamp) - Date.now() / 1000);
    if (skewSec > this.#p.settings.maxReportSkewSec) {
      throw new AthError({
        code: 'ATH_ERR_BAD_MESSAGE',
        shortMessage: 'report timestamp is off by more than the allowed skew',
      });
    }
    if (!this.#reportVerifier().verify(checker.address as Address, report, message.signature as Hex)) {
      this.#p.metrics.metric.checkerReports.inc({ verdict: 'rejected' });
      throw new AthError({
        code: 'ATH_ERR_BAD_SIGNATURE',
        shortMessage: 'report signature does not match the checker',
      });
    }
    round.reports.set(checker.address, { report, signature: message.signature as `0x${string}` });
    if (!report.ok && probe.startedAtMs === undefined && !round.hostLeftMidProbe) {
      // The host was never asked for this probe's session (a full container): "no offer came" is not its fault.
      round.unprobed.add(checker.address);
      this.#log.info(
        { hostId: round.hostId, round: String(round.round), checker: checker.address },
        'failing report for a probe that never got a slot: not counted',
      );
    }
    this.#p.metrics.metric.checkerReports.inc({ verdict: report.ok ? 'ok' : 'fail' });
    this.#stopProbe(probe);
    if ([...round.assigned.keys()].every((address) => round.reports.has(address))) this.#finish(round);
    return { round: report.round, container: report.container };
  }

  #finish(round: Round): void {
    clearTimeout(round.timer);
    this.#rounds.delete(round.hostId);
    for (const probe of round.assigned.values()) this.#stopProbe(probe);
    const host = this.#p.hosts.get(round.hostId);
    // Only reports of checkers still registered count (one whose stake fell away mid-round was dropped).
    const staked = new Set([...this.#checkers.values()].map((c) => c.address));
    // Nor does a failing report of a probe that never got a slot: it measured nothing (see `Round.unprobed`).
    const reports = [...round.reports.values()].filter((r) => {
      const address = r.report.checker.toLowerCase() as `0x${string}`;
      return staked.has(address) && !round.unprobed.has(address);
    });
    const okVotes = reports.filter((r) => r.report.ok);
    const failVotes = reports.filter((r) => !r.report.ok);
    const { checkersPerContainer, minResponders } = this.#p.settings;
    // A majority of the round's target size, not of whoever answered: a short round cannot decide.
    const needed = Math.floor(checkersPerContainer / 2) + 1;
    const quorate = reports.length >= minResponders;
    // (Both sides at `needed` cannot happen with at most 2N+1 votes; if it ever did, nothing is decided.)
    const verdict: RoundVerdict['verdict'] =
      !quorate || (okVotes.length >= needed && failVotes.length >= needed)
        ? 'inconclusive'
        : okVotes.length >= needed
          ? 'ok'
          : failVotes.length >= needed
            ? 'fail'
            : 'inconclusive';
    const winners = verdict === 'ok' ? okVotes : verdict === 'fail' ? failVotes : [];
    const losers = verdict === 'ok' ? failVotes : verdict === 'fail' ? okVotes : [];
    let drained = false;
    let drainLifted = false;
    if (host && verdict !== 'inconclusive') {
      const quality = verdict === 'ok' ? this.#roundQuality(round.expected.fps, winners) : 0;
      const alpha = this.#p.settings.qualityAlpha;
      this.#p.hosts.update(host.hostId, {
        qualityScore: alpha * quality + (1 - alpha) * host.qualityScore,
        failedVerdictsInARow: verdict === 'fail' ? host.failedVerdictsInARow + 1 : 0,
      });
      ({ drained, drainLifted } = this.#applyToDrain(host, verdict, round.round));
    }
    const result: RoundVerdict = {
      hostId: round.hostId,
      providerAddress: host?.providerAddress ?? '0x0000000000000000000000000000000000000000',
      round: round.round,
      verdict,
      confirmed: verdict !== 'inconclusive',
      responders: reports.length,
      majority: winners.map((r) => r.report.checker.toLowerCase() as `0x${string}`),
      minority: losers.map((r) => r.report.checker.toLowerCase() as `0x${string}`),
      silent: [...round.dropped, ...[...round.assigned.keys()].filter((address) => !round.reports.has(address))],
      unprobed: [...round.unprobed],
      probed: [...round.assigned].flatMap(([address, probe]) => (probe.startedAtMs === undefined ? [] : [address])),
      reports,
      qualityScore: host?.qualityScore ?? 0,
      drained,
      drainLifted,
      expected: round.expected,
      hostClaims: Object.fromEntries(
        [...round.assigned].flatMap(([address, probe]) => (probe.hostClaim ? [[address, probe.hostClaim]] : [])),
      ),
      ...(round.samples.size > 0 ? { sampled: [...round.samples] } : {}),
    };
    if (verdict !== 'inconclusive') this.#latest.set(round.hostId, result);
    this.#log.info(
      {
        hostId: round.hostId,
        round: String(round.round),
        verdict,
        responders: reports.length,
        minority: result.minority,
        quality: result.qualityScore,
      },
      'check round decided',
    );
    this.#p.onVerdict(result);
    // The sampled sessions get what the majority measured (one checker's word alone never settles a dispute;
    // an inconclusive round settles nothing, and the meter ends a dispute nobody settles).
    for (const sessionId of verdict === 'inconclusive' ? [] : round.samples) {
      for (const signed of winners) {
        this.#p.onObservation?.({
          sessionId,
          checkerAddress: signed.report.checker.toLowerCase() as `0x${string}`,
          fpsMilli: signed.report.fpsMilli,
        });
      }
    }
    const pending = this.#pendingSamples.get(round.hostId);
    this.#pendingSamples.delete(round.hostId);
    if (pending && this.#startRound(round.hostId, { samples: pending })) return;
    if (host) this.#scheduleRound(host.hostId, this.#p.settings.intervalMs);
  }

  /**
   * The meter dropped a disputed stretch of a session a good probe could not vouch for: the session's player counted
   * far less than the host claimed (edge/metering). One player's word never fails a host (it may lie about its own
   * decoder), so one payer counts once: `contradictedPlayersToDrain` distinct payers within
   * `contradictionWindowMs` drain the provider, like failed verdicts (its probes passing lift the drain in
   * probation, and the next contradicted session drains it again while the count stands). Counted here and, with
   * several instances, for the network (`sharedContradictions`): payers metered on different instances add up.
   * The receipts came from the host's own connection: when they do not verify against its provider (signed by
   * another key, for another session) or are missing, the host withheld its signature while its unsigned reports
   * were billed — that counts all the same (else a host could opt out of this check by never signing); the log
   * says which.
   */
  async contradicted(contradiction: ContradictionReport): Promise<ContradictionOutcome> {
    const host = this.#p.hosts.get(contradiction.hostId);
    if (!host) return 'unknown-host';
    const provider = host.providerAddress.toLowerCase();
    const signers = await Promise.all(contradiction.receipts.map((signed) => deliveryReceiptSigner(signed)));
    const signed =
      contradiction.receipts.length > 0 &&
      contradiction.receipts.every((r) => r.receipt.sessionId === contradiction.sessionId) &&
      signers.every((signer) => signer?.toLowerCase() === provider);
    if (!signed) {
      this.#log.warn(
        { hostId: host.hostId, sessionId: contradiction.sessionId, receipts: contradiction.receipts.length },
        'a contradicted session without receipts signed by its provider: its host withheld them; counted',
      );
    }
    const { contradictedPlayersToDrain, contradictionWindowMs, contradictionMinPayerSec } = this.#p.settings;
    const payer = contradiction.payerAddress?.toLowerCase();
    if (payer === undefined || contradictedPlayersToDrain <= 0) return 'not-counted';
    const payerSec = contradiction.payerDeliveredSecElsewhere ?? 0;
    if (payerSec < contradictionMinPayerSec) {
      // A payer with no record elsewhere may be a wallet made to drain this host (Sybils: each costs a moment of
      // play here and a lie about its own decoder). Its session's disputed time was dropped all the same.
      this.#log.warn(
        { hostId: host.hostId, sessionId: contradiction.sessionId, payer, payerSecElsewhere: payerSec },
        'a contradicted session whose payer has too little record elsewhere: not counted against the host',
      );
      return 'not-counted';
    }
    const nowMs = Date.now();
    if (!this.#spendRecord(payer, provider, payerSec, nowMs)) {
      this.#log.warn(
        { hostId: host.hostId, sessionId: contradiction.sessionId, payer, payerSecElsewhere: payerSec },
        'a contradicted session whose payer’s record was spent on other providers’ contradictions: not counted',
      );
      return 'not-counted';
    }
    const payers = this.#contradictions.get(provider) ?? new Map<string, number>();
    this.#contradictions.set(provider, payers);
    for (const [address, atMs] of payers) if (atMs <= nowMs - contradictionWindowMs) payers.delete(address);
    payers.set(payer, nowMs);
    const shared = await this.#p.sharedContradictions?.(provider, payer, nowMs, contradictionWindowMs);
    const players = Math.max(payers.size, shared ?? 0);
    this.#log.warn(
      { hostId: host.hostId, sessionId: contradiction.sessionId, payer, players },
      'a session contradicted what its host claimed to deliver while its probes passed',
    );
    if (players < contradictedPlayersToDrain || this.#drains.has(provider)) return 'counted';
    const round = this.#latest.get(host.hostId)?.round ?? 0n;
    const record: ProviderDrain = {
      providerAddress: provider as `0x${string}`,
      hostId: host.hostId,
      reason: `${players} players counted far fewer frames than ${host.hostId} signed for while its probes passed (last: session ${contradiction.sessionId})`,
      round,
      drainedAtMs: nowMs,
      probationPasses: 0,
    };
    this.#drains.set(provider, record);
    this.#write('drain', () => this.#p.drains.drain(record));
    this.#syncProvider(provider);
    this.#log.warn({ provider, hostId: host.hostId, players }, 'provider drained: contradicted deliveries');
    return 'drained';
  }

  /**
   * Whether a payer's contradiction may count against `provider`: each `contradictionMinPayerSec` of its record elsewhere
   * covers one provider within `contradictionWindowMs` (a provider it already counted against is free). Else a few
   * wallets that bought the minimum record once would drain provider after provider for a moment of play and a lie each.
   * Kept on this instance only: with several instances, a payer's record stretches to one provider per instance
   * at most for each `contradictionMinPayerSec`.
   */
  #spendRecord(payer: string, provider: string, payerSec: number, nowMs: number): boolean {
    const { contradictionMinPayerSec, contradictionWindowMs } = this.#p.settings;
    if (contradictionMinPayerSec <= 0) return true;
    const spent = this.#payerProviders.get(payer) ?? new Map<string, number>();
    for (const [address, atMs] of spent) if (atMs <= nowMs - contradictionWindowMs) spent.delete(address);
    if (!spent.has(provider) && spent.size >= Math.floor(payerSec / contradictionMinPayerSec)) {
      if (spent.size === 0) this.#payerProviders.delete(payer);
      return false;
    }
    spent.set(provider, nowMs);
    this.#payerProviders.set(payer, spent);
    return true;
  }

  /** A confirmed verdict on one of a provider's hosts: drains the provider, or counts towards lifting its drain. */
  #applyToDrain(host: HostRecord, verdict: 'ok' | 'fail', round: bigint): { drained: boolean; drainLifted: boolean } {
    const provider = host.providerAddress.toLowerCase() as `0x${string}`;
    const drain = this.#drains.get(provider);
    const { failedVerdictsToDrain, probationPasses } = this.#p.settings;
    if (drain && verdict === 'fail') {
      if (drain.probationPasses > 0) {
        // A new record, not an edit in place: the store shares what is set.
        this.#drains.set(provider, { ...drain, probationPasses: 0 });
        this.#write('probation', () => this.#p.drains.probation(provider, 0));
        this.#syncProvider(provider);
      }
      return { drained: false, drainLifted: false };
    }
    if (drain) {
      const passes = drain.probationPasses + 1;
      if (passes >= probationPasses) {
        this.#drains.delete(provider);
        const why = `passed ${passes} checks in a row (last: ${host.hostId} round ${round})`;
        this.#write('lift', () => this.#p.drains.lift(provider, why));
        this.#syncProvider(provider);
        this.#log.warn({ provider, hostId: host.hostId, round: String(round) }, 'drain lifted after probation');
        return { drained: false, drainLifted: true };
      }
      this.#drains.set(provider, { ...drain, probationPasses: passes });
      this.#write('probation', () => this.#p.drains.probation(provider, passes));
      this.#syncProvider(provider);
      return { drained: false, drainLifted: false };
    }
    if (verdict === 'ok' || host.failedVerdictsInARow < failedVerdictsToDrain)
      return { drained: false, drainLifted: false };
    const record: ProviderDrain = {
      providerAddress: provider,
      hostId: host.hostId,
      reason: `${host.failedVerdictsInARow} failed checks in a row of ${host.hostId} (last: round ${round})`,
      round,
      drainedAtMs: Date.now(),
      probationPasses: 0,
    };
    this.#drains.set(provider, record);
    this.#write('drain', () => this.#p.drains.drain(record));
    this.#syncProvider(provider);
    this.#log.warn({ provider, hostId: host.hostId, round: String(round) }, 'provider drained after failed verdicts');
    return { drained: true, drainLifted: false };
  }

  /** 0..1 from the majority's median fps against the game's rate and median RTT against the ceiling. */
  #roundQuality(expectedFps: number, reports: SignedCheckReport[]): number {
    const advertisedFps = Math.max(1, expectedFps);
    const fps = median(reports.map((r) => r.report.fpsMilli / 1000));
    const rttMs = median(reports.map((r) => r.report.rttMicros / 1000));
    return 0.5 * Math.min(1, fps / advertisedFps) + 0.5 * Math.max(0, 1 - rttMs / this.#p.settings.rttCeilingMs);
  }
}

/**
 * `count` distinct checkers drawn at random with probability in proportion to stake (Efraimidis–Spirakis: each
 * gets the key u^(1/w) for a uniform u, the largest keys win). Stake is weighed in whole ATH, at least 1.
 */
export function pickByStake<T extends { stakeWei: bigint }>(items: readonly T[], count: number): T[] {
  const keyed = items.map((item) => {
    const weight = Math.max(1, Number(item.stakeWei / 10n ** 18n));
    const u = randomInt(1, 2 ** 47) / 2 ** 47;
    return { item, key: Math.log(u) / weight };
  });
  keyed.sort((a, b) => b.key - a.key);
  return keyed.slice(0, count).map((k) => k.item);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
