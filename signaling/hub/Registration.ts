/**
 * Render hosts joining and staying: `register` (the provider wallet's signature over this connection's nonce,
 * then the trust rules of `admitHost` — price within bounds, probe URL on the host's own address, the
 * provider staked in a provider tier, its slots within what the tier allows; the host id bound to the
 * provider), one registration at a time per connection, one connection per host id; heartbeats (a host whose
 * heartbeats lapsed comes back on its live connection with its next one); a host going down (missed
 * heartbeats or a closed connection) — its sessions end and its slots are freed — and, after `hostTtlMs`
 * down, forgotten; and the provider's stake as the StakingRegistry reports changes to it.
 */
import { type Address, type Hex, hashMessage, hexToBytes } from 'viem';
import { SignatureVerifier } from '../crypto/fastTypedData.js';
import { AthError, hostRegistrationMessage, type PeerMessageOf } from '../protocol/index.js';
import type { HostRecord } from '../store/HostRegistry.js';
import { admitHost } from '../trust/admitHost.js';
import type { StakePosition } from '../trust/StakeGate.js';
import { stakeShortfall } from '../trust/stakePolicy.js';
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
    if (peer.registering) {
      throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'a registration is already in progress' });
    }
    if (peer.hostId) throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'already registered' });
    // Checked asynchronously (signature, stake); the peer can send nothing else until it completes.
    peer.registering = true;
    void this.#verifyAndRegister(peer, message).finally(() => {
      peer.registering = false;
    });
  }

  async #verifyAndRegister(peer: PeerState, message: PeerMessageOf<'register'>): Promise<void> {
    const { store, peers } = this.#ctx;
    try {
      // Exactly what the StakingRegistry's ECDSA.recover takes (65 bytes, v 27/28, low s): this signature is the
      // host's binding in its slash evidence; one the chain cannot recover would make the host unslashable.
      const valid = new SignatureVerifier().verifyStrict(
        message.providerAddress as Address,
        hexToBytes(hashMessage(hostRegistrationMessage(message.hostId, peer.nonce))),
        message.signature as Hex,
      );
      if (!valid) {
        throw new AthError({
          code: 'ATH_ERR_BAD_SIGNATURE',
          shortMessage: 'registration signature does not match the provider address',
        });
      }
      const { hostId, position } = await admitHost({
        message,
        remoteIp: peer.identity.remoteIp,
        settings: this.#ctx.settings,
        stakes: this.#ctx.stakes,
        hosts: store.hosts,
      });
      if (!peers.has(peer.handle.id)) return;
      const existing = store.hosts.get(hostId);
      if (existing?.peerId && existing.peerId !== peer.handle.id && (await this.#stillConnected(existing.peerId))) {
        throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: `host ${hostId} is already connected` });
      }
      if (!peers.has(peer.handle.id)) return;
      if (existing && existing.providerAddress.toLowerCase() !== message.providerAddress.toLowerCase()) {
        throw new AthError({ code: 'ATH_ERR_NOT_ALLOWED', shortMessage: 'host id belongs to another provider' });
      }
      const host = store.hosts.register({
        message,
        hostId,
        peerId: peer.handle.id,
        remoteIp: peer.identity.remoteIp,
        nowMs: this.#ctx.now(),
        nonce: peer.nonce,
      });
      store.hosts.setStake(hostId, position.stakeWei);
      store.hosts.update(hostId, { stakeShortfall: undefined });
      this.#ctx.checkers.syncDrained(host);
      peer.hostId = host.hostId;
      peers.clearDeadline(peer);
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
    const { store } = this.#ctx;
    const lapsed = peer.hostId ? store.hosts.get(peer.hostId) : undefined;
    if (lapsed && lapsed.peerId === undefined && lapsed.state === 'down') {
      // Its heartbeats lapsed (a stall) but this connection is still the host's: it comes back on it.
      this.#reattach(peer, lapsed, message);
      return;
    }
    const host = this.peerHost(peer);
    // The host's word for its load, but never less than the share of its slots signaling itself has leased: a host
    // that reports an idle machine while its players fill it would rank above honest ones (the load term).
    const leasedShare = host.slots.length > 0 ? 1 - host.freeSlots / host.slots.length : 0;
    store.hosts.heartbeat(host.hostId, Math.max(message.load, leasedShare), this.#ctx.now());
    if (host.state === 'down') store.hosts.update(host.hostId, { state: 'up', downSinceMs: undefined });
    // A host that kept its sessions through a lost signaling connection: stop those that ended meanwhile
    // (or that this network never knew: a signaling server that restarted without a shared store).
    for (const slot of message.slots) {
      if (!slot.sessionId || slot.state === 'free') continue;
      // A checker's probe is a session to the host but not in the session store: the CheckerDesk ends it.
      if (this.#ctx.checkers.isProbe(slot.sessionId)) continue;
      const session = store.sessions.get(slot.sessionId);
      if (session?.state === 'ended' || !session) {
        peer.handle.send({ type: 'stop-session', sessionId: slot.sessionId, reason: session?.endReason ?? 'error' });
      }
    }
  }

  /**
   * A host marked down for missed heartbeats speaks again on its live connection: it is up again, its
   * checks resume and the queue is served. Sessions it still runs were ended when it went down: it is told
   * to stop them.
   */
  #reattach(peer: PeerState, host: HostRecord, message: PeerMessageOf<'heartbeat'>): void {
    const { store } = this.#ctx;
    store.hosts.update(host.hostId, { state: 'up', peerId: peer.handle.id, downSinceMs: undefined });
    store.hosts.heartbeat(host.hostId, message.load, this.#ctx.now());
    this.#ctx.log.info({ hostId: host.hostId }, 'host re-attached after missed heartbeats');
    for (const slot of message.slots) {
      if (slot.sessionId && host.slots[slot.slot]?.sessionId !== slot.sessionId) {
        peer.handle.send({ type: 'stop-session', sessionId: slot.sessionId, reason: 'host-lost' });
      }
    }
    this.#ctx.checkers.hostRegistered(host.hostId);
    this.#ctx.matchmaking.serveQueue();
  }

  /** Marks down the hosts whose heartbeats stopped, forgets those down for longer than the TTL (every interval). */
  checkHeartbeats(): void {
    const { settings, store } = this.#ctx;
    const nowMs = this.#ctx.now();
    const deadlineMs = settings.heartbeatIntervalMs * settings.missedHeartbeatsAllowed;
    for (const host of store.hosts.overdue(nowMs, deadlineMs)) {
      this.hostDown(host, `no heartbeat for ${deadlineMs} ms`);
    }
    for (const host of store.hosts.expired(nowMs, settings.hostTtlMs)) {
      this.#ctx.log.info({ hostId: host.hostId }, 'host forgotten: down for longer than its TTL');
      store.hosts.remove(host.hostId);
      this.#ctx.checkers.hostEvicted(host.hostId);
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
    store.hosts.update(host.hostId, { state: 'down', peerId: undefined, downSinceMs: this.#ctx.now() });
    this.#ctx.checkers.hostGone(host.hostId);
    this.#ctx.events.emit('hostDown', { host, why, rendering });
    for (const slot of host.slots) {
      const session = slot.sessionId ? store.sessions.get(slot.sessionId) : undefined;
      if (session) this.#ctx.sessions.end(session, 'host-lost');
    }
    store.hosts.releaseAll(host.hostId);
  }

  /**
   * The StakingRegistry reported a change for a provider: its hosts are ranked by the new stake and drained
   * while it is below its tier's minimum (a withdrawal, a slash), back when restaked.
   */
  async providerStakeChanged(address: `0x${string}`, position: StakePosition): Promise<void> {
    const { store } = this.#ctx;
    const hosts = [...store.hosts.hostsOf(address)];
    if (hosts.length === 0) return;
    const shortfall = await stakeShortfall({
      gate: this.#ctx.stakes,
      settings: this.#ctx.settings.stake,
      address,
      role: 'host',
      position,
    });
    const reason = shortfall ? `stake below its tier: ${shortfall.shortMessage}` : undefined;
    for (const host of hosts) {
      store.hosts.setStake(host.hostId, position.stakeWei);
      if (host.stakeShortfall !== reason) {
        this.#ctx.log.warn({ hostId: host.hostId, shortfall: reason ?? null }, 'host stake changed');
      }
      store.hosts.update(host.hostId, { stakeShortfall: reason });
      this.#ctx.checkers.syncDrained(host);
    }
    if (!reason) this.#ctx.matchmaking.serveQueue();
  }
}
