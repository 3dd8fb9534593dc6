/**
 * A checker node: keeps one signaling connection (`/ws/node`), proves its wallet at registration (EIP-191
 * over the connection's nonce), and for every `check-assignment` answers the container's probe offer with
 * its own receive-only werift peer, measures it (ProbeReceiver), judges it against the advertised frame rate
 * and its thresholds, signs an EIP-712 CheckReport and sends it, then says `probe-done` so the host stops the
 * stream. If signaling goes away, open probes are dropped (their rounds are reassigned) and the node
 * reconnects with backoff and registers again.
 *
 * `lie` exists for tests only: the node reports the opposite of what it measured, with numbers to match,
 * so a test can show that one dishonest checker ends up in the minority.
 */
import type { Logger } from 'pino';
import type { LocalAccount } from 'viem';
import type { CheckerMetricKey, Metrics } from '../../metrics/index.js';
import { NodeSignalingLink } from '../../signaling/link/NodeSignalingLink.js';
import {
  type CheckReport,
  checkerRegistrationMessage,
  type PeerMessage,
  type ServerMessage,
  type ServerMessageOf,
} from '../../signaling/protocol/index.js';
import { DEFAULT_PROBE_THRESHOLDS, judgeProbe, type ProbeMeasurement, type ProbeThresholds } from './judgeProbe.js';
import { DEFAULT_PROBE_WINDOW, type ProbeIceOptions, ProbeReceiver, type ProbeWindowOptions } from './ProbeReceiver.js';
import { type CheckerDomain, signCheckReport } from './signCheckReport.js';

export type CheckerNodeParameters = {
  account: LocalAccount;
  /** Signaling's `/ws/node`, or that of each server of one network (tried in turn on reconnects). */
  signalingNodeUrl: string | readonly string[];
  /** A PEM certificate to trust for a wss signaling URL beside the system's CAs (`tls.caFile`). */
  signalingCa?: string;
  /** EIP-712 domain of CheckReport, as signaling's /api/config names it. */
  domain: CheckerDomain;
  thresholds?: ProbeThresholds;
  window?: ProbeWindowOptions;
  /** Test only: report the opposite of what was measured. */
  lie?: boolean;
  /** This checker's own ICE settings; each probe adds the STUN/TURN servers of its `check-assignment`. */
  ice?: ProbeIceOptions;
  log: Logger;
  metrics?: Metrics<CheckerMetricKey>;
};

export type SentCheckReport = {
  assignment: ServerMessageOf<'check-assignment'>;
  measurement: ProbeMeasurement;
  /** What this checker honestly concluded (a lying checker sends the opposite). */
  measuredOk: boolean;
  reasons: string[];
  report: CheckReport;
};

type CheckerNodeEvents = {
  registered: [address: `0x${string}`];
  disconnected: [];
  report: [sent: SentCheckReport];
  accepted: [message: ServerMessageOf<'report-accepted'>];
  refused: [message: ServerMessageOf<'error'>];
};

type Probe = {
  assignment: ServerMessageOf<'check-assignment'>;
  receiver: ProbeReceiver | undefined;
  /** ICE that came before the offer was answered. */
  pendingIce: ServerMessageOf<'ice'>['candidate'][];
  offerTimer: NodeJS.Timeout | undefined;
  /** When signaling closes the round (performance.now() clock). */
  deadlineAtMs: number;
  done: boolean;
};

const UNMEASURED_RTT_MICROS = 0xffffffff;
/** Kept free before the round's deadline for signing and sending the report. */
const OFFER_MARGIN_MS = 3_000;

