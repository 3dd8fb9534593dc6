/**
 * Checkers' probes as the host sees them: player sessions. A probe takes a free slot of the container (leased
 * like a player's, so matchmaking never double-books it), and the host gets the very `start-session` a player's
 * lease sends — a random one of its games, the codecs a browser asks for, `resume: false`, the same ICE
 * servers — then the checker's answer and ICE, and at the end the `stop-session` a player's quit sends. Nothing
 * tells the host it is being measured, so it cannot serve the check better than it serves players: it streams
 * the real game at its real resolution and frame rate.
 *
 * That costs what a player's stream costs (≈½ core at 720p60 on the machine this was built on), so probes are
 * short and run one at a time per container, on a free slot when there is one. A container with every slot busy
 * is probed in its probe reserve: the one session beyond its slots every host keeps for checks (`probeReserve`,
 * required at admission), never sold to a player — so keeping every slot busy (a colluding player paying for itself
 * costs a host little more than the network's fee) no longer keeps a host from being checked, and a host that
 * turns the reserve's probe away is failed like one that fails it. One probe at a time per container means one
 * reserve is enough; a probe there is one extra stream beside full load for at most `probeTimeoutMs`. (A host
 * with every slot busy can tell that a `start-session` is a probe: nothing else can come. What it can do with
 * that is serve the probe well — the same as a probe on a free slot it could guess — and contradicted deliveries
 * are the defence against serving players worse than probes.) A probe that never started (it waited, e.g. for a
 * player's start-up, until its round's deadline) measured nothing, so CheckerDesk does not count a failing report
 * of it — `startedAtMs` says whether it did.
 *
 * A newcomer's first seconds are its own: a probe does not start on a container while one of its players is in
 * the first `startupQuietMs` of its session, and a probe already running when a player's session starts there
 * yields (`yieldTo`): the host gets the player's quit for it at once (a probe is a whole second stream and encoder on
 * the host, and on `npm start`'s machine its checker's receiver too). CheckerDesk re-queues it at the head of the
 * line with a fresh session, and does not count what the cut probe measured, neither way. A probe gives way —
 * waits out a start-up, or yields — to `NEWCOMERS_A_PROBE_GIVES_WAY_TO` players at most, its re-runs included: a
 * host cannot put a probe off with a stream of player starts by more than that many start-up windows. Nor does a
 * player wait behind a probe: one who finds no free slot where a yieldable probe holds one gets that slot
 * (Matchmaking → CheckerDesk.giveWayToWaitingPlayer).
 */
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import type { CodecName, IceServerRecord, ServerMessage } from '../protocol/index.js';
import type { HostRecord } from '../store/HostRegistry.js';
import type { HostStore } from '../store/SignalingStore.js';

/** What a container is held to in a round: its game's manifest, not what the host says about it. */
export type ExpectedStream = { game: string; width: number; height: number; fps: number };

/** The size and rate of known games, from their manifests (the edge fills it from the render host catalogue). */
export type GameSpecs = Readonly<Record<string, { width: number; height: number; fps: number }>>;

/** The codecs a browser that decodes both asks for (the player SDK's default order). */
export const PROBE_CODECS: CodecName[] = ['H264', 'VP8'];

/**
 * Picks the round's game — `preferred` when the host serves it (a sampled session's), else one of the host's at
 * random — and what it owes: the manifest's spec when known.
 */
export function expectedStream(host: HostRecord, specs: GameSpecs, preferred?: string): ExpectedStream | undefined {
  const games = [...host.games.values()];
  if (games.length === 0) return undefined;
  const game = (preferred === undefined ? undefined : host.games.get(preferred)) ?? games[randomInt(games.length)];
  if (!game) return undefined;
  const spec = specs[game.id];
  return {
    game: game.id,
    width: spec?.width ?? game.width,
    height: spec?.height ?? game.height,
    fps: spec?.fps ?? game.fps,
  };
}

export type LineProbe = {
  sessionId: string;
  hostId: string;
  game: string;
  /** Set while it holds a slot. */
  slot: number | undefined;
  state: 'queued' | 'running' | 'done';
  /** When the host was sent its `start-session` (it held a slot from then); undefined while it never got one. */
  startedAtMs: number | undefined;
  timer: NodeJS.Timeout | undefined;
  /** The last delivery the host claimed for it (`host-report`): the host's word, kept beside the checker's. */
  hostClaim: { fpsMilli: number; framesSent: number } | undefined;
  /** It samples a disputed session: it starts at once, even beside a player who just started, and never yields. */
  sampling: boolean;
  /**
   * The players' sessions this probe gave way to — waited out its start-up, or yielded to it (then its re-run carries
   * the list on) — at most `NEWCOMERS_A_PROBE_GIVES_WAY_TO`: after that it neither waits nor yields.
   */
  gaveWayTo: string[];
};

