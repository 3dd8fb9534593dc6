/**
 * The meter: every few seconds per paid, live session, the seconds of *verified* delivery × the host's price
 * become the session's cumulative charge, recorded in the ledger as a tick, signed as a cumulative `Usage`
 * voucher, and queued for settlement (the outbox).
 *
 * Billing rests on evidence the payer cannot withhold (issue 12). Delivery is integrated over time, not
 * sampled at the tick; a moment counts as delivered when
 * - the render host's latest report says at least the fps floor and is no older than `reportFreshMs`,
 * - the container's latest checker verdict is not a failure, and no checker observing this very session
 *   (issue 14: `hub.reportCheckerObservation`) saw it under the floor within `checkerFreshMs`,
 * - the player does not dispute it — or a checker saw it delivered: a player report under the floor is a
 *   dispute; the disputed time is *held*, billed if a checker then sees the stream delivered and dropped if
 *   one sees it fail; the session is flagged to the checkers (`deliveryDisputed`), and a dispute no checker
 *   settles within `disputeEndMs` ends the session (the player's word can stop billing, never silently),
 * - the player is not silent: no player report and no input (the host's `inputIdleMs`) for `silentPauseMs`
 *   pauses the billing, and `silentEndMs` of silence ends the session (reason `afk`).
 * A player that stops reporting, or reports 0 fps, therefore cannot play for free. Every report and verdict
 * closes the stretch before it under the old state, so a host that goes quiet, a stream under the floor or a
 * failed verdict stops the billing from that moment (a quiet host at most `reportFreshMs` later), and a good
 * report after a gap restarts it from that report — never backwards over the gap. Time before the host's
 * first report is not billed.
 *
 * Limits: before each tick the meter knows what the session may still cost — the authorization's remaining cap
 * and, when an escrow reader is given, the payer's escrow balance on chain minus everything charged and not
 * yet settled. A tick is billed up to that; when the next full tick would not fit, the session ends with a
 * message saying which limit was reached.
 *
 * Several signaling instances (one Redis): each meters the sessions it runs. The running state of each session
 * is saved in the hub's store at every report and tick; when an instance goes down, the one that takes a
 * session over (`sessionAdopted`) meters it on from that state and the ledger's last tick — a tick index the
 * ledger already has is not billed again, and the time since the last saved report is billed if that report
 * still vouches for it.
 *
 * Fencing (issue 12): an instance cut off from Redis keeps its players, its host connections and the ledger, so
 * it meters on while another adopts its sessions. Every money-moving ledger write of the meter — usage tick,
 * voucher, settlement, the session's end — carries its claim on the session (`MeterClaim`: instance and epoch);
 * taking a session over (adoption, an orphan sweep) bumps the epoch first, so from then on the old claim's writes
 * are refused (ATH_ERR_LEDGER_FENCED) and the process that lost the session stops metering and serving it, telling
 * its player. The one that took it over bills from the end of the last tick the ledger recorded
 * (`meteredUntilMs`), not from an older saved state: no second is billed twice.
 */
import type { Logger } from 'pino';
import type { Address, Hex } from 'viem';
import type { Metrics, SignalingMetricKey } from '../../metrics/index.js';
import { weiToAthSample } from '../../metrics/index.js';
import type { DeliveryReport, RoundVerdict, SessionRecord, SignalingHub } from '../../signaling/index.js';
import { isAthError, weiToString } from '../../signaling/protocol/index.js';
import {
  accountSummary,
  acquireLease,
  claimSessionInstance,
  endSession,
  enqueueSettlement,
  getSession,
  type Ledger,
  latestVoucher,
  listInstanceSessions,
  listOrphanedSessions,
  listSettlements,
  type MeterClaim,
  meterClaimOf,
  payerDeliveredSecElsewhere,
  recordUsageTick,
  recordVoucher,
  releaseLease,
  type Session,
  sameMeterClaim,
  sessionAuthOf,
} from '../ledger/index.js';
import { HeldEvidence } from './HeldEvidence.js';
import type { VoucherSigner } from './signVoucher.js';

/** How long a session whose claim another instance took stays up here before it ends (see `#fenced`). */
const FENCED_END_GRACE_MS = 1_000;
/** Tries to claim an adopted session in the ledger (0.5 s, then 1 s apart) before giving it up. */
const ADOPT_CLAIM_ATTEMPTS = 3;

export type MeterSettings = {
  tickSec: number;
  /** Below this frame rate (host, or a checker's observation) a second is not delivered; a player under it disputes. */
  fpsFloor: number;
  /** Host and player reports older than this no longer count. */
  reportFreshMs: number;
  /** A checker's observation of a session counts this long. Default 60 s. */
  checkerFreshMs?: number;
  /** No player report and no input for this long pauses the billing. Default 20 s. */
  silentPauseMs?: number;
  /** No player report and no input for this long ends the session. Default 30 s. */
  silentEndMs?: number;
  /** A player's dispute that no checker settles ends the session after this long. Default 30 s. */
  disputeEndMs?: number;
  /**
   * A session ends this long before its authorization expires, so its last voucher is settled while the
   * escrow still honours it (the payment desk only accepts expiries that leave this margin). Default 900 s.
   */
  expiryMarginSec?: number;
};

export const DEFAULT_METER_SETTINGS: Required<MeterSettings> = {
  tickSec: 5,
  fpsFloor: 20,
  reportFreshMs: 12_000,
  expiryMarginSec: 900,
  checkerFreshMs: 60_000,
  silentPauseMs: 20_000,
  silentEndMs: 30_000,
  disputeEndMs: 30_000,
};

/** The payer's escrow balance on chain (SessionEscrow `accounts(payer).balance`). */
export type EscrowReader = { balanceWei(payer: Address): Promise<bigint> };

