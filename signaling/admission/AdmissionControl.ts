/**
 * Per-address admission for the signaling WebSocket, the same for every transport (uWS and fastify-ws): caps
 * on open connections (all, and per address), token buckets on new connections per address, and on messages
 * per socket and per address. The table of addresses is bounded (`maxTrackedIps`): an address with no open
 * connection and full buckets carries no state and is forgotten by the sweep, or first when the table is full.
 * Addresses are counted by `addressKey` (IPv6 by /64); behind trusted proxies `clientAddress` names the client.
 *
 * With several signaling instances on one store (`shared`), a connection this instance admits is then counted for
 * the network (`confirmShared`): the address's open connections on every instance against `maxConnectionsPerIp`,
 * and one token bucket of `upgradesPerIp` for the network. Per-address message rates stay
 * per instance (each instance protects its own loop; a Redis round trip per message would cost more than it saves).
 */
import type { SharedAdmission, SharedLimits } from '../store/SignalingStore.js';
import type { AdmissionSettings } from './AdmissionSettings.js';
import { addressKey, clientAddress, type ProxyMatcher, trustedProxyMatcher } from './ipAddress.js';
import { TokenBucket } from './TokenBucket.js';

type AddressState = { connections: number; upgrades: TokenBucket; messages: TokenBucket };

/**
 * An admitted connection's place in the counts: `local` (this instance's), `pending` (the network's count asked),
 * `shared` (the network counts it), `refused` (the network refused it; given back), `closed` (given back).
 */
export type ConnectionPlace = { readonly ip: string; state: 'local' | 'pending' | 'shared' | 'refused' | 'closed' };

export type AdmissionRefusal = { retryAfterMs: number; why: string };

export type AdmitConnectionReturnType =
  | { admitted: true; place: ConnectionPlace }
  | ({ admitted: false } & AdmissionRefusal);

export type AdmissionControlOptions = {
  now?: () => number;
  /** The network's counts (several instances on one store), keyed by `addressHash` (never the address). */
  shared?: { limits: SharedLimits; addressHash: (ip: string) => string };
};

const SWEEP_INTERVAL_MS = 10_000;

export class AdmissionControl {
  readonly #settings: AdmissionSettings;
  readonly #now: () => number;
  readonly #addresses = new Map<string, AddressState>();
  readonly #sweeper: NodeJS.Timeout;
  readonly #isTrustedProxy: ProxyMatcher;
  readonly #shared: AdmissionControlOptions['shared'];
  #connections = 0;

  constructor(settings: AdmissionSettings, { now = () => performance.now(), shared }: AdmissionControlOptions = {}) {
    this.#settings = settings;
    this.#now = now;
    this.#shared = shared;
    this.#isTrustedProxy = trustedProxyMatcher(settings.trustedProxies);
    this.#sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
  }

  get settings(): AdmissionSettings {
    return this.#settings;
  }

