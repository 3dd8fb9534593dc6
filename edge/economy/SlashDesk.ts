/**
 * Judges what the checkers found, Aethir's way, and writes it down: every decided round (its signed reports and
 * what it found, on the chain's clock) goes into the ledger; a confirmed failing round of a container that was
 * rendering — probes are sessions — is slashed with its evidence: down (nothing delivered) costs ⅓ of the stake
 * unit, far below its game's spec a whole unit (fraud); a merely degraded round moves the quality score only.
 * A checker whose reports passed containers that confirmed majorities failed, `lieThreshold` times in one epoch, is
 * barred from rewards for a month and, staked, slashed (a failing report outvoted by a passing majority is not
 * counted: a host can cause one at will by serving one probe badly; it is simply not paid). A host that goes offline while idle is recorded: no slash, no staking
 * rewards that epoch.
 *
 * Slashes are decided here and sent by the SlashSender (the slasher key, through the ledger's outbox). The
 * evidence is what the StakingRegistry verifies — staked checkers' signatures and the provider's own host
 * binding — so a decision this desk cannot back on chain is not recorded at all (logged instead). Once a
 * provider has a container slash pending, or a confirmed one it has not topped its stake up from, it is not
 * slashed again: it is out of matching until it tops up, and one slash per incident is the rule.
 */
import type { Logger } from 'pino';
import type { Address, Chain, Hex, PublicClient, Transport } from 'viem';
import type { HostRecord, RoundVerdict, SignalingHub } from '../../signaling/index.js';
import { type CheckReport, isAthError } from '../../signaling/protocol/index.js';
import { type ChainClock, epochOf, epochStartSec, stakingRegistryAbi, tierId } from '../chain/index.js';
import {
  type Contradiction,
  type Ledger,
  listContradictions,
  listSlashes,
  type RoundFinding,
  recordCheckReport,
  recordOperatorOffline,
  recordRoundVerdict,
  recordSlash,
  type StoredCheckReport,
} from '../ledger/index.js';
import {
  type CheckerEvidence,
  type ContainerEvidence,
  checkerEvidenceHash,
  containerEvidenceHash,
  parseSlashEvidence,
  type SignedReportJson,
  toWireReport,
} from './slashEvidence.js';

/** The report of a checker that never measured a frame: not live. */
const UNMEASURED_RTT_MICROS = 0xffffffff;
const CHECKER_TIER = tierId('checker');
const BPS = 10_000n;

export type SlashRules = {
  /** Decide slashes at all (reports and rounds are recorded either way). */
  enabled: boolean;
  /** A failing round whose majority saw less than this share of the game's frame rate is far below spec. */
  farBelowSpecRatio: number;
};

export const DEFAULT_SLASH_RULES: SlashRules = { enabled: true, farBelowSpecRatio: 0.5 };

export type SlashDeskParameters = {
  hub: SignalingHub;
  ledger: Ledger;
  publicClient: PublicClient<Transport, Chain>;
  stakingAddress: Address;
  clock: ChainClock;
  rules: SlashRules;
  log: Logger;
};

/** What a decided round found, from its majority's reports and the frame rate the container owed. */
export function findingOf(verdict: RoundVerdict, expectedFps: number, farBelowSpecRatio: number): RoundFinding {
  if (verdict.verdict === 'ok') return 'ok';
  const majority = verdict.reports.filter((r) => verdict.majority.includes(r.report.checker.toLowerCase() as Address));
  const fps = median(majority.map((r) => r.report.fpsMilli / 1000));
  const live = majority.filter((r) => r.report.fpsMilli > 0 && r.report.rttMicros !== UNMEASURED_RTT_MICROS);
  if (live.length * 2 <= majority.length) return 'down';
  return fps < expectedFps * farBelowSpecRatio ? 'far-below-spec' : 'below-spec';
}

export class SlashDesk {
  readonly #p: SlashDeskParameters;
  readonly #log: Logger;
  readonly #stops: Array<() => void> = [];
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(params: SlashDeskParameters) {
    this.#p = params;
    this.#log = params.log.child({ mod: 'economy/slashing' });
  }