/**
 * How many newcomers a probe gives way to (waits out their start-up, or yields to), its re-runs included: enough for
 * `npm start`'s first round to miss two players pressing Play one after the other; few enough that a host's colluder
 * starting sessions puts a probe off by two `startupQuietMs` windows at most.
 */
export const NEWCOMERS_A_PROBE_GIVES_WAY_TO = 2;

export type ProbeLineParameters = {
  hosts: HostStore;
  send: (peerId: string, message: ServerMessage) => void;
  iceServersFor?: (sessionId: string) => IceServerRecord[];
  /** A probe holds its slot at most this long (then it is stopped as a player's quit would). */
  probeTimeoutMs: number;
  /** Between two looks for a free slot when the container has none. */
  slotRetryMs?: number;
  /**
   * A probe (not a sampling one) does not start on a container while one of its players' sessions is younger
   * than this: a probe is a second stream on the host, and a player's first seconds (worker, peer, first keyframe)
   * are when it costs most. It waits out the start-up of `NEWCOMERS_A_PROBE_GIVES_WAY_TO` players at most, then
   * starts even beside a newer one (a host's colluder restarting within every window cannot hold it off).
   */
  startupQuietMs?: number;
  /** How long ago a player's session got its slot (undefined: not a player's session, or not known here). */
  playerSessionAgeMs?: (sessionId: string) => number | undefined;
  /** A probe got its slot (its host was sent the `start-session`): its checker is told (`probe-started`). */
  onStarted?: (probe: LineProbe) => void;
  log: Logger;
};

export class ProbeLine {
  readonly #p: ProbeLineParameters;
  /** Per container: its probes in order; the first not done runs, the others wait. */
  readonly #lines = new Map<string, LineProbe[]>();
  readonly #retry = new Map<string, NodeJS.Timeout>();
  /** Probes running in their host's probe reserve (no lease to release: the reserve is not a slot of the store). */
  readonly #inReserve = new WeakSet<LineProbe>();
  /** Containers whose line is being looked at (a lease is awaited): a second look waits for it, then runs again. */
  readonly #pumping = new Set<string>();
  readonly #pumpAgain = new Set<string>();
  /** Containers whose line starts nothing before this time: a slot a probe gave up is being leased to a player. */
  readonly #heldUntilMs = new Map<string, number>();
  #closed = false;

  constructor(params: ProbeLineParameters) {
    this.#p = params;
  }

  /**
   * Queues a probe of the container; it starts when the ones before it are done and a slot is free. `first`: ahead of
   * the container's other waiting probes (a probe that yielded takes its place back).
   */
  enqueue(probe: LineProbe, options: { first?: boolean } = {}): void {
    const line = this.#lines.get(probe.hostId) ?? [];
    if (options.first) line.unshift(probe);
    else line.push(probe);
    this.#lines.set(probe.hostId, line);
    void this.#pump(probe.hostId);
  }

  /** Ends a probe (measured, given up, its checker gone): the host gets a player's quit; the next one starts. */
  stop(probe: LineProbe): void {
    const wasRunning = probe.state === 'running';
    this.#finish(probe);
    if (wasRunning) this.#p.log.info({ hostId: probe.hostId, sessionId: probe.sessionId }, 'probe stopped');
    const host = this.#p.hosts.get(probe.hostId);
    if (wasRunning && host?.peerId) {
      this.#p.send(host.peerId, { type: 'stop-session', sessionId: probe.sessionId, reason: 'player-quit' });
    }
    void this.#pump(probe.hostId);
  }

