/**
 * The meter: every few seconds per paid, live session, the seconds of *verified* delivery × the host's price
 * become the session's cumulative charge, recorded in the ledger as a tick, signed as a cumulative `Usage`
 * voucher, and queued for settlement (the outbox). A second counts as delivered when both the render host
 * and the player reported the stream alive at no less than the fps floor recently, and the container's
 * latest checker verdict is not a failure. Undelivered seconds are not billed. When the next tick would pass
 * the session's authorization, what is left is billed and the session ends with a clear message.
 */
import type { Logger } from 'pino';
import type { Address, Hex } from 'viem';
import type { Metrics, SignalingMetricKey } from '../../metrics/index.js';
import { weiToAthSample } from '../../metrics/index.js';
import type { DeliveryReport, SessionRecord, SignalingHub } from '../../signaling/index.js';
import { isAthError, weiToString } from '../../signaling/protocol/index.js';
import {
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

export type MeterParameters = {
  hub: SignalingHub;
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
  /** Milliseconds carried to the next tick (ticks bill whole seconds). */
  carryMs: number;
  tickIndex: number;
  host: { fpsMilli: number; atMs: number } | undefined;
  player: { fpsMilli: number; atMs: number } | undefined;
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
  #closed = false;

  constructor(params: MeterParameters) {
    this.#p = params;
    this.#log = params.log.child({ mod: 'edge/metering/meter' });
    this.#now = params.now ?? Date.now;
    this.#unsubscribe.push(
      params.hub.on('sessionPaid', (session) => this.#start(session)),
      params.hub.on('report', (report) => this.#onReport(report)),
      params.hub.on('sessionEnded', (session) => void this.#stop(session)),
    );
    this.#timer = setInterval(() => this.#tickDue(), 1000);
    this.#timer.unref();
  }

  get liveSessions(): number {
    return this.#live.size;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    await Promise.all([...this.#live.values()].map((live) => live.ticking));
  }

  #start(session: SessionRecord): void {
    if (!session.hostId || this.#live.has(session.id)) return;
    this.#live.set(session.id, {
      sessionId: session.id as Hex,
      hostId: session.hostId,
      lastTickAtMs: this.#now(),
      carryMs: 0,
      tickIndex: 0,
      host: undefined,
      player: undefined,
      ticking: Promise.resolve(),
      ending: false,
    });
  }

  #onReport(report: DeliveryReport): void {
    const live = this.#live.get(report.sessionId);
    if (!live) return;
    live[report.source] = { fpsMilli: report.fpsMilli, atMs: report.atMs };
  }

  #tickDue(): void {
    const now = this.#now();
    for (const live of this.#live.values()) {
      if (!live.ending && now - live.lastTickAtMs >= this.#p.settings.tickSec * 1000) this.#enqueueTick(live, now);
    }
  }

  #enqueueTick(live: Live, now: number): Promise<void> {
    // Ticks of one session run one after another (ledger ticks are ordered).
    live.ticking = live.ticking
      .then(() => this.#tick(live, now))
      .catch((error: unknown) => {
        this.#log.error({ err: error, sessionId: live.sessionId }, 'metering tick failed');
      });
    return live.ticking;
  }

  /** Whether the interval that ends now counts as delivered. */
  #delivered(live: Live, now: number): boolean {
    const { fpsFloor, reportFreshMs } = this.#p.settings;
    const fresh = (r: Live['host']) =>
      r !== undefined && now - r.atMs <= reportFreshMs && r.fpsMilli >= fpsFloor * 1000;
    const verdict = this.#p.hub.checkers.latestVerdict(live.hostId);
    return fresh(live.host) && fresh(live.player) && verdict?.verdict !== 'fail';
  }

  async #tick(live: Live, now: number): Promise<void> {
    const elapsedMs = now - live.lastTickAtMs + live.carryMs;
    const seconds = Math.floor(elapsedMs / 1000);
    live.carryMs = elapsedMs - seconds * 1000;
    live.lastTickAtMs = now;
    let deliveredSec = this.#delivered(live, now) ? seconds : 0;
    const { ledger } = this.#p;
    const before = await getSession(ledger, live.sessionId);
    if (!before) return;
    let capped = false;
    const room = before.authMaxWei - before.cumulativeWei;
    if (BigInt(deliveredSec) * before.priceWeiPerSec > room) {
      deliveredSec = Number(room / before.priceWeiPerSec);
      capped = true;
    }
    try {
      await recordUsageTick(ledger, { sessionId: live.sessionId, tickIndex: live.tickIndex, deliveredSec });
    } catch (error) {
      if (isAthError(error) && ['ATH_ERR_LEDGER_OVER_CAP', 'ATH_ERR_LEDGER_CAP_EXHAUSTED'].includes(error.code)) {
        this.#p.hub.endSession(live.sessionId, 'insufficient-funds', 'The spending cap for this session is used up.');
        return;
      }
      throw error;
    }
    live.tickIndex += 1;
    const session = await getSession(ledger, live.sessionId);
    if (!session) return;
    if (deliveredSec > 0) {
      const usage = {
        sessionId: live.sessionId,
        cumulativeAmount: session.cumulativeWei,
        deliveredSeconds: BigInt(session.deliveredSec),
      };
      await recordVoucher(ledger, { usage, meterAddress: this.#p.meterAddress, signature: this.#p.signer.sign(usage) });
      await enqueueSettlement(ledger, { sessionId: live.sessionId });
      this.#p.metrics.metric.athCharged.inc(weiToAthSample(BigInt(deliveredSec) * session.priceWeiPerSec));
    }
    this.#p.hub.notifyPlayer(live.sessionId, {
      type: 'charge',
      sessionId: live.sessionId,
      cumulativeWei: weiToString(session.cumulativeWei),
      deliveredSec: session.deliveredSec,
      maxAmountWei: weiToString(session.authMaxWei),
    });
    if (capped || session.authMaxWei - session.cumulativeWei < session.priceWeiPerSec) {
      this.#p.hub.endSession(live.sessionId, 'insufficient-funds', 'Your authorization for this session is used up.');
    }
  }

  /** The session ended: bill its last partial interval, then close it in the ledger. */
  async #stop(session: SessionRecord): Promise<void> {
    const live = this.#live.get(session.id);
    if (!live || live.ending) return;
    live.ending = true;
    await this.#enqueueTick(live, this.#now());
    this.#live.delete(session.id);
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
