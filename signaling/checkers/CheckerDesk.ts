/**
 * The indexer's side of verification: checkers register with their wallet, each container is assigned to
 * 2N+1 distinct checkers at random (N = 1 by default) at registration and then every interval, each checker
 * measures the container on its own WebRTC probe stream and returns a signed EIP-712 CheckReport, and the
 * majority of a round decides. Verdicts move the container's quality score; two failed verdicts in a row
 * drain it and flag it for slashing with the signed reports as evidence. Checkers who agree with the
 * majority are credited; those in the minority are recorded.
 *
 * Probe streams reuse the session signaling (`offer`/`answer`/`ice` keyed by a probe session id) but never
 * take a slot and are never billed.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import { type Address, type Hex, verifyMessage } from 'viem';
import type { Metrics, SignalingMetricKey } from '../../metrics/index.js';
import {
  AthError,
  checkerRegistrationMessage,
  type IceServerRecord,
  type PeerMessageOf,
  type ServerMessage,
} from '../protocol/index.js';
import type { HostRecord } from '../store/HostRegistry.js';
import type { HostStore } from '../store/SignalingStore.js';
import { CheckReportVerifier } from './CheckReportVerifier.js';

export type CheckSettings = {
  /** Between two rounds of a container. */
  intervalMs: number;
  /** 2N+1. */
  checkersPerContainer: number;
  /** A checker that has not reported by then is replaced (once), then the round closes. */
  deadlineMs: number;
  /** Weight of the newest verdict in the quality score's moving average. */
  qualityAlpha: number;
  /** RTT at which the RTT half of a round's quality reaches 0. */
  rttCeilingMs: number;
  failedVerdictsToDrain: number;
  /** EIP-712 domain of CheckReport (the staking registry on the configured chain). */
  domain: { chainId: number; verifyingContract: `0x${string}` };
  /** Accepted clock skew of a report's timestamp. */
  maxReportSkewSec: number;
};

export const DEFAULT_CHECK_SETTINGS: CheckSettings = {
  intervalMs: 60_000,
  checkersPerContainer: 3,
  deadlineMs: 25_000,
  qualityAlpha: 0.3,
  rttCeilingMs: 200,
  failedVerdictsToDrain: 2,
  domain: { chainId: 31337, verifyingContract: '0x0000000000000000000000000000000000000000' },
  maxReportSkewSec: 300,
};

export type SignedCheckReport = {
  report: PeerMessageOf<'check-report'>['report'];
  signature: `0x${string}`;
};

export type RoundVerdict = {
  hostId: string;
  providerAddress: `0x${string}`;
  round: bigint;
  verdict: 'ok' | 'fail' | 'inconclusive';
  majority: `0x${string}`[];
  minority: `0x${string}`[];
  silent: `0x${string}`[];
  reports: SignedCheckReport[];
  qualityScore: number;
  drained: boolean;
  /** What the container was held to in this round: the probed game's manifest (absent: the host's games). */
  expected?: { game: string; width: number; height: number; fps: number };
};

type CheckerPeer = { peerId: string; address: `0x${string}` };

type Probe = { sessionId: string; hostId: string; checker: CheckerPeer; round: bigint; done: boolean };

type Round = {
  hostId: string;
  round: bigint;
  assigned: Map<`0x${string}`, Probe>;
  reports: Map<`0x${string}`, SignedCheckReport>;
  replaced: boolean;
  timer: NodeJS.Timeout;
};

