/**
 * The meter: every few seconds per paid, live session, the seconds of *verified* delivery × the host's price
 * become the session's cumulative charge, recorded in the ledger as a tick, signed as a cumulative `Usage`
 * voucher, and queued for settlement (the outbox).
 *
 * Delivery is integrated over time, not sampled at the tick: a moment counts as delivered while the render
 * host's and the player's latest reports both say at least the fps floor and are no older than
 * `reportFreshMs`, and the container's latest checker verdict is not a failure. Every report and verdict
 * closes the stretch before it under the old state, so a host that goes quiet, a stream under the floor or a
 * failed verdict stops the billing from that moment (a quiet host at most `reportFreshMs` later), and a good
 * report after a gap restarts it from that report — never backwards over the gap. Time before the first
 * reports of both sides is not billed.
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
 */
import type { Logger } from 'pino';
import type { Address, Hex } from 'viem';
import type { Metrics, SignalingMetricKey } from '../../metrics/index.js';
import { weiToAthSample } from '../../metrics/index.js';
import type { DeliveryReport, RoundVerdict, SessionRecord, SignalingHub } from '../../signaling/index.js';
import { isAthError, weiToString } from '../../signaling/protocol/index.js';
import {
  accountSummary,
  endSession,
  enqueueSettlement,
  getSession,
  type Ledger,
  recordUsageTick,
  recordVoucher,
} from '../ledger/index.js';
import type { VoucherSigner } from './signVoucher.js';

export type MeterSettings = {
  tickSec: number;
  /** Below this frame rate (either side) a second is not delivered. */
  fpsFloor: number;
  /** Reports older than this no longer vouch for delivery. */
  reportFreshMs: number;
};

export const DEFAULT_METER_SETTINGS: MeterSettings = { tickSec: 5, fpsFloor: 20, reportFreshMs: 12_000 };

/** The payer's escrow balance on chain (SessionEscrow `accounts(payer).balance`). */
export type EscrowReader = { balanceWei(payer: Address): Promise<bigint> };

export const METER_END_MESSAGES = {
  authorization: 'Your spending authorization for this session is used up.',
  escrow: 'Your ATH escrow is used up: deposit more to keep playing.',
  playToken: 'The spending cap for this session is used up.',
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
};

type Live = {
  sessionId: Hex;
  hostId: string;
  lastTickAtMs: number;
  /** Delivered milliseconds not billed yet (ticks bill whole seconds; the rest carries over). */
  deliveredMs: number;
  /** Delivery is integrated up to here. */
  cursorMs: number;
  /** The index the next cut tick gets (ticks are cut at once and recorded in order). */
  tickIndex: number;
  /** Cut, not yet recorded: what another instance re-runs if this one goes down meanwhile. */
  pendingTicks: Array<{ tickIndex: number; deliveredSec: number }>;
  /** When each side last reported at or above the floor; undefined after a report under it, or none yet. */
  hostGoodAtMs: number | undefined;
  playerGoodAtMs: number | undefined;
  verdictFailed: boolean;
  ticking: Promise<void>;
  ending: boolean;
};