  /**
   * A player's session is starting on the container: its running probe, if it may yield, ends now (the host gets a
   * player's quit for it, its slot is free) and is returned for CheckerDesk to re-queue; the line waits out the
   * player's start-up before it goes on. Undefined: no probe running there, or it does not yield (sampling a dispute,
   * or the re-run of a probe that yielded). `holdSlotMs`: the player has no slot yet (it found none free and takes
   * the one this probe frees): no probe of the line starts on the container for that long, so the next one in line
   * does not take the slot first.
   */
  yieldTo(hostId: string, playerSessionId: string, options: { holdSlotMs?: number } = {}): LineProbe | undefined {
    const probe = this.#yieldable(hostId);
    if (!probe) return undefined;
    probe.gaveWayTo.push(playerSessionId);
    this.#p.log.info(
      { hostId, sessionId: probe.sessionId, playerSessionId, ranMs: Date.now() - (probe.startedAtMs ?? Date.now()) },
      'probe yielded to a player',
    );
    // The host hears of the stop before anyone can be sent a start on the slot it frees.
    const host = this.#p.hosts.get(hostId);
    if (host?.peerId)
      this.#p.send(host.peerId, { type: 'stop-session', sessionId: probe.sessionId, reason: 'player-quit' });
    const holdSlotMs = options.holdSlotMs ?? 0;
    if (holdSlotMs > 0) this.#heldUntilMs.set(hostId, Date.now() + holdSlotMs);
    this.#finish(probe);
    void this.#pump(hostId);
    return probe;
  }

  /**
   * Containers where a probe that may yield holds a slot a player could have (not the probe reserve, which is never
   * sold): where a player who finds no free slot can be served at once (`yieldTo` with `holdSlotMs`).
   */
  *hostsWithYieldableSlot(): Generator<string> {
    for (const hostId of this.#lines.keys()) {
      const probe = this.#yieldable(hostId);
      if (probe?.slot !== undefined && !this.#inReserve.has(probe)) yield hostId;
    }
  }

  /** The container's running probe if it may still give way (not sampling a dispute, not out of give-ways). */
  #yieldable(hostId: string): LineProbe | undefined {
    const probe = this.#lines.get(hostId)?.find((p) => p.state === 'running');
    if (!probe || probe.sampling || probe.gaveWayTo.length >= NEWCOMERS_A_PROBE_GIVES_WAY_TO) return undefined;
    return probe;
  }

  /** The host ended a probe session itself (the game failed to start, crashed, …): its slot is free again. */
  endedByHost(probe: LineProbe): void {
    if (probe.state === 'running') {
      this.#p.log.info({ hostId: probe.hostId, sessionId: probe.sessionId }, 'probe stopped (ended by its host)');
    }
    this.#finish(probe);
    void this.#pump(probe.hostId);
  }

  /** The host went away: its probes are over (their slots went with it). */
  hostGone(hostId: string): void {
    for (const probe of this.#lines.get(hostId) ?? []) {
      probe.slot = undefined;
      this.#finish(probe);
    }
    this.#lines.delete(hostId);
    this.#heldUntilMs.delete(hostId);
    clearTimeout(this.#retry.get(hostId));
    this.#retry.delete(hostId);
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#retry.values()) clearTimeout(timer);
    for (const line of this.#lines.values()) for (const probe of line) clearTimeout(probe.timer);
  }

  #finish(probe: LineProbe): void {
    if (probe.state === 'done') return;
    probe.state = 'done';
    clearTimeout(probe.timer);
    if (probe.slot !== undefined) {
      if (!this.#inReserve.has(probe)) this.#p.hosts.release(probe.hostId, probe.slot, probe.sessionId);
      probe.slot = undefined;
    }
    const line = this.#lines.get(probe.hostId);
    if (line) {
      const left = line.filter((p) => p.state !== 'done');
      if (left.length === 0) this.#lines.delete(probe.hostId);
      else this.#lines.set(probe.hostId, left);
    }
  }

  #retryLater(hostId: string, delayMs: number): void {
    clearTimeout(this.#retry.get(hostId));
    const timer = setTimeout(() => {
      this.#retry.delete(hostId);
      void this.#pump(hostId);
    }, delayMs);
    timer.unref();
    this.#retry.set(hostId, timer);
  }

  /** The youngest player session of the container still in its start-up, and how long that lasts (undefined: none). */
  #youngestStartingPlayer(
    host: HostRecord,
    line: readonly LineProbe[],
  ): { sessionId: string; leftMs: number } | undefined {
    const quietMs = this.#p.startupQuietMs ?? 0;
    const ageOf = this.#p.playerSessionAgeMs;
    if (quietMs <= 0 || !ageOf) return undefined;
    let youngest: { sessionId: string; leftMs: number } | undefined;
    for (const slot of host.slots) {
      if (slot.state === 'free' || !slot.sessionId || line.some((probe) => probe.sessionId === slot.sessionId))
        continue;
      const ageMs = ageOf(slot.sessionId);
      if (ageMs !== undefined && quietMs - ageMs > (youngest?.leftMs ?? 0)) {
        youngest = { sessionId: slot.sessionId, leftMs: quietMs - ageMs };
      }
    }
    return youngest;
  }

  /**
   * How long `probe` waits for the youngest player's start-up: all of it when that player is one it gave way to
   * already or it may give way to one more (`NEWCOMERS_A_PROBE_GIVES_WAY_TO`: a colluder restarting its session within
   * every window cannot hold a probe off), else 0.
   */
  #quietForMs(probe: LineProbe, youngest: { sessionId: string; leftMs: number } | undefined): number {
    if (!youngest) return 0;
    if (probe.gaveWayTo.includes(youngest.sessionId)) return youngest.leftMs;
    if (probe.gaveWayTo.length >= NEWCOMERS_A_PROBE_GIVES_WAY_TO) return 0;
    probe.gaveWayTo.push(youngest.sessionId);
    return youngest.leftMs;
  }

  async #pump(hostId: string): Promise<void> {
    if (this.#pumping.has(hostId)) {
      // (Else a second look, while the first awaits its lease, would see no free slot and start the same probe in
      // the reserve.)
      this.#pumpAgain.add(hostId);
      return;
    }
    this.#pumping.add(hostId);
    try {
      await this.#pumpOnce(hostId);
    } catch (error) {
      // The store did not answer the lease (Redis cut off: its command timed out). Callers fire and forget: a
      // rejection here would end the process. The probe is still queued: another look later.
      this.#p.log.warn({ err: error, hostId }, 'probe slot lease failed: tried again later');
      if (!this.#closed) this.#retryLater(hostId, this.#p.slotRetryMs ?? 2_000);
    } finally {
      this.#pumping.delete(hostId);
    }
    if (this.#pumpAgain.delete(hostId)) void this.#pump(hostId);
  }

  async #pumpOnce(hostId: string): Promise<void> {
    if (this.#closed) return;
    const line = this.#lines.get(hostId);
    if (!line || line.some((p) => p.state === 'running')) return;
    const next = line.find((p) => p.state === 'queued');
    if (!next) return;
    const heldMs = (this.#heldUntilMs.get(hostId) ?? 0) - Date.now();
    if (heldMs > 0 && !next.sampling) {
      this.#retryLater(hostId, heldMs);
      return;
    }
    this.#heldUntilMs.delete(hostId);
    const host = this.#p.hosts.get(hostId);
    if (host?.state !== 'up' || !host.peerId) return;
    const quietForMs = next.sampling ? 0 : this.#quietForMs(next, this.#youngestStartingPlayer(host, line));
    if (quietForMs > 0) {
      this.#retryLater(hostId, quietForMs);
      return;
    }
    const free = host.slots.find((s) => s.state === 'free')?.slot;
    const leased = free !== undefined && (await this.#p.hosts.tryLease(hostId, free, next.sessionId));
    // The line may have moved while the lease was taken (a shared store answers asynchronously).
    if (next.state !== 'queued' || this.#closed) {
      if (leased && free !== undefined) this.#p.hosts.release(hostId, free, next.sessionId);
      return;
    }
    // Every slot serves a player: the probe runs in the host's reserve, the slot number after its slots (nobody
    // leases it: only this container's line uses it, one probe at a time, on the instance its host is connected to).
    const slot = leased ? free : host.probeReserve > 0 ? host.slots.length : undefined;
    if (slot === undefined) {
      // No reserve (a host admitted before reserves were required): wait for a free slot (the deadline bounds it).
      this.#retryLater(hostId, this.#p.slotRetryMs ?? 2_000);
      return;
    }
    if (!leased) {
      this.#inReserve.add(next);
      this.#p.log.info({ hostId, sessionId: next.sessionId, slot }, 'every slot busy: the probe runs in the reserve');
    }
    next.state = 'running';
    next.slot = slot;
    next.startedAtMs = Date.now();
    next.timer = setTimeout(() => {
      this.#p.log.info({ hostId, sessionId: next.sessionId }, 'probe over its time: stopped');
      this.stop(next);
    }, this.#p.probeTimeoutMs);
    next.timer.unref();
    this.#p.log.info({ hostId, sessionId: next.sessionId, slot, sampling: next.sampling }, 'probe started');
    const iceServers = this.#p.iceServersFor?.(next.sessionId) ?? [];
    // Exactly what a player's lease sends (Matchmaking): nothing marks it as a check.
    this.#p.send(host.peerId, {
      type: 'start-session',
      sessionId: next.sessionId,
      slot,
      game: next.game,
      codecs: [...PROBE_CODECS],
      resume: false,
      ...(iceServers.length > 0 ? { iceServers } : {}),
    });
    this.#p.onStarted?.(next);
  }
}