export class CheckerNode {
  readonly #p: CheckerNodeParameters;
  readonly #log: Logger;
  readonly #probes = new Map<string, Probe>();
  readonly #listeners: { [K in keyof CheckerNodeEvents]: Set<(...args: CheckerNodeEvents[K]) => void> } = {
    registered: new Set(),
    disconnected: new Set(),
    report: new Set(),
    accepted: new Set(),
    refused: new Set(),
  };
  readonly #link: NodeSignalingLink;
  #registered = false;
  #closed = false;
  /** Counts since start, for /healthz. */
  readonly counts = { assignments: 0, reportsSent: 0, reportsAccepted: 0, reportsRefused: 0 };

  constructor(params: CheckerNodeParameters) {
    this.#p = params;
    this.#log = params.log.child({ mod: 'edge/checker', checker: params.account.address });
    this.#link = new NodeSignalingLink({
      url: params.signalingNodeUrl,
      ...(params.signalingCa ? { ca: params.signalingCa } : {}),
      hello: { role: 'checker', agent: 'ath-edge checker' },
      log: this.#log,
      onMessage: (message) => this.#onMessage(message),
      onDisconnected: () => this.#onDisconnected(),
    });
  }

  get address(): `0x${string}` {
    return this.#p.account.address;
  }

  get registered(): boolean {
    return this.#registered;
  }

  get activeProbes(): number {
    return this.#probes.size;
  }

  on<K extends keyof CheckerNodeEvents>(event: K, listener: (...args: CheckerNodeEvents[K]) => void): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  #emit<K extends keyof CheckerNodeEvents>(event: K, ...args: CheckerNodeEvents[K]): void {
    for (const listener of this.#listeners[event]) {
      try {
        listener(...args);
      } catch (error) {
        this.#log.error({ err: error, event }, 'listener failed');
      }
    }
  }

  /** Connects and resolves once registered (rejects if the first registration is refused). */
  start(): Promise<void> {
    return this.#link.start();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // The hosts stop streaming to a checker that leaves (signaling ends the probe session, as a player's quit).
    for (const id of this.#probes.keys()) this.#send({ type: 'probe-done', sessionId: id });
    await Promise.all([...this.#probes.keys()].map((id) => this.#dropProbe(id)));
    this.#registered = false;
    this.#link.close(1000, 'checker shutting down');
  }

  // ---- signaling connection ----------------------------------------------------------------------------

  #onDisconnected(): void {
    this.#registered = false;
    // Probes belong to this connection: signaling relays their SDP to it only, and reassigns them.
    for (const id of [...this.#probes.keys()]) void this.#dropProbe(id);
    this.#emit('disconnected');
  }

  #send(message: PeerMessage): void {
    this.#link.send(message);
  }

  async #onMessage(message: ServerMessage): Promise<void> {
    switch (message.type) {
      case 'welcome':
        this.#send({
          type: 'register-checker',
          checkerAddress: this.address,
          signature: await this.#p.account.signMessage({
            message: checkerRegistrationMessage(this.address, message.nonce),
          }),
        });
        return;
      case 'checker-registered':
        this.#link.accepted();
        this.#registered = true;
        this.#log.info('registered with signaling');
        this.#emit('registered', this.address);
        return;
      case 'check-assignment':
        this.#onAssignment(message);
        return;
      case 'probe-started':
        this.#onProbeStarted(message.sessionId);
        return;
      case 'offer':
        await this.#onOffer(message);
        return;
      case 'ice':
        await this.#onIce(message);
        return;
      case 'report-accepted':
        this.counts.reportsAccepted += 1;
        this.#emit('accepted', message);
        return;
      case 'error':
        this.#onError(message);
        return;
      default:
        this.#log.debug({ type: message.type }, 'message not for a checker ignored');
    }
  }

  #onError(message: ServerMessageOf<'error'>): void {
    if (!this.#registered && message.ref === 'register-checker') {
      const error = new Error(`registration refused: ${message.code} ${message.message}`);
      this.#log.error({ code: message.code }, 'registration refused');
      if (this.#link.refusedAtStart(error)) {
        this.#closed = true;
        this.#link.close(1000, 'registration refused');
      } else {
        // After a reconnect signaling may still hold the old connection ("already connected"): retry with
        // backoff on a fresh connection (and nonce) until it has let the old one go.
        this.#link.drop(4000, 'registration refused');
      }
      return;
    }
    if (message.ref === 'check-report') {
      this.counts.reportsRefused += 1;
      this.#p.metrics?.metric.checkerReports.inc({ verdict: 'rejected' });
    }
    this.#log.warn({ code: message.code, ref: message.ref, message: message.message }, 'signaling refused a message');
    this.#emit('refused', message);
    if (message.sessionId) void this.#dropProbe(message.sessionId);
  }

  // ---- probes ------------------------------------------------------------------------------------------

  #onAssignment(assignment: ServerMessageOf<'check-assignment'>): void {
    this.counts.assignments += 1;
    const window = this.#p.window ?? DEFAULT_PROBE_WINDOW;
    const probe: Probe = {
      assignment,
      receiver: undefined,
      pendingIce: [],
      offerTimer: undefined,
      deadlineAtMs: performance.now() + assignment.deadlineMs,
      done: false,
    };
    this.#probes.set(assignment.probeSessionId, probe);
    this.#log.debug({ container: assignment.container, round: assignment.round }, 'assigned');
    // A probe that never gets a slot (other probes, or players, hold them all) measured nothing: report so before
    // the deadline (signaling does not count it against the host). Once it has its slot (`probe-started`), the
    // host owes its offer within the connect window (#onProbeStarted).
    const offerWaitMs = Math.max(1_000, assignment.deadlineMs - measureTimeMs(window));
    probe.offerTimer = setTimeout(() => void this.#finishProbe(probe, undefined), offerWaitMs);
    probe.offerTimer.unref();
  }

  /**
   * The probe holds a slot now: its host was sent the session. A host that does not offer it within the connect
   * window (a probe is a player session: the host may start its game and a worker first, ≈1 s, far more on a
   * busy box) is not live, and the report says so then — timed from the slot, not from the assignment.
   */
  #onProbeStarted(sessionId: string): void {
    const probe = this.#probes.get(sessionId);
    if (!probe || probe.receiver || probe.done) return;
    const window = this.#p.window ?? DEFAULT_PROBE_WINDOW;
    const left = probe.deadlineAtMs - performance.now() - measureTimeMs(window);
    clearTimeout(probe.offerTimer);
    probe.offerTimer = setTimeout(
      () => void this.#finishProbe(probe, undefined),
      Math.max(1_000, Math.min(window.connectTimeoutMs, left)),
    );
    probe.offerTimer.unref();
  }

  async #onOffer(message: ServerMessageOf<'offer'>): Promise<void> {
    const probe = this.#probes.get(message.sessionId);
    if (!probe || probe.receiver || probe.done) return;
    clearTimeout(probe.offerTimer);
    let answered: { receiver: ProbeReceiver; answerSdp: string };
    try {
      const own = this.#p.ice ?? {};
      const iceServers = [...(probe.assignment.iceServers ?? []), ...(own.iceServers ?? [])];
      answered = await ProbeReceiver.answer(message.sdp, { ...own, iceServers });
    } catch (error) {
      this.#log.warn({ err: error, container: probe.assignment.container }, 'probe offer could not be answered');
      await this.#finishProbe(probe, undefined);
      return;
    }
    if (probe.done) {
      await answered.receiver.close();
      return;
    }
    probe.receiver = answered.receiver;
    this.#send({ type: 'answer', sessionId: message.sessionId, sdp: answered.answerSdp });
    for (const candidate of probe.pendingIce.splice(0)) {
      await probe.receiver.addIceCandidate(candidate).catch(() => undefined);
    }
    // A late offer gets only the time left before the deadline to connect: a report after it is refused.
    const window = this.#p.window ?? DEFAULT_PROBE_WINDOW;
    const left = probe.deadlineAtMs - performance.now() - measureTimeMs(window);
    const measurement = await probe.receiver.measure({
      ...window,
      connectTimeoutMs: Math.max(1_000, Math.min(window.connectTimeoutMs, left)),
    });
    await this.#finishProbe(probe, measurement);
  }

  async #onIce(message: ServerMessageOf<'ice'>): Promise<void> {
    const probe = this.#probes.get(message.sessionId);
    if (!probe) return;
    if (!probe.receiver) probe.pendingIce.push(message.candidate);
    else await probe.receiver.addIceCandidate(message.candidate).catch(() => undefined);
  }

  async #finishProbe(probe: Probe, measured: ProbeMeasurement | undefined): Promise<void> {
    if (probe.done) return;
    probe.done = true;
    clearTimeout(probe.offerTimer);
    const { assignment } = probe;
    const measurement = measured ?? notLive();
    const judgement = judgeProbe(measurement, assignment.expected, this.#p.thresholds ?? DEFAULT_PROBE_THRESHOLDS);
    const report = this.#p.lie
      ? forgedReport(this.address, assignment, judgement.ok)
      : honestReport(this.address, assignment, measurement, judgement.ok);
    try {
      const wire = await signCheckReport(this.#p.account, this.#p.domain, report);
      this.#send({ type: 'check-report', ...wire });
      this.counts.reportsSent += 1;
      this.#p.metrics?.metric.checkerReports.inc({ verdict: report.ok ? 'ok' : 'fail' });
      if (Number.isFinite(measurement.rttMs))
        this.#p.metrics?.metric.checkerProbeSeconds.observe(measurement.rttMs / 1000);
      if (measurement.live) this.#p.metrics?.metric.checkerProbeFps.observe(measurement.fps);
      this.#log.info(
        {
          container: assignment.container,
          round: assignment.round,
          ok: report.ok,
          measuredOk: judgement.ok,
          reasons: judgement.reasons,
          rttMs: round1(measurement.rttMs),
          fps: round1(measurement.fps),
          lossPpm: measurement.lossPpm,
          jitterMs: round1(measurement.jitterMs),
        },
        'check report sent',
      );
      this.#emit('report', { assignment, measurement, measuredOk: judgement.ok, reasons: judgement.reasons, report });
    } finally {
      this.#send({ type: 'probe-done', sessionId: assignment.probeSessionId });
      await this.#dropProbe(assignment.probeSessionId);
    }
  }

  async #dropProbe(sessionId: string): Promise<void> {
    const probe = this.#probes.get(sessionId);
    if (!probe) return;
    this.#probes.delete(sessionId);
    probe.done = true;
    clearTimeout(probe.offerTimer);
    await probe.receiver?.close();
  }
}