export class Meter {
  readonly #p: MeterParameters;
  readonly #log: Logger;
  readonly #live = new Map<string, Live>();
  readonly #unsubscribe: Array<() => void> = [];
  readonly #timer: NodeJS.Timeout;
  readonly #now: () => number;
  readonly #stopping = new Set<Promise<void>>();
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
        if (live && !live.ending) this.#live.delete(session.id);
      }),
      params.hub.on('report', (report) => this.#onReport(report)),
      params.hub.on('verdict', (verdict) => this.#onVerdict(verdict)),
      params.hub.on('sessionEnded', (session) => void this.#stop(session)),
    );
    this.#timer = setInterval(() => this.#tickDue(), 1000);
    this.#timer.unref();
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
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    await this.idle();
  }

  #start(session: SessionRecord): void {
    if (!session.hostId || this.#live.has(session.id)) return;
    const now = this.#now();
    this.#live.set(session.id, {
      sessionId: session.id as Hex,
      hostId: session.hostId,
      lastTickAtMs: now,
      deliveredMs: 0,
      cursorMs: now,
      tickIndex: 0,
      pendingTicks: [],
      hostGoodAtMs: undefined,
      playerGoodAtMs: undefined,
      verdictFailed: this.#p.hub.checkers.latestVerdict(session.hostId)?.verdict === 'fail',
      ticking: Promise.resolve(),
      ending: false,
    });
    this.#save(session.id);
  }

  /** A paid session this instance took over from one that went down: metered on from where that one left it. */
  async #adopt(session: SessionRecord): Promise<void> {
    if (!session.hostId || !session.payerAddress || this.#live.has(session.id) || this.#closed) return;
    const [saved, ledgerSession] = await Promise.all([
      this.#p.hub.meterStates.load(session.id).catch(() => undefined),
      getSession(this.#p.ledger, session.id as Hex),
    ]);
    if (!ledgerSession || this.#live.has(session.id) || session.state === 'ended') return;
    const now = this.#now();
    const recorded = ledgerSession.lastTickIndex ?? -1;
    // Ticks the lost instance cut but did not record are recorded here (a tick the ledger has is not re-billed).
    const unrecorded = (saved?.pendingTicks ?? []).filter((tick) => tick.tickIndex > recorded);
    const live: Live = {
      sessionId: session.id as Hex,
      hostId: session.hostId,
      lastTickAtMs: saved?.lastTickAtMs ?? now,
      deliveredMs: saved?.deliveredMs ?? 0,
      cursorMs: saved?.cursorMs ?? now,
      tickIndex: Math.max(saved?.tickIndex ?? 0, recorded + 1),
      pendingTicks: [],
      hostGoodAtMs: saved?.hostGoodAtMs ?? undefined,
      playerGoodAtMs: saved?.playerGoodAtMs ?? undefined,
      verdictFailed: saved?.verdictFailed ?? false,
      ticking: Promise.resolve(),
      ending: false,
    };
    this.#live.set(session.id, live);
    for (const tick of unrecorded) this.#queueTick(live, tick);
    this.#log.info(
      { sessionId: session.id, nextTick: live.tickIndex, rerun: unrecorded.length, saved: saved !== undefined },
      'metering taken over',
    );
  }

  /** Keeps the session's running state where another instance can continue from it. */
  #save(sessionId: string): void {
    const live = this.#live.get(sessionId);
    if (!live) return;
    this.#p.hub.meterStates.save(sessionId, {
      tickIndex: live.tickIndex,
      pendingTicks: live.pendingTicks.map((tick) => ({ ...tick })),
      lastTickAtMs: live.lastTickAtMs,
      cursorMs: live.cursorMs,
      deliveredMs: live.deliveredMs,
      hostGoodAtMs: live.hostGoodAtMs ?? null,
      playerGoodAtMs: live.playerGoodAtMs ?? null,
      verdictFailed: live.verdictFailed,
    });
  }

  #onReport(report: DeliveryReport): void {
    const live = this.#live.get(report.sessionId);
    if (!live || live.ending) return;
    // Freshness is judged on the meter's own clock, from when the report arrived.
    const now = this.#now();
    this.#integrate(live, now);
    const good = report.fpsMilli >= this.#p.settings.fpsFloor * 1000 ? now : undefined;
    if (report.source === 'host') live.hostGoodAtMs = good;
    else live.playerGoodAtMs = good;
    this.#save(live.sessionId);
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

  /** Adds the delivered part of [cursor, now] under the state as it was, and moves the cursor to now. */
  #integrate(live: Live, now: number): void {
    if (now <= live.cursorMs) return;
    const { hostGoodAtMs, playerGoodAtMs } = live;
    if (!live.verdictFailed && hostGoodAtMs !== undefined && playerGoodAtMs !== undefined) {
      const fresh = this.#p.settings.reportFreshMs;
      const end = Math.min(now, hostGoodAtMs + fresh, playerGoodAtMs + fresh);
      if (end > live.cursorMs) live.deliveredMs += end - live.cursorMs;
    }
    live.cursorMs = now;
  }

  #tickDue(): void {
    const now = this.#now();
    for (const live of this.#live.values()) {
      if (!live.ending && now - live.lastTickAtMs >= this.#p.settings.tickSec * 1000) this.#enqueueTick(live, now);
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
    const tick = { tickIndex: live.tickIndex, deliveredSec };
    live.tickIndex += 1;
    live.pendingTicks.push(tick);
    this.#save(live.sessionId);
    return this.#queueTick(live, tick);
  }

  /** Ticks of one session run one after another (ledger ticks are ordered). */
  #queueTick(live: Live, tick: { tickIndex: number; deliveredSec: number }): Promise<void> {
    live.ticking = live.ticking
      .then(() => this.#tick(live, tick.tickIndex, tick.deliveredSec))
      .catch((error: unknown) => {
        this.#log.error({ err: error, sessionId: live.sessionId }, 'metering tick failed');
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

  async #tick(live: Live, tickIndex: number, delivered: number): Promise<void> {
    let deliveredSec = delivered;
    const { ledger } = this.#p;
    const before = await getSession(ledger, live.sessionId);
    if (!before) return;
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
      await recordUsageTick(ledger, { sessionId: live.sessionId, tickIndex, deliveredSec });
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
        cumulativeAmount: session.cumulativeWei,
        deliveredSeconds: BigInt(session.deliveredSec),
      };
      await recordVoucher(ledger, { usage, meterAddress: this.#p.meterAddress, signature: this.#p.signer.sign(usage) });
      await enqueueSettlement(ledger, { sessionId: live.sessionId });
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
    this.#live.delete(session.id);
    this.#p.hub.meterStates.delete(session.id);
    try {
      await endSession(this.#p.ledger, {
        sessionId: live.sessionId,
        reason: session.endReason ?? 'error',
        message: session.endMessage ?? '',
      });
    } catch (error) {
      this.#log.error({ err: error, sessionId: live.sessionId }, 'could not close the session in the ledger');
    }
  }
}