export const METER_END_MESSAGES = {
  authorization: 'Your spending authorization for this session is used up.',
  escrow: 'Your ATH escrow is used up: deposit more to keep playing.',
  playToken: 'The spending cap for this session is used up.',
  expiry:
    'Your spending authorization for this session expires soon (what you played must still be settled with it): press Play to go on with a new one.',
  disputed:
    'Your player reports no picture while the render host says it is streaming, and no checker has confirmed either: the session ended and the disputed time was not billed.',
  contradicted:
    'Your player counted far fewer frames than the render host says it sent: the session ended and the disputed time was not billed.',
  silent: 'The session ended: nothing was heard from your player (no reports, no input) for too long.',
  orphaned:
    'The signaling process that served this session stopped; the session was ended and what was played is settled.',
  refused:
    'The escrow refused this session’s charges for good (the payer’s authorization no longer holds): the session ended.',
  closedElsewhere:
    'This session was closed by another signaling process (what was played is settled): press Play to start again.',
  meteredElsewhere:
    'Another signaling server took this session over while this one was cut off from the network: it ended here (nothing was billed twice). Press Play to go on.',
} as const;

export type MeterParameters = {
  hub: SignalingHub;
  /** Checks the payer's escrow before each tick; without it only the authorization caps a session. */
  escrow?: EscrowReader;
  ledger: Ledger;
  signer: VoucherSigner;
  meterAddress: Address;
  settings: MeterSettings;
  log: Logger;
  metrics: Metrics<SignalingMetricKey>;
  now?: () => number;
  /**
   * This signaling process, unique among those sharing the ledger (the PaymentDesk records it on each session).
   * The meter holds the ledger lease `signaling:<instanceId>` while it runs; `closeOrphans` ends the live
   * sessions of processes that no longer hold theirs. Without it there are no orphan sweeps.
   */
  instanceId?: string;
  /** The instance lease's time (renewed every third of it). Default 30 s. */
  instanceLeaseTtlMs?: number;
};

type PendingTick = {
  tickIndex: number;
  deliveredSec: number;
  /** The meter's clock at the end of the tick's interval (the ledger keeps it as `meteredUntilMs`). */
  untilMs: number;
};

type Live = {
  sessionId: Hex;
  /**
   * The ledger claim this process meters the session under. A session it started learns it from the ledger at
   * its first tick (the payment desk recorded it); an adopted one took it over (`claimSessionInstance`).
   */
  claim: MeterClaim | undefined;
  /** Another process holds the session now: nothing more is written for it from here. */
  fenced: boolean;
  hostId: string;
  lastTickAtMs: number;
  /** Delivered milliseconds not billed yet (ticks bill whole seconds; the rest carries over). */
  deliveredMs: number;
  /** Delivery is integrated up to here. */
  cursorMs: number;
  /** The index the next cut tick gets (ticks are cut at once and recorded in order). */
  tickIndex: number;
  /** Cut, not yet recorded: what another instance re-runs if this one goes down meanwhile. */
  pendingTicks: PendingTick[];
  /** When the host last reported at or above the floor; undefined after a report under it, or none yet. */
  hostGoodAtMs: number | undefined;
  hostFpsMilli: number | undefined;
  /** When the player last reported under the floor (a dispute); undefined after a good report. */
  playerBadAtMs: number | undefined;
  /** The last sign of the player: a report of its own, or input the host saw (its report's idle time). */
  lastSignAtMs: number;
  /** A checker's latest observation of this session: when it saw the stream delivered, or failing. */
  checkerGoodAtMs: number | undefined;
  checkerBadAtMs: number | undefined;
  /** Disputed, not yet billed: billed when a checker sees the stream delivered, dropped when one sees it fail. */
  heldMs: number;
  /** The current dispute started (and was flagged) here; undefined when none. */
  disputeSinceMs: number | undefined;
  verdictFailed: boolean;
  /** The player's latest fps, as it said it (its word, when its decoder count says too little). */
  playerFpsMilli: number | undefined;
  /** The host's signed receipts and the player's decoder count over the disputed stretch (not saved to the store). */
  evidence: HeldEvidence;
  /** A checker saw the host fine while this session's own evidence contradicted the host: the dispute stands. */
  contradicted: boolean;
  ticking: Promise<void>;
  ending: boolean;
};

export class Meter {
  readonly #p: MeterParameters;
  readonly #log: Logger;
  readonly #live = new Map<string, Live>();
  readonly #unsubscribe: Array<() => void> = [];
  readonly #timer: NodeJS.Timeout;
  #leaseTimer: NodeJS.Timeout | undefined;
  readonly #now: () => number;
  readonly #stopping = new Set<Promise<void>>();
  readonly #fenceTimers = new Set<NodeJS.Timeout>();
  #closed = false;