/** What a probe needs after it connected, plus the margin for signing and sending the report. */
function measureTimeMs(window: ProbeWindowOptions): number {
  return window.warmupMs + window.windowMs + window.pingTimeoutMs + OFFER_MARGIN_MS;
}

function notLive(): ProbeMeasurement {
  return {
    live: false,
    rttMs: Number.NaN,
    pingsSent: 0,
    pongsReceived: 0,
    fps: 0,
    lossPpm: 0,
    jitterMs: 0,
    framesComplete: 0,
    framesBroken: 0,
    packetsReceived: 0,
    width: 0,
    height: 0,
  };
}

function nowSec(): bigint {
  return BigInt(Math.floor(Date.now() / 1000));
}

function honestReport(
  checker: `0x${string}`,
  assignment: ServerMessageOf<'check-assignment'>,
  measurement: ProbeMeasurement,
  ok: boolean,
): CheckReport {
  return {
    container: assignment.container,
    checker,
    round: BigInt(assignment.round),
    rttMicros: Number.isFinite(measurement.rttMs)
      ? Math.min(UNMEASURED_RTT_MICROS, Math.round(measurement.rttMs * 1000))
      : UNMEASURED_RTT_MICROS,
    fpsMilli: Math.min(0xffffffff, Math.round(measurement.fps * 1000)),
    lossPpm: Math.min(1_000_000, measurement.lossPpm),
    ok,
    timestamp: nowSec(),
  };
}

/** The lie: the opposite verdict, with plausible numbers for it. */
function forgedReport(
  checker: `0x${string}`,
  assignment: ServerMessageOf<'check-assignment'>,
  measuredOk: boolean,
): CheckReport {
  return {
    container: assignment.container,
    checker,
    round: BigInt(assignment.round),
    rttMicros: measuredOk ? 480_000 : 4_000,
    fpsMilli: measuredOk ? 4_000 : assignment.expected.fps * 1000,
    lossPpm: measuredOk ? 200_000 : 0,
    ok: !measuredOk,
    timestamp: nowSec(),
  };
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