  /** Open connections and remembered addresses (both bounded by the settings). */
  sizes(): { connections: number; trackedIps: number } {
    return { connections: this.#connections, trackedIps: this.#addresses.size };
  }

  /** The client behind a connection from `peer` with this X-Forwarded-For (believed only from a trusted proxy). */
  clientAddress(peer: string, forwardedFor: string | readonly string[] | undefined): string {
    return clientAddress({ peer, forwardedFor, isTrustedProxy: this.#isTrustedProxy });
  }

  /**
   * A WebSocket upgrade from `ip`, by this instance's counts: admitted (its `place` counted until
   * `connectionClosed`), or refused with a retry time. With several instances, `confirmShared` follows once the
   * socket is open.
   */
  admitConnection(ip: string): AdmitConnectionReturnType {
    const s = this.#settings;
    if (this.#connections >= s.maxConnections) {
      return {
        admitted: false,
        retryAfterMs: 5_000,
        why: `the server holds its maximum of ${s.maxConnections} connections`,
      };
    }
    const state = this.#state(addressKey(ip));
    if (!state) return { admitted: false, retryAfterMs: 5_000, why: 'too many addresses connected' };
    if (state.connections >= s.maxConnectionsPerIp) {
      return {
        admitted: false,
        retryAfterMs: 5_000,
        why: `${s.maxConnectionsPerIp} connections from this address are open`,
      };
    }
    const waitMs = state.upgrades.take(this.#now());
    if (waitMs > 0)
      return { admitted: false, retryAfterMs: waitMs, why: 'new connections from this address come too fast' };
    state.connections += 1;
    this.#connections += 1;
    return { admitted: true, place: { ip, state: 'local' } };
  }

  /**
   * Several instances: the network's count of an admitted connection (its address's open connections on every
   * instance, and one bucket of new connections per second). Resolves undefined when it stays, else why it must
   * close (its place is given back already); undefined at once with one instance. The transports ask once the
   * socket is open (the native server misbehaves when an upgrade waits) and hold its messages until then.
   */
  confirmShared(place: ConnectionPlace): Promise<AdmissionRefusal | undefined> | undefined {
    const shared = this.#shared;
    if (!shared || place.state !== 'local') return undefined;
    place.state = 'pending';
    const s = this.#settings;
    const key = shared.addressHash(place.ip);
    const decide = (verdict: SharedAdmission): AdmissionRefusal | undefined => {
      if (verdict.admitted) {
        // Closed while the network answered: the place it got goes back at once.
        if (place.state === 'closed') shared.limits.release('connections', key);
        else place.state = 'shared';
        return undefined;
      }
      if (place.state !== 'closed') {
        place.state = 'refused';
        this.#uncount(place.ip);
      }
      return verdict.retryAfterMs > 0
        ? {
            retryAfterMs: verdict.retryAfterMs,
            why: 'new connections from this address come too fast (all signaling servers together)',
          }
        : {
            retryAfterMs: 5_000,
            why: `${verdict.total} connections from this address are open on this network's signaling servers`,
          };
    };
    const answer = shared.limits.acquire('connections', key, s.maxConnectionsPerIp, s.upgradesPerIp);
    return answer instanceof Promise ? answer.then(decide) : Promise.resolve(decide(answer));
  }

  /** An admitted connection closed: its place is given back, here and (once it holds one) to the network. */
  connectionClosed(place: ConnectionPlace): void {
    const was = place.state;
    if (was === 'closed' || was === 'refused') return;
    place.state = 'closed';
    this.#uncount(place.ip);
    // 'pending': given back when the network answers (see `confirmShared`).
    if (was === 'shared' && this.#shared)
      this.#shared.limits.release('connections', this.#shared.addressHash(place.ip));
  }

  #uncount(ip: string): boolean {
    const state = this.#addresses.get(addressKey(ip));
    if (!state || state.connections === 0) return false;
    state.connections -= 1;
    this.#connections -= 1;
    return true;
  }

  /** A bucket for one new socket's messages. */
  socketBucket(): TokenBucket {
    return new TokenBucket(this.#settings.messagesPerSocket, this.#now());
  }

  /** One message on `socket` from `ip`: 0 = take it, else the milliseconds until one would be taken. */
  admitMessage(socket: TokenBucket, ip: string): number {
    const nowMs = this.#now();
    const socketWaitMs = socket.take(nowMs);
    if (socketWaitMs > 0) return socketWaitMs;
    const state = this.#addresses.get(addressKey(ip));
    const addressWaitMs = state ? state.messages.take(nowMs) : 0;
    if (addressWaitMs > 0) socket.giveBack();
    return addressWaitMs;
  }

  /** Forgets addresses that hold no connection and whose buckets are full again. */
  sweep(): void {
    const nowMs = this.#now();
    for (const [ip, state] of this.#addresses) {
      if (state.connections === 0 && state.upgrades.isFull(nowMs) && state.messages.isFull(nowMs)) {
        this.#addresses.delete(ip);
      }
    }
  }

  close(): void {
    clearInterval(this.#sweeper);
  }

  #state(ip: string): AddressState | undefined {
    const known = this.#addresses.get(ip);
    if (known) return known;
    if (this.#addresses.size >= this.#settings.maxTrackedIps) {
      // Forget the oldest address without a connection (its buckets may not be full: a little leniency
      // for it beats refusing every new address).
      for (const [oldIp, state] of this.#addresses) {
        if (state.connections === 0) {
          this.#addresses.delete(oldIp);
          break;
        }
      }
      if (this.#addresses.size >= this.#settings.maxTrackedIps) return undefined;
    }
    const nowMs = this.#now();
    const state: AddressState = {
      connections: 0,
      upgrades: new TokenBucket(this.#settings.upgradesPerIp, nowMs),
      messages: new TokenBucket(this.#settings.messagesPerIp, nowMs),
    };
    this.#addresses.set(ip, state);
    return state;
  }
}
