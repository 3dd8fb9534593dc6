/**
 * The indexer's shared state, beneath the hub's modules: hosts and their slots, sessions, each player's
 * active session, the per-game queues and the players' RTT measurements. The hub's modules read and change
 * state only through this interface; `MemorySignalingStore` is the embedded implementation (one process).
 *
 * What is not here is per instance by nature: open sockets (`PeerDirectory`) and timers (`SessionTimers`).
 */
import type { SessionRecord } from '../hub/SessionRecord.js';
import type { HostRegistry } from './HostRegistry.js';

export type SessionStore = {
  get(sessionId: string): SessionRecord | undefined;
  put(session: SessionRecord): void;
  delete(sessionId: string): void;
  all(): IterableIterator<SessionRecord>;
  /** The player's live (or last) session id. */
  activeOf(playerId: string): string | undefined;
  setActive(playerId: string, sessionId: string): void;
  /** Forgets the player's active session only while it is still this one. */
  clearActive(playerId: string, sessionId: string): void;
};

/** Players waiting for a slot, first come first served, one line per game. */
export type QueueStore = {
  readonly length: number;
  /** Adds the session at the tail (no-op if it waits already); returns its 1-based position. */
  enqueue(game: string, sessionId: string): number;
  remove(game: string, sessionId: string): boolean;
  /** The waiting sessions of a game, head first. */
  waiting(game: string): readonly string[];
  games(): IterableIterator<string>;
};

/** A player's RTT to a host from the browser's probes; `null` = unreachable. */
export type Measurement = { rttMs: number | null; atMs: number };

export type MeasurementStore = {
  remember(playerId: string, hostId: string, measurement: Measurement): void;
  /** The player's measurements by host, stalest first. */
  of(playerId: string): Iterable<[hostId: string, measurement: Measurement]>;
};

export type SignalingStore = {
  readonly hosts: HostRegistry;
  readonly sessions: SessionStore;
  readonly queue: QueueStore;
  readonly measurements: MeasurementStore;
  close(): void;
};
