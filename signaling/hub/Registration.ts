/**
 * Render hosts joining and staying: `register` (the provider wallet's signature over this connection's nonce,
 * one connection per host id, a host id stays with its provider), heartbeats, and a host going down (missed
 * heartbeats or a closed connection) — its sessions end and its slots are freed.
 */
import { verifyMessage } from 'viem';
import { AthError, hostRegistrationMessage, type PeerMessageOf } from '../protocol/index.js';
import type { HostRecord } from '../store/HostRegistry.js';
import type { HubContext, RegistrationPort } from './HubContext.js';
import type { PeerState } from './PeerDirectory.js';

export class Registration implements RegistrationPort {
  readonly #ctx: HubContext;

  constructor(ctx: HubContext) {
    this.#ctx = ctx;
  }

  peerHost(peer: PeerState): HostRecord {
    const host = peer.hostId ? this.#ctx.store.hosts.get(peer.hostId) : undefined;
    if (!host || host.peerId !== peer.handle.id) {
      throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'register first' });
    }
    return host;
  }

  onRegister(peer: PeerState, message: PeerMessageOf<'register'>): void {
    if (peer.hostId) throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'already registered' });
    // Checked asynchronously (signature recovery); the peer can send nothing else until it completes.
    peer.hostId = '';
    void this.#verifyAndRegister(peer, message);
  }

  async #verifyAndRegister(peer: PeerState, message: PeerMessageOf<'register'>): Promise<void> {
    const { store, peers } = this.#ctx;
    try {
      const valid = await verifyMessage({
        address: message.providerAddress as `0x${string}`,
        message: hostRegistrationMessage(message.hostId, peer.nonce),
        signature: message.signature as `0x${string}`,
      }).catch(() => false);
      if (!valid) {
        throw new AthError({
          code: 'ATH_ERR_BAD_SIGNATURE',
          shortMessage: 'registration signature does not match the provider address',
        });
      }
      if (!peers.has(peer.handle.id)) return;
      const existing = store.hosts.get(message.hostId);
      if (existing?.peerId && existing.peerId !== peer.handle.id && (await this.#stillConnected(existing.peerId))) {
        throw new AthError({
          code: 'ATH_ERR_NOT_ALLOWED',
          shortMessage: `host ${message.hostId} is already connected`,
        });
      }
      if (!peers.has(peer.handle.id)) return;
      if (existing && existing.providerAddress.toLowerCase() !== message.providerAddress.toLowerCase()) {
        throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'host id belongs to another provider' });
      }
      const host = store.hosts.register({
        message,
        peerId: peer.handle.id,
        nowMs: this.#ctx.now(),
        nonce: peer.nonce,
      });
      peer.hostId = host.hostId;
      this.#ctx.log.info(
        { hostId: host.hostId, slots: host.slots.length, games: [...host.games.keys()], region: host.region.country },
        'host registered',
      );
      peer.handle.send({ type: 'registered', hostId: host.hostId });
      this.#ctx.checkers.hostRegistered(host.hostId);
      this.#ctx.events.emit('hostRegistered', host);
      this.#hostBack(host);
      this.#ctx.matchmaking.serveQueue();
    } catch (error) {
      peer.hostId = undefined;
      peers.replyError(peer, error, message);
    }
  }

  /**
   * Whether a host's previous connection is still open: here, or on another instance that is up (asked of
   * the store at once: the host of a signaling server that just crashed comes back before a poll notices).
   */
  async #stillConnected(peerId: string): Promise<boolean> {
    const { peers, store } = this.#ctx;
    if (peers.isLocal(peerId)) return true;
    const instance = peers.remoteInstanceOf(peerId);
    if (instance === undefined || !store.cluster) return false;
    return store.cluster.checkAlive(instance);
  }

  /** Sessions on a host that came back go on: their instances hear of it (resumes sent meanwhile are redone). */
  #hostBack(host: HostRecord): void {
    const { store, sessions } = this.#ctx;
    const owners = new Set<string>();
    for (const slot of host.slots) {
      const owner = slot.sessionId ? store.sessions.get(slot.sessionId)?.owner : undefined;
      if (owner !== undefined) owners.add(owner);
    }
    for (const owner of owners) {
      if (owner === store.instanceId || !store.cluster) sessions.hostBack(host.hostId);
      else store.cluster.send(owner, { k: 'hostBack', hostId: host.hostId });
    }
  }

  onHeartbeat(peer: PeerState, message: PeerMessageOf<'heartbeat'>): void {
    const host = this.peerHost(peer);
    const { store } = this.#ctx;
    store.hosts.heartbeat(host.hostId, message.load, this.#ctx.now());
    if (host.state === 'down') store.hosts.update(host.hostId, { state: 'up' });
    // A host that kept its sessions through a lost signaling connection: stop those that ended meanwhile
    // (or that this network never knew: a signaling server that restarted without a shared store).
    for (const slot of message.slots) {
      if (!slot.sessionId || slot.state === 'free') continue;
      const session = store.sessions.get(slot.sessionId);
      if (session?.state === 'ended' || !session) {
        peer.handle.send({ type: 'stop-session', sessionId: slot.sessionId, reason: session?.endReason ?? 'error' });
      }
    }
  }

  /** Marks down the hosts whose heartbeats stopped (run every heartbeat interval). */
  checkHeartbeats(): void {
    const { settings } = this.#ctx;
    const deadlineMs = settings.heartbeatIntervalMs * settings.missedHeartbeatsAllowed;
    for (const host of this.#ctx.store.hosts.overdue(this.#ctx.now(), deadlineMs)) {
      this.hostDown(host, `no heartbeat for ${deadlineMs} ms`);
    }
  }

  /** A host's connection closed: the host is down if that was its current connection. */
  hostLeft(peer: PeerState): void {
    if (!peer.hostId) return;
    const host = this.#ctx.store.hosts.get(peer.hostId);
    if (host?.peerId === peer.handle.id) this.hostDown(host, 'connection closed');
  }

  hostDown(host: HostRecord, why: string): void {
    if (host.state === 'down') return;
    const { store } = this.#ctx;
    this.#ctx.log.warn({ hostId: host.hostId, why }, 'host down');
    const rendering = host.slots.some((slot) => slot.state !== 'free');
    store.hosts.update(host.hostId, { state: 'down', peerId: undefined });
    this.#ctx.checkers.hostGone(host.hostId);
    this.#ctx.events.emit('hostDown', { host, why, rendering });
    for (const slot of host.slots) {
      const session = slot.sessionId ? store.sessions.get(slot.sessionId) : undefined;
      if (session) this.#ctx.sessions.end(session, 'host-lost');
    }
    store.hosts.releaseAll(host.hostId);
  }
}
