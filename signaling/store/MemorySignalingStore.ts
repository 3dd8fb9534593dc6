import { randomBytes } from 'node:crypto';
import type { PrefixLocation } from '../geo/geo.js';
import type { SessionRecord } from '../hub/SessionRecord.js';
import type { ProviderDrain } from '../trust/DrainStore.js';
import { GameQueue } from './GameQueue.js';
import { HostRegistry } from './HostRegistry.js';
import type {
  DrainMap,
  Measurement,
  MeasurementStore,
  MeterState,
  MeterStateStore,
  PrefixLocationStore,
  SessionStore,
  SignalingStore,
} from './SignalingStore.js';

const MAX_MEASUREMENTS_PER_PLAYER = 64;

class MemorySessionStore implements SessionStore {
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #activeByPlayer = new Map<string, string>();

  get(sessionId: string): SessionRecord | undefined {
    return this.#sessions.get(sessionId);
  }

  put(session: SessionRecord): void {
    this.#sessions.set(session.id, session);
  }

  delete(sessionId: string): void {
    this.#sessions.delete(sessionId);
  }

  all(): IterableIterator<SessionRecord> {
    return this.#sessions.values();
  }

  activeOf(playerId: string): string | undefined {
    return this.#activeByPlayer.get(playerId);
  }

  setActive(playerId: string, sessionId: string): void {
    this.#activeByPlayer.set(playerId, sessionId);
  }

  clearActive(playerId: string, sessionId: string): void {
    if (this.#activeByPlayer.get(playerId) === sessionId) this.#activeByPlayer.delete(playerId);
  }
}

class MemoryMeasurementStore implements MeasurementStore {
  readonly #byPlayer = new Map<string, Map<string, Measurement>>();

  remember(playerId: string, hostId: string, measurement: Measurement): void {
    let byHost = this.#byPlayer.get(playerId);
    if (!byHost) {
      byHost = new Map();
      this.#byPlayer.set(playerId, byHost);
    }
    byHost.delete(hostId);
    byHost.set(hostId, measurement);
    // Maps iterate in insertion order: the first key is the stalest measurement.
    if (byHost.size > MAX_MEASUREMENTS_PER_PLAYER) byHost.delete(byHost.keys().next().value as string);
  }

  of(playerId: string): Iterable<[string, Measurement]> {
    return this.#byPlayer.get(playerId) ?? [];
  }
}

class MemoryMeterStateStore implements MeterStateStore {
  readonly #states = new Map<string, MeterState>();

  save(sessionId: string, state: MeterState): void {
    this.#states.set(sessionId, { ...state });
  }

  async load(sessionId: string): Promise<MeterState | undefined> {
    const state = this.#states.get(sessionId);
    return state ? { ...state } : undefined;
  }

  delete(sessionId: string): void {
    this.#states.delete(sessionId);
  }
}

/** At most this many prefixes are remembered (the stalest go first). */
const MAX_PREFIXES = 100_000;

class MemoryPrefixLocationStore implements PrefixLocationStore {
  readonly #locations = new Map<string, PrefixLocation>();

  get(prefix: string): PrefixLocation | undefined {
    return this.#locations.get(prefix);
  }

  put(prefix: string, location: PrefixLocation): void {
    this.#locations.delete(prefix);
    this.#locations.set(prefix, location);
    if (this.#locations.size > MAX_PREFIXES) this.#locations.delete(this.#locations.keys().next().value as string);
  }
}

/** The embedded store: every piece of state in this process's memory (the default, one signaling server). */
export class MemorySignalingStore implements SignalingStore {
  readonly instanceId = randomBytes(4).toString('hex');
  readonly cluster = undefined;
  readonly hosts = new HostRegistry();
  readonly sessions: SessionStore = new MemorySessionStore();
  readonly queue = new GameQueue();
  readonly measurements: MeasurementStore = new MemoryMeasurementStore();
  readonly meters: MeterStateStore = new MemoryMeterStateStore();
  readonly prefixes: PrefixLocationStore = new MemoryPrefixLocationStore();
  readonly drains = new Map<string, ProviderDrain>() satisfies DrainMap;
  readonly unpaidEndings = undefined;

  close(): void {}
}