  constructor(params: MeterParameters) {
    this.#p = params;
    this.#log = params.log.child({ mod: 'edge/metering/meter' });
    this.#now = params.now ?? Date.now;
    this.#unsubscribe.push(
      params.hub.on('sessionPaid', (session) => this.#start(session)),
      params.hub.on('sessionAdopted', (session) => void this.#adopt(session)),
      // Another signaling instance runs it now: it meters it from the state saved here (no ledger close here).
      params.hub.on('sessionMoved', (session) => {
        const live = this.#live.get(session.id);
        if (live && !live.ending) {
          // Its claim goes with it: a tick of ours still in flight is refused quietly, it ends nothing here.
          live.fenced = true;
          this.#live.delete(session.id);
        }
      }),
      params.hub.on('report', (report) => this.#onReport(report)),
      params.hub.on('verdict', (verdict) => this.#onVerdict(verdict)),
      params.hub.on('sessionEnded', (session) => void this.#stop(session)),
    );
    this.#timer = setInterval(() => this.#tickDue(), 1000);
    this.#timer.unref();
    if (params.instanceId !== undefined) {
      const ttlMs = params.instanceLeaseTtlMs ?? 30_000;
      void this.#holdInstanceLease();
      this.#leaseTimer = setInterval(() => void this.#holdInstanceLease(), Math.max(100, Math.floor(ttlMs / 3)));
      this.#leaseTimer.unref();
    }
  }

  async #holdInstanceLease(): Promise<void> {
    const instanceId = this.#p.instanceId;
    if (instanceId === undefined || this.#closed) return;
    await acquireLease(this.#p.ledger, {
      name: `signaling:${instanceId}`,
      holder: instanceId,
      ttlMs: this.#p.instanceLeaseTtlMs ?? 30_000,
    }).catch((error: unknown) => this.#log.warn({ err: error }, 'could not renew the signaling instance lease'));
  }

  /**
   * Ends the live sessions of signaling processes that are gone (see `instanceId`): what they metered is
   * billed — a last voucher is signed when their metered total has none yet — and each ends with its final
   * voucher queued, so the settler settles it and releases the rest of its reserve. This process's own
   * leftovers too: sessions it recorded but no longer runs (the ledger refused the write that ended one), which
   * would otherwise hold their cap against the payer for as long as the process lives. Call it at start-up and
   * from time to time (a process may die while others run). Returns how many were closed.
   */
  async closeOrphans(): Promise<number> {
    const instanceId = this.#p.instanceId;
    if (instanceId === undefined) return 0;
    await this.#holdInstanceLease();
    const { ledger } = this.#p;
    const candidates = [
      ...(await listOrphanedSessions(ledger, { instance: instanceId })).map((session) => ({ session, own: false })),
      ...(await listInstanceSessions(ledger, { instance: instanceId })).map((session) => ({ session, own: true })),
    ];
    let closed = 0;
    for (const { session, own } of candidates) {
      // Metered here (a closing one stays listed until the ledger has it ended), or still known to the signaling
      // cluster (being authorized here, or another instance will adopt it): not an orphan.
      if (this.#live.has(session.sessionId)) continue;
      const known = this.#p.hub.getSession(session.sessionId);
      if (known !== undefined && known.state !== 'ended') continue;
      try {
        // Taken over in the ledger first, only if still orphaned (its process may have come back, or another
        // sweeper got there first): from here the lost process's writes are refused, so the totals are final.
        const claimed = await claimSessionInstance(ledger, {
          sessionId: session.sessionId,
          signalingInstance: instanceId,
          from: session.signalingInstance,
          whenLeaseLapsed: !own,
        });
        if (claimed === undefined) continue;
        const claim = meterClaimOf(claimed);
        const voucher = await latestVoucher(ledger, session.sessionId);
        if (claimed.cumulativeWei > 0n && (voucher?.cumulativeWei ?? 0n) < claimed.cumulativeWei) {
          const usage = {
            sessionId: session.sessionId,
            authHash: this.#p.signer.authHash(sessionAuthOf(claimed)),
            cumulativeAmount: claimed.cumulativeWei,
            deliveredSeconds: BigInt(claimed.deliveredSec),
          };
          await recordVoucher(ledger, {
            usage,
            meterAddress: this.#p.meterAddress,
            signature: this.#p.signer.sign(usage),
            claim,
          });
        }
        await endSession(ledger, {
          sessionId: session.sessionId,
          reason: (own ? known?.endReason : undefined) ?? 'error',
          message: own
            ? (known?.endMessage ?? 'Ended here; closed in the ledger by a later sweep.').slice(0, 512)
            : METER_END_MESSAGES.orphaned,
          claim,
        });
        closed += 1;
        this.#log.warn(
          {
            sessionId: session.sessionId,
            instance: session.signalingInstance,
            chargedWei: String(session.cumulativeWei),
          },
          own
            ? 'a session this process ended but the ledger had not: closed now; its charges go to settlement'
            : 'orphaned session (its signaling process is gone) ended; its charges go to settlement',
        );
      } catch (error) {
        this.#log.error({ err: error, sessionId: session.sessionId }, 'could not close an orphaned session');
      }
    }
    return closed;
  }

  get liveSessions(): number {
    return this.#live.size;
  }

  /** Runs the ticks that are due now, and waits for every tick and session close in flight. */
  async tickNow(): Promise<void> {
    this.#tickDue();
    await this.idle();
  }

  /** Resolves when no tick and no session close is in flight. */
  async idle(): Promise<void> {
    const inFlight = () => [...[...this.#live.values()].map((live) => live.ticking), ...this.#stopping];
    for (;;) {
      const pending = inFlight();
      await Promise.all(pending);
      const after = inFlight();
      if (after.length === pending.length && after.every((promise, i) => promise === pending[i])) return;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    clearInterval(this.#leaseTimer);
    for (const timer of this.#fenceTimers) clearTimeout(timer);
    this.#fenceTimers.clear();
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    await this.idle();
    // A clean stop hands this process's live sessions to the next start at once (they are orphans now).
    const instanceId = this.#p.instanceId;
    if (instanceId !== undefined && !this.#p.ledger.closed) {
      await releaseLease(this.#p.ledger, { name: `signaling:${instanceId}`, holder: instanceId }).catch(
        () => undefined,
      );
    }
  }

  #start(session: SessionRecord): void {
    if (!session.hostId || this.#live.has(session.id)) return;
    const now = this.#now();
    this.#live.set(session.id, {
      sessionId: session.id as Hex,
      claim: undefined,
      fenced: false,
      hostId: session.hostId,
      lastTickAtMs: now,
      deliveredMs: 0,
      cursorMs: now,
      tickIndex: 0,
      pendingTicks: [],
      hostGoodAtMs: undefined,
      hostFpsMilli: undefined,
      playerBadAtMs: undefined,
      lastSignAtMs: now,
      checkerGoodAtMs: undefined,
      checkerBadAtMs: undefined,
      heldMs: 0,
      disputeSinceMs: undefined,
      verdictFailed: this.#p.hub.checkers.latestVerdict(session.hostId)?.verdict === 'fail',
      playerFpsMilli: undefined,
      evidence: new HeldEvidence(),
      contradicted: false,
      ticking: Promise.resolve(),
      ending: false,
    });
    this.#save(session.id);
  }

  /**
   * A paid session this instance took over from one that went down (or that is cut off from Redis and only looks
   * down): the metering is claimed in the ledger first — from then on the other's writes are refused — and goes on
   * from the later of the state it saved and the end of the last tick the ledger recorded.
   */
  async #adopt(session: SessionRecord): Promise<void> {
    if (!session.hostId || !session.payerAddress || this.#live.has(session.id) || this.#closed) return;
    const saved = await this.#p.hub.meterStates.load(session.id).catch(() => undefined);
    if (this.#live.has(session.id) || session.state === 'ended' || this.#closed) return;
    let claimed: Session | undefined;
    for (let attempt = 1; ; attempt += 1) {
      try {
        claimed = await claimSessionInstance(this.#p.ledger, {
          sessionId: session.id as Hex,
          signalingInstance: this.#p.instanceId ?? null,
        });
        break;
      } catch (error) {
        if (attempt < ADOPT_CLAIM_ATTEMPTS && !this.#closed) {
          this.#log.warn(
            { err: error, sessionId: session.id, attempt },
            'could not claim an adopted session: retrying',
          );
          await new Promise((resolve) => setTimeout(resolve, 500 * attempt).unref());
          continue;
        }
        // Unclaimed, it cannot be billed here: it ends (the process that ran it, if alive, still holds it).
        this.#log.error(
          { err: error, sessionId: session.id },
          'could not take the metering of an adopted session over',
        );
        if (!this.#closed) this.#p.hub.endSession(session.id, 'error', METER_END_MESSAGES.orphaned);
        return;
      }
    }
    if (claimed === undefined) {
      this.#log.warn({ sessionId: session.id }, 'an adopted session was already closed in the ledger');
      this.#p.hub.endSession(session.id, 'error', METER_END_MESSAGES.closedElsewhere);
      return;
    }
    if (this.#live.has(session.id) || this.#closed) return;
    const now = this.#now();
    const recorded = claimed.lastTickIndex ?? -1;
    // The ledger has a tick the saved state never cut: the lost instance metered on after its last save (cut off
    // from Redis, not from the ledger). Or the state was saved under an older claim than the one taken over here
    // (the claim just taken is one above it): a cut-off instance's late save, over its successor's. Either way that
    // state is behind: billing goes on from the ledger's last tick, and none of its cut ticks is re-run.
    const staleClaim = saved?.claimEpoch !== undefined && BigInt(saved.claimEpoch) < claimed.meterEpoch - 1n;
    const behind = saved === undefined || recorded >= saved.tickIndex || staleClaim;
    const cursorMs = Math.max(saved?.cursorMs ?? now, claimed.meteredUntilMs ?? Number.NEGATIVE_INFINITY);
    // Ticks the lost instance cut but did not record are recorded here (a tick the ledger has is not re-billed).
    const unrecorded = behind ? [] : (saved?.pendingTicks ?? []).filter((tick) => tick.tickIndex > recorded);
    const live: Live = {
      sessionId: session.id as Hex,
      claim: meterClaimOf(claimed),
      fenced: false,
      hostId: session.hostId,
      lastTickAtMs: behind ? cursorMs : (saved?.lastTickAtMs ?? now),
      deliveredMs: behind ? 0 : (saved?.deliveredMs ?? 0),
      cursorMs,
      tickIndex: Math.max(saved?.tickIndex ?? 0, recorded + 1),
      pendingTicks: [],
      hostGoodAtMs: saved?.hostGoodAtMs ?? undefined,
      hostFpsMilli: saved?.hostFpsMilli ?? undefined,
      playerBadAtMs: saved?.playerBadAtMs ?? undefined,
      lastSignAtMs: saved?.lastSignAtMs ?? now,
      checkerGoodAtMs: saved?.checkerGoodAtMs ?? undefined,
      checkerBadAtMs: saved?.checkerBadAtMs ?? undefined,
      heldMs: behind ? 0 : (saved?.heldMs ?? 0),
      disputeSinceMs: saved?.disputeSinceMs ?? undefined,
      verdictFailed: saved?.verdictFailed ?? false,
      playerFpsMilli: undefined,
      evidence: new HeldEvidence(),
      contradicted: false,
      ticking: Promise.resolve(),
      ending: false,
    };
    this.#live.set(session.id, live);
    for (const tick of unrecorded) this.#queueTick(live, { ...tick, untilMs: saved?.lastTickAtMs ?? cursorMs });
    this.#log.info(
      {
        sessionId: session.id,
        nextTick: live.tickIndex,
        rerun: unrecorded.length,
        saved: saved !== undefined,
        behind,
        staleClaim,
        epoch: String(live.claim?.epoch),
      },
      'metering taken over',
    );
  }

  /**
   * Another process meters this session now (the ledger refused a write under this one's claim): nothing more is
   * billed or closed from here, and the session stops here — its player is told (it may go on through the
   * instance that holds the session). What was billed under this claim stays billed; nothing is billed twice.
   */
  #fenced(live: Live, reason: unknown): void {
    if (live.fenced) return;
    live.fenced = true;
    if (this.#live.get(live.sessionId) === live) this.#live.delete(live.sessionId);
    this.#log.warn(
      { sessionId: live.sessionId, claim: live.claim && `${live.claim.instance}@${live.claim.epoch}`, reason },
      'another signaling process took this session’s metering over: stopped metering and serving it here',
    );
    if (live.ending) return;
    live.ending = true;
    // A player that moved its session to another instance takes the claim with it (that instance adopts the
    // session, this one hears `sessionMoved`), and the claim may reach the ledger before the move reaches this
    // hub: the session is acted on here only if, a moment later, this instance still runs it.
    const timer = setTimeout(() => {
      this.#fenceTimers.delete(timer);
      const session = this.#p.hub.getSession(live.sessionId);
      if (!session || session.state === 'ended' || session.owner !== this.#p.hub.instanceId) return;
      const ending = this.#leaveFenced(live.sessionId);
      this.#stopping.add(ending);
      void ending.finally(() => this.#stopping.delete(ending));
    }, FENCED_END_GRACE_MS);
    timer.unref();
    this.#fenceTimers.add(timer);
  }

  /**
   * A fenced session this hub still thinks it runs: when the ledger names another live instance (it adopted the
   * session while this one was cut off from Redis), the session is left to it — not ended: the host streams on, the
   * slot stays leased, the player is sent to reconnect there (`SignalingHub.handOver`). When the ledger has it
   * ended (an orphan sweep closed it) or names nobody, it ends here and the player is told.
   */
  async #leaveFenced(sessionId: string): Promise<void> {
    const row = await getSession(this.#p.ledger, sessionId).catch((error: unknown) => {
      this.#log.warn({ err: error, sessionId }, 'could not read the fenced session');
      return undefined;
    });
    if (this.#closed) return;
    const holder = row?.state !== 'ended' ? row?.signalingInstance : null;
    const self = this.#p.instanceId ?? this.#p.hub.instanceId;
    if (holder && holder !== self) {
      this.#p.hub.handOver(sessionId, holder, METER_END_MESSAGES.meteredElsewhere);
      return;
    }
    this.#p.hub.endSession(
      sessionId,
      'error',
      row?.state === 'ended' ? METER_END_MESSAGES.closedElsewhere : METER_END_MESSAGES.meteredElsewhere,
    );
  }

  /**
   * The claim to write under, checked against the session as just read (the ledger checks it again in each write):
   * undefined when another process holds the session now.
   */
  #claimFor(live: Live, session: Session): MeterClaim | undefined {
    const current = meterClaimOf(session);
    if (live.claim === undefined) {
      // A session started here: the payment desk recorded this process (or none) on it.
      const mine = this.#p.instanceId;
      if (mine !== undefined && current.instance !== null && current.instance !== mine) return undefined;
      live.claim = current;
      return current;
    }
    return sameMeterClaim(current, live.claim) ? live.claim : undefined;
  }

  /** Keeps the session's running state where another instance can continue from it. */
  #save(sessionId: string): void {
    const live = this.#live.get(sessionId);
    if (!live) return;
    this.#p.hub.meterStates.save(sessionId, {
      tickIndex: live.tickIndex,
      pendingTicks: live.pendingTicks.map(({ tickIndex, deliveredSec }) => ({ tickIndex, deliveredSec })),
      lastTickAtMs: live.lastTickAtMs,
      cursorMs: live.cursorMs,
      deliveredMs: live.deliveredMs,
      hostGoodAtMs: live.hostGoodAtMs ?? null,
      hostFpsMilli: live.hostFpsMilli ?? null,
      playerBadAtMs: live.playerBadAtMs ?? null,
      lastSignAtMs: live.lastSignAtMs,
      checkerGoodAtMs: live.checkerGoodAtMs ?? null,
      checkerBadAtMs: live.checkerBadAtMs ?? null,
      heldMs: live.heldMs,
      disputeSinceMs: live.disputeSinceMs ?? null,
      verdictFailed: live.verdictFailed,
      ...(live.claim === undefined ? {} : { claimEpoch: live.claim.epoch.toString() }),
    });
  }

  #setting<K extends keyof MeterSettings>(key: K): Required<MeterSettings>[K] {
    return (this.#p.settings[key] ?? DEFAULT_METER_SETTINGS[key]) as Required<MeterSettings>[K];
  }

  #onReport(report: DeliveryReport): void {
    const live = this.#live.get(report.sessionId);
    if (!live || live.ending) return;
    // Freshness is judged on the meter's own clock, from when the report arrived.
    const now = this.#now();
    this.#integrate(live, now);
    this.#applyReport(live, report, now);
    this.#save(live.sessionId);
  }