  start(): void {
    this.#stops.push(this.#p.hub.on('verdict', (verdict) => void this.#enqueue(() => this.judge(verdict))));
    this.#stops.push(
      this.#p.hub.on(
        'hostDown',
        (event) => void this.#enqueue(() => this.#offline(event.host, event.why, event.rendering)),
      ),
    );
  }

  /** Resolves when everything queued so far is judged (tests, shutdown). */
  settled(): Promise<void> {
    return this.#queue;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const stop of this.#stops.splice(0)) stop();
    await this.#queue;
  }

  #enqueue(job: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(async () => {
      if (this.#closed) return;
      try {
        await job();
      } catch (error) {
        this.#log.error({ err: error }, 'judging a round failed');
      }
    });
    return this.#queue;
  }

  /** Records a decided round and decides what it costs. */
  async judge(verdict: RoundVerdict): Promise<void> {
    if (verdict.verdict === 'inconclusive') return;
    const host = this.#p.hub.hosts.get(verdict.hostId);
    const expectedFps = verdict.expected?.fps ?? Math.max(1, ...[...(host?.games.values() ?? [])].map((g) => g.fps));
    const finding = findingOf(verdict, expectedFps, this.#p.rules.farBelowSpecRatio);
    const decidedChainSec = await this.#p.clock.refresh().catch(() => this.#p.clock.nowSec());
    for (const { report, signature } of verdict.reports) {
      await recordCheckReport(this.#p.ledger, { report: toReport(report), signature }).catch((error: unknown) => {
        // A checker that signed two answers for one round: the first stays (and is itself evidence).
        if (!isAthError(error, 'ATH_ERR_LEDGER_CONFLICT')) throw error;
        this.#log.warn({ checker: report.checker, round: report.round }, 'a second, different report for a round');
      });
    }
    await recordRoundVerdict(this.#p.ledger, {
      container: verdict.hostId,
      round: verdict.round,
      ok: verdict.verdict === 'ok',
      providerAddress: verdict.providerAddress,
      finding,
      decidedChainSec,
      expected: { ...(verdict.expected ?? {}), fps: expectedFps },
    });
    if (!this.#p.rules.enabled) return;
    if (verdict.verdict === 'fail' && (finding === 'down' || finding === 'far-below-spec')) {
      await this.#slashContainer(verdict, host, finding, expectedFps);
    }
    for (const checker of verdict.minority) await this.#maybeSlashChecker(checker, decidedChainSec);
  }

  // ---- containers --------------------------------------------------------------------------------------------

  async #slashContainer(
    verdict: RoundVerdict,
    host: HostRecord | undefined,
    finding: 'down' | 'far-below-spec',
    expectedFps: number,
  ): Promise<void> {
    const operator = verdict.providerAddress.toLowerCase() as Address;
    const log = { hostId: verdict.hostId, round: String(verdict.round), finding, operator };
    if (!host?.registration) {
      this.#log.warn(log, 'no host binding for this container: its failing round cannot be slashed on chain');
      return;
    }
    if (await this.#halted(operator)) {
      this.#log.info(log, 'already slashed and not topped up: no second slash for the same incident');
      return;
    }
    // Only reports of probes that ran are evidence: a probe that never got a slot (a full container) measured
    // nothing, and "no offer came" from it is no downtime (CheckerDesk already leaves such reports out).
    const failing = verdict.reports.filter((r) => {
      const checker = r.report.checker.toLowerCase() as Address;
      return !r.report.ok && verdict.majority.includes(checker) && verdict.probed.includes(checker);
    });
    const reports = await this.#stakedEvidence(
      failing.map((r) => ({ report: toWireReport(toReport(r.report)), signature: r.signature })),
      operator,
    );
    const quorum = await this.#read<number>('slashQuorum');
    if (reports.length < quorum) {
      this.#log.warn(
        { ...log, stakedReports: reports.length, quorum },
        'too few staked checkers in the failing majority for on-chain evidence: not slashed',
      );
      return;
    }
    const kind = finding === 'down' ? 'downtime' : 'fraud';
    const bps = await this.#read<number>('slashBps', [kind === 'downtime' ? 0 : 1]);
    const unit = await this.#read<bigint>('stakeUnit', [operator]);
    const evidence: ContainerEvidence = {
      type: 'container',
      operator,
      container: verdict.hostId,
      round: verdict.round.toString(),
      kind,
      finding,
      expected: { fps: expectedFps },
      binding: { nonce: host.registration.nonce, signature: host.registration.signature },
      reports,
    };
    const { inserted } = await recordSlash(this.#p.ledger, {
      operatorAddress: operator,
      amountWei: (unit * BigInt(bps)) / BPS,
      evidenceHash: containerEvidenceHash(verdict.hostId, verdict.round),
      evidence,
      reason:
        kind === 'downtime'
          ? `down while rendering: round ${verdict.round} of ${verdict.hostId} delivered nothing`
          : `far below spec: round ${verdict.round} of ${verdict.hostId} under ${this.#p.rules.farBelowSpecRatio} × ${expectedFps} fps`,
      kind,
      container: verdict.hostId,
      round: verdict.round,
    });
    if (!inserted) return;
    this.#log.warn({ ...log, kind, reports: reports.length }, 'container slash decided');
    // Out of matching at once: its stake is about to fall below its tier's minimum, and it stays out until it tops
    // up (the stake gate's rule), whatever probation would say.
    for (const other of this.#p.hub.hosts.all()) {
      if (other.providerAddress.toLowerCase() === operator && !other.drained) {
        this.#p.hub.hosts.update(other.hostId, { drained: true });
      }
    }
  }

  /** A container slash on the way, or a confirmed one the provider has not topped its stake up from. */
  async #halted(operator: Address): Promise<boolean> {
    const slashes = await listSlashes(this.#p.ledger, { operatorAddress: operator, limit: 1000 });
    const containerSlashes = slashes.filter((s) => s.kind !== 'checker-lie' && s.state !== 'failed');
    if (containerSlashes.some((s) => s.state === 'pending' || s.state === 'sent')) return true;
    if (containerSlashes.length === 0) return false;
    const [stakeWei, , , tier] = await this.#read<readonly [bigint, bigint, bigint, Hex]>('operators', [operator]);
    return stakeWei < (await this.#read<bigint>('minStake', [tier]));
  }

  // ---- checkers ----------------------------------------------------------------------------------------------

  async #maybeSlashChecker(checker: Address, nowChainSec: bigint): Promise<void> {
    const threshold = await this.#read<number>('lieThreshold');
    const epochStart = epochStartSec(epochOf(nowChainSec));
    const contradictions = await listContradictions(this.#p.ledger, {
      checker,
      fromChainSec: epochStart,
      toChainSec: nowChainSec + 1n,
    });
    const used = await this.#usedLies(checker);
    // Only a pass against a failing majority counts as a lie. A failing report outvoted by a passing majority is
    // what a host makes at no cost by serving that one probe badly (it still passes the round): counting it would
    // let any host get the honest checkers that probe it barred and slashed. It earns nothing (not in a majority).
    const fresh = contradictions.filter((c) => c.told.ok && !used.has(`${c.told.container}#${c.told.round}`));
    // The contract counts lies by the epoch of the checker's own report timestamps.
    const byEpoch = new Map<bigint, Contradiction[]>();
    for (const lie of fresh) {
      const epoch = epochOf(lie.told.timestamp);
      byEpoch.set(epoch, [...(byEpoch.get(epoch) ?? []), lie]);
    }
    const quorum = await this.#read<number>('slashQuorum');
    for (const lies of byEpoch.values()) {
      const backed: CheckerEvidence['lies'] = [];
      for (const lie of lies) {
        const majority = await this.#stakedEvidence(lie.majority.map(storedToJson), checker);
        if (majority.length >= quorum) backed.push({ told: storedToJson(lie.told), majority });
      }
      if (backed.length < threshold) continue;
      const evidence: CheckerEvidence = { type: 'checker', checker, lies: backed };
      const unit = await this.#read<bigint>('stakeUnit', [checker]);
      const bps = await this.#read<number>('slashBps', [2]);
      const { inserted } = await recordSlash(this.#p.ledger, {
        operatorAddress: checker,
        amountWei: (unit * BigInt(bps)) / BPS,
        evidenceHash: checkerEvidenceHash(
          checker,
          backed.map((lie) => ({ container: lie.told.report.container, round: BigInt(lie.told.report.round) })),
        ),
        evidence,
        reason: `${backed.length} reports against confirmed majorities in one epoch`,
        kind: 'checker-lie',
      });
      if (inserted) this.#log.warn({ checker, lies: backed.length }, 'checker slash decided (barred for a month)');
    }
  }

  /** The (container, round) of every contradicted report a checker slash of this checker already used. */
  async #usedLies(checker: Address): Promise<Set<string>> {
    const used = new Set<string>();
    for (const slash of await listSlashes(this.#p.ledger, { operatorAddress: checker, kind: 'checker-lie' })) {
      if (slash.state === 'failed') continue;
      const evidence = parseSlashEvidence(slash.evidence);
      if (evidence.type !== 'checker') continue;
      for (const lie of evidence.lies) used.add(`${lie.told.report.container}#${lie.told.report.round}`);
    }
    return used;
  }

  // ---- evidence -----------------------------------------------------------------------------------------------

  /** The reports signed by checkers staked in the checker tier (never `excluded`), ascending by checker. */
  async #stakedEvidence(reports: SignedReportJson[], excluded: Address): Promise<SignedReportJson[]> {
    const minimum = await this.#read<bigint>('minStake', [CHECKER_TIER]);
    const kept: SignedReportJson[] = [];
    const seen = new Set<string>();
    for (const entry of reports) {
      const checker = entry.report.checker.toLowerCase();
      if (checker === excluded.toLowerCase() || seen.has(checker)) continue;
      seen.add(checker);
      const [stakeWei, , , tier] = await this.#read<readonly [bigint, bigint, bigint, Hex]>('operators', [checker]);
      if (tier.toLowerCase() === CHECKER_TIER.toLowerCase() && stakeWei > 0n && stakeWei >= minimum) kept.push(entry);
    }
    return kept.sort((a, b) => (a.report.checker.toLowerCase() < b.report.checker.toLowerCase() ? -1 : 1));
  }

  #read<T>(functionName: string, args: readonly unknown[] = []): Promise<T> {
    return this.#p.publicClient.readContract({
      address: this.#p.stakingAddress,
      abi: stakingRegistryAbi,
      functionName: functionName as 'slashQuorum',
      args: args as [],
    }) as Promise<T>;
  }

  // ---- offline ------------------------------------------------------------------------------------------------

  async #offline(host: HostRecord, why: string, rendering: boolean): Promise<void> {
    const atChainSec = await this.#p.clock.refresh().catch(() => this.#p.clock.nowSec());
    await recordOperatorOffline(this.#p.ledger, {
      providerAddress: host.providerAddress,
      hostId: host.hostId,
      epoch: epochOf(atChainSec),
      atChainSec,
      reason: `${rendering ? 'offline with sessions' : 'offline while idle'}: ${why}`.slice(0, 256),
    });
    this.#log.info({ hostId: host.hostId, why, rendering }, 'host offline recorded: no staking rewards this epoch');
  }
}

function toReport(wire: RoundVerdict['reports'][number]['report']): CheckReport {
  return {
    container: wire.container,
    checker: wire.checker as Address,
    round: BigInt(wire.round),
    rttMicros: wire.rttMicros,
    fpsMilli: wire.fpsMilli,
    lossPpm: wire.lossPpm,
    ok: wire.ok,
    timestamp: BigInt(wire.timestamp),
  };
}

function storedToJson(stored: StoredCheckReport): SignedReportJson {
  return {
    report: toWireReport({
      container: stored.container,
      checker: stored.checker,
      round: stored.round,
      rttMicros: stored.rttMicros,
      fpsMilli: stored.fpsMilli,
      lossPpm: stored.lossPpm,
      ok: stored.ok,
      timestamp: stored.timestamp,
    }),
    signature: stored.signature,
  };
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