export type CheckerDeskParameters = {
  settings: CheckSettings;
  hosts: HostStore;
  send: (peerId: string, message: ServerMessage) => void;
  isConnected: (peerId: string) => boolean;
  log: Logger;
  metrics: Metrics<SignalingMetricKey>;
  onVerdict: (verdict: RoundVerdict) => void;
  /** STUN/TURN servers for a probe session (TURN credentials issued for it); none when absent. */
  iceServersFor?: (sessionId: string) => IceServerRecord[];
};

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
  #closed = false;

  /** For the configured domain; made again if the settings' domain changes (a chain deployed after start). */
  #verifier: { key: string; verifier: CheckReportVerifier } | undefined;

  constructor(params: CheckerDeskParameters) {
    this.#p = params;
    this.#log = params.log.child({ mod: 'signaling/checkers' });
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
  }

  // ---- checkers ----------------------------------------------------------------------------------------

  async register(peerId: string, nonce: string, message: PeerMessageOf<'register-checker'>): Promise<`0x${string}`> {
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
    for (const checker of this.#checkers.values()) {
      if (checker.address === address && this.#p.isConnected(checker.peerId)) {
        throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'this checker is already connected' });
      }
    }
    const checker: CheckerPeer = { peerId, address };
    this.#checkers.set(peerId, checker);
    this.#log.info({ checker: address }, 'checker registered');
    // Containers that could not be checked for want of checkers get a round now.
    for (const host of this.#p.hosts.all()) if (!this.#rounds.has(host.hostId)) this.#scheduleRound(host.hostId, 0);
    this.#topUpRounds(checker);
    return address;
  }

  /**
   * Rounds that started short of checkers (one or two were connected, as right after start-up) take a
   * newcomer, so that they still end with 2N+1 votes rather than one checker's word.
   */
  #topUpRounds(checker: CheckerPeer): void {
    for (const round of this.#rounds.values()) {
      if (round.assigned.size >= this.#p.settings.checkersPerContainer || round.assigned.has(checker.address)) continue;
      const host = this.#p.hosts.get(round.hostId);
      if (host?.state !== 'up' || !host.peerId) continue;
      this.#assign(host, round, checker);
      this.#log.info({ hostId: round.hostId, round: String(round.round), checker: checker.address }, 'round topped up');
    }
  }

  checkerLeft(peerId: string): void {
    this.#checkers.delete(peerId);
  }

  // ---- containers --------------------------------------------------------------------------------------

  /** A host registered: its first round comes soon, then one every interval. */
  hostRegistered(hostId: string): void {
    this.#scheduleRound(hostId, 1_000);
  }

  hostGone(hostId: string): void {
    clearTimeout(this.#schedule.get(hostId));
    this.#schedule.delete(hostId);
  }

  #scheduleRound(hostId: string, delayMs: number): void {
    if (this.#closed) return;
    clearTimeout(this.#schedule.get(hostId));
    const timer = setTimeout(() => this.#startRound(hostId), delayMs);
    timer.unref();
    this.#schedule.set(hostId, timer);
  }

  #startRound(hostId: string): void {
    this.#schedule.delete(hostId);
    const host = this.#p.hosts.get(hostId);
    if (host?.state !== 'up' || !host.peerId) return;
    if (this.#rounds.has(hostId)) return;
    const available = [...this.#checkers.values()].filter((c) => this.#p.isConnected(c.peerId));
    if (available.length === 0) {
      this.#log.debug({ hostId }, 'no checker connected; the container waits for one');
      return;
    }
    const round = (this.#roundCounter.get(hostId) ?? 0n) + 1n;
    this.#roundCounter.set(hostId, round);
    const chosen = pickRandom(available, this.#p.settings.checkersPerContainer);
    const state: Round = {
      hostId,
      round,
      assigned: new Map(),
      reports: new Map(),
      replaced: false,
      timer: setTimeout(() => this.#onDeadline(hostId), this.#p.settings.deadlineMs),
    };
    state.timer.unref();
    this.#rounds.set(hostId, state);
    for (const checker of chosen) this.#assign(host, state, checker);
    this.#log.info({ hostId, round: String(round), checkers: chosen.map((c) => c.address) }, 'check round started');
  }

  #assign(host: HostRecord, round: Round, checker: CheckerPeer): void {
    const probe: Probe = {
      sessionId: `0x${randomBytes(32).toString('hex')}`,
      hostId: host.hostId,
      checker,
      round: round.round,
      done: false,
    };
    this.#probes.set(probe.sessionId, probe);
    round.assigned.set(checker.address, probe);
    const advertisedFps = Math.max(...[...host.games.values()].map((g) => g.fps), 1);
    const iceServers = this.#p.iceServersFor?.(probe.sessionId) ?? [];
    const ice = iceServers.length > 0 ? { iceServers } : {};
    this.#p.send(checker.peerId, {
      type: 'check-assignment',
      round: String(round.round),
      container: host.hostId,
      probeSessionId: probe.sessionId,
      advertisedFps,
      deadlineMs: this.#p.settings.deadlineMs,
      ...ice,
    });
    if (host.peerId) {
      this.#p.send(host.peerId, { type: 'start-probe', sessionId: probe.sessionId, codecs: ['H264'], ...ice });
    }
  }

  #onDeadline(hostId: string): void {
    const round = this.#rounds.get(hostId);
    if (!round) return;
    const silent = [...round.assigned.keys()].filter((address) => !round.reports.has(address));
    const host = this.#p.hosts.get(hostId);
    if (silent.length > 0 && !round.replaced && host?.peerId) {
      // Unanswered assignments go to checkers not yet in this round, once; then the round closes.
      round.replaced = true;
      const fresh = [...this.#checkers.values()].filter(
        (c) => this.#p.isConnected(c.peerId) && !round.assigned.has(c.address),
      );
      const replacements = pickRandom(fresh, silent.length);
      for (const address of silent) this.#stopProbe(round.assigned.get(address));
      for (const checker of replacements) this.#assign(host, round, checker);
      if (replacements.length > 0) {
        this.#log.info({ hostId, silent, replacements: replacements.map((c) => c.address) }, 'assignments reassigned');
        round.timer = setTimeout(() => this.#onDeadline(hostId), this.#p.settings.deadlineMs);
        round.timer.unref();
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
    this.#stopProbe(this.#ownProbe(peerId, sessionId));
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
    const host = this.#p.hosts.get(probe.hostId);
    if (host?.peerId) this.#p.send(host.peerId, { type: 'stop-probe', sessionId: probe.sessionId });
    // Keep the id a little longer so late ICE from either side is recognised, not refused.
    setTimeout(() => this.#probes.delete(probe.sessionId), 10_000).unref();
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
    const probe = round?.round === BigInt(report.round) ? round.assigned.get(checker.address) : undefined;
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
    const reports = [...round.reports.values()];
    const okVotes = reports.filter((r) => r.report.ok);
    const failVotes = reports.filter((r) => !r.report.ok);
    // A majority of the checkers the round ended up with, not just of those who answered.
    const needed = Math.floor(round.assigned.size / 2) + 1;
    const verdict: RoundVerdict['verdict'] =
      okVotes.length >= needed ? 'ok' : failVotes.length >= needed ? 'fail' : 'inconclusive';
    const winners = verdict === 'ok' ? okVotes : verdict === 'fail' ? failVotes : [];
    const losers = verdict === 'ok' ? failVotes : verdict === 'fail' ? okVotes : [];
    let drained = false;
    if (host && verdict !== 'inconclusive') {
      const quality = verdict === 'ok' ? this.#roundQuality(host, winners) : 0;
      const alpha = this.#p.settings.qualityAlpha;
      const failedVerdictsInARow = verdict === 'fail' ? host.failedVerdictsInARow + 1 : 0;
      this.#p.hosts.update(host.hostId, {
        qualityScore: alpha * quality + (1 - alpha) * host.qualityScore,
        failedVerdictsInARow,
      });
      if (failedVerdictsInARow >= this.#p.settings.failedVerdictsToDrain && !host.drained) {
        this.#p.hosts.update(host.hostId, { drained: true });
        drained = true;
        this.#log.warn({ hostId: host.hostId, round: String(round.round) }, 'container drained after failed verdicts');
      }
    }
    const result: RoundVerdict = {
      hostId: round.hostId,
      providerAddress: host?.providerAddress ?? '0x0000000000000000000000000000000000000000',
      round: round.round,
      verdict,
      majority: winners.map((r) => r.report.checker.toLowerCase() as `0x${string}`),
      minority: losers.map((r) => r.report.checker.toLowerCase() as `0x${string}`),
      silent: [...round.assigned.keys()].filter((address) => !round.reports.has(address)),
      reports,
      qualityScore: host?.qualityScore ?? 0,
      drained,
    };
    if (verdict !== 'inconclusive') this.#latest.set(round.hostId, result);
    this.#log.info(
      {
        hostId: round.hostId,
        round: String(round.round),
        verdict,
        minority: result.minority,
        quality: result.qualityScore,
      },
      'check round decided',
    );
    this.#p.onVerdict(result);
    if (host) this.#scheduleRound(host.hostId, this.#p.settings.intervalMs);
  }

  /** 0..1 from the majority's median fps against the advertised rate and median RTT against the ceiling. */
  #roundQuality(host: HostRecord, reports: SignedCheckReport[]): number {
    const advertisedFps = Math.max(...[...host.games.values()].map((g) => g.fps), 1);
    const fps = median(reports.map((r) => r.report.fpsMilli / 1000));
    const rttMs = median(reports.map((r) => r.report.rttMicros / 1000));
    return 0.5 * Math.min(1, fps / advertisedFps) + 0.5 * Math.max(0, 1 - rttMs / this.#p.settings.rttCeilingMs);
  }
}

function pickRandom<T>(items: readonly T[], count: number): T[] {
  const pool = [...items];
  const chosen: T[] = [];
  while (chosen.length < count && pool.length > 0) chosen.push(...pool.splice(randomInt(pool.length), 1));
  return chosen;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