  #applyReport(live: Live, report: DeliveryReport, now: number): void {
    const good = report.fpsMilli >= this.#p.settings.fpsFloor * 1000;
    const disputing = live.disputeSinceMs !== undefined;
    if (report.source === 'host') {
      live.hostGoodAtMs = good ? now : undefined;
      live.hostFpsMilli = report.fpsMilli;
      if (report.inputIdleMs !== undefined) live.lastSignAtMs = Math.max(live.lastSignAtMs, now - report.inputIdleMs);
      if (report.receipt) live.evidence.onReceipt(report.receipt, live.sessionId, disputing);
      return;
    }
    if (report.source === 'checker') {
      if (good) this.#checkerSawHostDeliver(live, report, now);
      else {
        live.checkerBadAtMs = now;
        live.checkerGoodAtMs = undefined;
        live.heldMs = 0;
        live.evidence.reset();
      }
      return;
    }
    live.lastSignAtMs = now;
    live.playerFpsMilli = report.fpsMilli;
    if (report.framesDecoded !== undefined) live.evidence.onDecoded(report.framesDecoded, now, disputing);
    if (good) {
      live.playerBadAtMs = undefined;
      live.disputeSinceMs = undefined;
      live.contradicted = false;
      return;
    }
    live.playerBadAtMs = now;
    if (live.disputeSinceMs === undefined) {
      live.disputeSinceMs = now;
      this.#log.warn(
        { sessionId: live.sessionId, hostId: live.hostId, playerFpsMilli: report.fpsMilli },
        'the player disputes delivery: billing held until a checker sees the stream',
      );
      this.#p.hub.disputeDelivery({
        sessionId: live.sessionId,
        hostId: live.hostId,
        hostFpsMilli: live.hostFpsMilli,
        playerFpsMilli: report.fpsMilli,
        atMs: now,
      });
    }
  }

  /**
   * A checker saw the session's host deliver (its probe, beside the session). That is evidence about the host, not
   * about this session (hostile review, finding 3), so a disputed stretch is billed on it only when the session's
   * own evidence agrees: the player's decoder counted at least the floor over the stretch (its fps report was
   * wrong, or it lies). When its decoder counted less while the host claimed more — in receipts it signed — the
   * host served its probes and this session differently, or the player lies about its own counter: the held time
   * is dropped, the dispute stands (it ends the session after `disputeEndMs`, as one no checker settled), and the
   * signed receipts go to the hub as evidence against the host (`deliveryContradicted`): providers whose sessions
   * are contradicted by several players are drained (CheckerDesk `contradictedPlayersToDrain`).
   */
  #checkerSawHostDeliver(live: Live, report: DeliveryReport, now: number): void {
    const floorMilli = this.#p.settings.fpsFloor * 1000;
    if (live.disputeSinceMs === undefined && live.heldMs === 0) {
      live.checkerGoodAtMs = now;
      live.checkerBadAtMs = undefined;
      return;
    }
    const decodedFpsMilli = live.evidence.decodedFpsMilli();
    const playerFpsMilli = decodedFpsMilli ?? live.playerFpsMilli ?? 0;
    if (playerFpsMilli >= floorMilli) {
      // The stream was seen delivered, and the player's own decoder counted it: what it disputed is billed.
      live.checkerGoodAtMs = now;
      live.checkerBadAtMs = undefined;
      live.deliveredMs += live.heldMs;
      live.disputeSinceMs = undefined;
      live.heldMs = 0;
      live.contradicted = false;
      live.evidence.reset();
      return;
    }
    const claimed = live.evidence.claimed();
    const heldMs = live.heldMs;
    live.heldMs = 0;
    live.evidence.reset();
    if (live.contradicted) return;
    live.contradicted = true;
    this.#log.warn(
      {
        sessionId: live.sessionId,
        hostId: live.hostId,
        heldMs,
        claimedFpsMilli: claimed?.fpsMilli,
        decodedFpsMilli,
        checkerFpsMilli: report.fpsMilli,
      },
      'the host passes its probes but this session’s player counted less than the host claims: held time dropped',
    );
    const contradiction = {
      sessionId: live.sessionId,
      hostId: live.hostId,
      receipts: claimed?.receipts ?? [],
      claimedFpsMilli: claimed?.fpsMilli,
      decodedFpsMilli,
      playerFpsMilli,
      checkerAddress: report.checkerAddress,
      checkerFpsMilli: report.fpsMilli,
      droppedMs: heldMs,
      atMs: now,
    };
    // With the payer's record elsewhere: the checker desk weighs its word by it (a wallet made for this has none).
    const reporting = this.#payerRecord(live.sessionId).then((payerDeliveredSecElsewhere) =>
      this.#p.hub.contradictDelivery({ ...contradiction, payerDeliveredSecElsewhere }),
    );
    this.#stopping.add(reporting);
    void reporting.finally(() => this.#stopping.delete(reporting));
  }

  /** Seconds the session's payer was billed for with other providers (undefined: the ledger did not answer). */
  async #payerRecord(sessionId: Hex): Promise<number | undefined> {
    try {
      const session = await getSession(this.#p.ledger, sessionId);
      if (!session) return undefined;
      return await payerDeliveredSecElsewhere(this.#p.ledger, {
        payerAddress: session.payerAddress,
        exceptProviderAddress: session.providerAddress,
      });
    } catch (error) {
      this.#log.warn({ err: error, sessionId }, 'could not read the payer’s record for a contradicted session');
      return undefined;
    }
  }

  #onVerdict(verdict: RoundVerdict): void {
    const now = this.#now();
    for (const live of this.#live.values()) {
      if (live.hostId !== verdict.hostId || live.ending) continue;
      this.#integrate(live, now);
      live.verdictFailed = verdict.verdict === 'fail';
      this.#save(live.sessionId);
    }
  }

  /**
   * Adds the delivered (and the held) part of [cursor, now] under the state as it was, and moves the cursor to
   * now. The state's conditions expire with time (freshness, silence), so the stretch is cut where one does.
   */
  #integrate(live: Live, now: number): void {
    if (now <= live.cursorMs) return;
    const fresh = this.#p.settings.reportFreshMs;
    const checkerFresh = this.#setting('checkerFreshMs');
    const pauseAt = live.lastSignAtMs + this.#setting('silentPauseMs');
    const cuts = [live.cursorMs, now];
    for (const at of [
      live.hostGoodAtMs === undefined ? undefined : live.hostGoodAtMs + fresh,
      live.playerBadAtMs === undefined ? undefined : live.playerBadAtMs + fresh,
      live.checkerGoodAtMs === undefined ? undefined : live.checkerGoodAtMs + checkerFresh,
      live.checkerBadAtMs === undefined ? undefined : live.checkerBadAtMs + checkerFresh,
      pauseAt,
    ]) {
      if (at !== undefined && at > live.cursorMs && at < now) cuts.push(at);
    }
    cuts.sort((x, y) => x - y);
    for (let i = 1; i < cuts.length; i += 1) {
      const from = cuts[i - 1] as number;
      const to = cuts[i] as number;
      if (to <= from) continue;
      const t = from; // conditions hold on [from, to): judge at its start
      const within = (since: number | undefined, forMs: number) => since !== undefined && t < since + forMs;
      const billable =
        within(live.hostGoodAtMs, fresh) &&
        !live.verdictFailed &&
        !within(live.checkerBadAtMs, checkerFresh) &&
        t < pauseAt;
      if (!billable) continue;
      if (!within(live.playerBadAtMs, fresh) || within(live.checkerGoodAtMs, checkerFresh))
        live.deliveredMs += to - from;
      else live.heldMs += to - from;
    }
    live.cursorMs = now;
  }

  /** Ends sessions whose player went silent, or whose dispute no checker settled in time. */
  #enforce(live: Live, now: number): boolean {
    if (now - live.lastSignAtMs >= this.#setting('silentEndMs')) {
      this.#log.info({ sessionId: live.sessionId, silentMs: now - live.lastSignAtMs }, 'silent player: session ended');
      this.#p.hub.endSession(live.sessionId, 'afk', METER_END_MESSAGES.silent);
      return true;
    }
    const fresh = this.#p.settings.reportFreshMs;
    const checkerGoodUntil =
      live.checkerGoodAtMs === undefined
        ? Number.NEGATIVE_INFINITY
        : live.checkerGoodAtMs + this.#setting('checkerFreshMs');
    const disputing = live.playerBadAtMs !== undefined && now < live.playerBadAtMs + fresh && now >= checkerGoodUntil;
    if (disputing && live.disputeSinceMs !== undefined) {
      const since = Math.max(live.disputeSinceMs, checkerGoodUntil);
      if (now - since >= this.#setting('disputeEndMs')) {
        this.#log.warn(
          { sessionId: live.sessionId, hostId: live.hostId, heldMs: live.heldMs },
          'a dispute no checker settled: session ended, the disputed time not billed',
        );
        this.#p.hub.endSession(
          live.sessionId,
          'error',
          live.contradicted ? METER_END_MESSAGES.contradicted : METER_END_MESSAGES.disputed,
        );
        return true;
      }
    }
    return false;
  }

  #tickDue(): void {
    const now = this.#now();
    for (const live of [...this.#live.values()]) {
      if (live.ending) continue;
      this.#integrate(live, now);
      if (this.#enforce(live, now)) continue;
      if (now - live.lastTickAtMs >= this.#p.settings.tickSec * 1000) this.#enqueueTick(live, now);
    }
  }

  /**
   * Closes the interval up to `now` at once (so the 1 s timer never enqueues the same interval twice while a
   * slow tick is still writing) and queues its whole delivered seconds for the ledger.
   */
  #enqueueTick(live: Live, now: number): Promise<void> {
    this.#integrate(live, now);
    live.lastTickAtMs = now;
    const deliveredSec = Math.floor(live.deliveredMs / 1000);
    live.deliveredMs -= deliveredSec * 1000;
    const tick = { tickIndex: live.tickIndex, deliveredSec, untilMs: now };
    live.tickIndex += 1;
    live.pendingTicks.push(tick);
    this.#save(live.sessionId);
    return this.#queueTick(live, tick);
  }

  /** Ticks of one session run one after another (ledger ticks are ordered). */
  #queueTick(live: Live, tick: PendingTick): Promise<void> {
    live.ticking = live.ticking
      .then(() => this.#tick(live, tick))
      .catch((error: unknown) => {
        if (isAthError(error) && error.code === 'ATH_ERR_LEDGER_FENCED') this.#fenced(live, error.message);
        else this.#log.error({ err: error, sessionId: live.sessionId }, 'metering tick failed');
      })
      .finally(() => {
        const at = live.pendingTicks.indexOf(tick);
        if (at >= 0) live.pendingTicks.splice(at, 1);
        if (this.#live.get(live.sessionId) === live) this.#save(live.sessionId);
      });
    return live.ticking;
  }

  /** What the payer's escrow can still pay: its balance on chain minus everything charged and not settled. */
  async #escrowRoomWei(payer: Address): Promise<bigint | undefined> {
    const escrow = this.#p.escrow;
    if (!escrow) return undefined;
    try {
      const [balanceWei, summary] = await Promise.all([
        escrow.balanceWei(payer),
        accountSummary(this.#p.ledger, payer),
      ]);
      return balanceWei - (summary?.unsettledWei ?? 0n);
    } catch (error) {
      // An unreadable chain is not the player's fault: bill against the authorization alone this time.
      this.#log.warn({ err: error, payer }, 'could not read the escrow balance');
      return undefined;
    }
  }

  /**
   * The ledger says this session can no longer be billed — another process closed it (its orphan sweep, when
   * this one stalled past its instance lease), or the escrow refused one of its charges for good (whichever
   * process's settler met the refusal) — so it must not play on here unpaid: the hub ends it. Nothing more is
   * billed for it.
   */
  async #unbillable(live: Live, session: Session): Promise<boolean> {
    if (session.state === 'ended') {
      if (!live.ending) {
        this.#log.warn({ sessionId: live.sessionId }, 'the session was closed in the ledger by another process');
        this.#p.hub.endSession(live.sessionId, 'error', METER_END_MESSAGES.closedElsewhere);
      }
      return true;
    }
    const [refused] = await listSettlements(this.#p.ledger, { sessionId: live.sessionId, state: 'failed', limit: 1 });
    if (refused === undefined) return false;
    if (!live.ending) {
      this.#log.warn(
        { sessionId: live.sessionId, error: refused.lastError },
        'the escrow refused a charge of this session for good: session ended',
      );
      this.#p.hub.endSession(live.sessionId, 'insufficient-funds', METER_END_MESSAGES.refused);
    }
    return true;
  }

  async #tick(live: Live, { tickIndex, deliveredSec: delivered, untilMs }: PendingTick): Promise<void> {
    let deliveredSec = delivered;
    const { ledger } = this.#p;
    if (live.fenced) return;
    const before = await getSession(ledger, live.sessionId);
    if (!before || (await this.#unbillable(live, before))) return;
    const claim = this.#claimFor(live, before);
    if (claim === undefined) {
      this.#fenced(live, `held by ${before.signalingInstance ?? '-'}@${before.meterEpoch}`);
      return;
    }
    const price = before.priceWeiPerSec;
    const authRoom = before.authMaxWei - before.cumulativeWei;
    const escrowRoom = await this.#escrowRoomWei(before.payerAddress);
    const room = escrowRoom !== undefined && escrowRoom < authRoom ? escrowRoom : authRoom;
    const limit: keyof typeof METER_END_MESSAGES = room === authRoom ? 'authorization' : 'escrow';
    let capped = false;
    if (BigInt(deliveredSec) * price > room) {
      deliveredSec = room > 0n ? Number(room / price) : 0;
      capped = true;
    }
    try {
      await recordUsageTick(ledger, {
        sessionId: live.sessionId,
        tickIndex,
        deliveredSec,
        claim,
        meteredUntilMs: untilMs,
      });
    } catch (error) {
      if (isAthError(error) && ['ATH_ERR_LEDGER_OVER_CAP', 'ATH_ERR_LEDGER_CAP_EXHAUSTED'].includes(error.code)) {
        this.#p.hub.endSession(live.sessionId, 'insufficient-funds', METER_END_MESSAGES.playToken);
        return;
      }
      throw error;
    }
    const session = await getSession(ledger, live.sessionId);
    if (!session) return;
    const chargedWei = BigInt(deliveredSec) * price;
    if (deliveredSec > 0) {
      const usage = {
        sessionId: live.sessionId,
        // The voucher pays this session's authorization only (the escrow checks the digest it names).
        authHash: this.#p.signer.authHash(sessionAuthOf(session)),
        cumulativeAmount: session.cumulativeWei,
        deliveredSeconds: BigInt(session.deliveredSec),
      };
      await recordVoucher(ledger, {
        usage,
        meterAddress: this.#p.meterAddress,
        signature: this.#p.signer.sign(usage),
        claim,
      });
      await enqueueSettlement(ledger, { sessionId: live.sessionId, claim });
      this.#p.metrics.metric.athCharged.inc(weiToAthSample(chargedWei));
    }
    this.#p.hub.notifyPlayer(live.sessionId, {
      type: 'charge',
      sessionId: live.sessionId,
      cumulativeWei: weiToString(session.cumulativeWei),
      deliveredSec: session.deliveredSec,
      maxAmountWei: weiToString(session.authMaxWei),
    });
    if (live.ending) return;
    // End before the authorization expires: its last voucher must reach the chain while it is honoured.
    const marginSec = this.#p.settings.expiryMarginSec ?? 900;
    const nowSec = Math.floor(this.#now() / 1000);
    if (nowSec + this.#p.settings.tickSec + marginSec >= Number(session.authExpirySec)) {
      this.#log.info(
        { sessionId: live.sessionId, expirySec: String(session.authExpirySec) },
        'session ended before its authorization expires',
      );
      this.#p.hub.endSession(live.sessionId, 'insufficient-funds', METER_END_MESSAGES.expiry);
      return;
    }
    // End before the next tick would not fit: no second is delivered that cannot be paid.
    const nextTickWei = price * BigInt(this.#p.settings.tickSec);
    const roomAfter = room - chargedWei;
    if (capped || roomAfter < nextTickWei) {
      this.#log.info({ sessionId: live.sessionId, limit, roomWei: String(roomAfter) }, 'session limit reached');
      this.#p.hub.endSession(live.sessionId, 'insufficient-funds', METER_END_MESSAGES[limit]);
    }
  }

  /** The session ended: bill its last partial interval, then close it in the ledger. */
  async #stop(session: SessionRecord): Promise<void> {
    const live = this.#live.get(session.id);
    if (!live || live.ending) return;
    live.ending = true;
    const stopping = this.#close(live, session);
    this.#stopping.add(stopping);
    await stopping;
    this.#stopping.delete(stopping);
  }

  async #close(live: Live, session: SessionRecord): Promise<void> {
    await this.#enqueueTick(live, this.#now());
    if (live.fenced) return; // another process holds it: its state and its ledger row are not this one's to close
    try {
      await endSession(this.#p.ledger, {
        sessionId: live.sessionId,
        reason: session.endReason ?? 'error',
        message: session.endMessage ?? '',
        ...(live.claim === undefined ? {} : { claim: live.claim }),
      });
    } catch (error) {
      if (isAthError(error) && error.code === 'ATH_ERR_LEDGER_FENCED') this.#fenced(live, error.message);
      // Left live in the ledger: this process's next orphan sweep closes it (closeOrphans).
      else this.#log.error({ err: error, sessionId: live.sessionId }, 'could not close the session in the ledger');
    } finally {
      // The saved state is the holder's: not ours to drop once another process took the session over.
      if (!live.fenced) this.#p.hub.meterStates.delete(session.id);
      // Only now: until the ledger has it ended, the orphan sweep must see it as metered here.
      if (this.#live.get(session.id) === live) this.#live.delete(session.id);
    }
  }
}
