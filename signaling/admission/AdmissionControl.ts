/**
 * Per-address admission for the signaling WebSocket, the same for every transport (uWS and fastify-ws): caps
 * on open connections (all, and per address), token buckets on new connections per address, and on messages
 * per socket and per address. The table of addresses is bounded (`maxTrackedIps`): an address with no open
 * connection and full buckets carries no state and is forgotten by the sweep, or first when the table is full.
 * Addresses are counted by `addressKey` (IPv6 by /64); behind trusted proxies `clientAddress` names the client.
 */
import type { AdmissionSettings } from './AdmissionSettings.js';
import { addressKey, clientAddress, type ProxyMatcher, trustedProxyMatcher } from './ipAddress.js';
import { TokenBucket } from './TokenBucket.js';

type AddressState = { connections: number; upgrades: TokenBucket; messages: TokenBucket };

export type AdmitConnectionReturnType = { admitted: true } | { admitted: false; retryAfterMs: number; why: string };

const SWEEP_INTERVAL_MS = 10_000;

export class AdmissionControl {
  readonly #settings: AdmissionSettings;
  readonly #now: () => number;
  readonly #addresses = new Map<string, AddressState>();
  readonly #sweeper: NodeJS.Timeout;
  readonly #isTrustedProxy: ProxyMatcher;
  #connections = 0;

  constructor(settings: AdmissionSettings, now: () => number = () => performance.now()) {
    this.#settings = settings;
    this.#now = now;
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

  /** A WebSocket upgrade from `ip`: admitted (and counted until `connectionClosed`), or refused with a retry time. */
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
    return { admitted: true };
  }

  connectionClosed(ip: string): void {
    const state = this.#addresses.get(addressKey(ip));
    if (!state || state.connections === 0) return;
    state.connections -= 1;
    this.#connections -= 1;
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
