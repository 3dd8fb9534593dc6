/** HostRecord / SessionRecord ⇄ the JSON Redis holds (signaling/protocol/cluster.ts): bigints as decimal strings. */
import type { SessionRecord } from '../../hub/SessionRecord.js';
import type { HostWire, SessionWire } from '../../protocol/cluster.js';
import { weiFromString, weiToString } from '../../protocol/index.js';
import type { HostRecord, SlotRecord } from '../HostRegistry.js';

export function hostToWire(host: HostRecord): HostWire {
  return {
    hostId: host.hostId,
    peerId: host.peerId ?? null,
    providerAddress: host.providerAddress,
    region: host.region,
    gpu: host.gpu,
    encoder: host.encoder,
    games: [...host.games.values()],
    priceWeiPerSec: weiToString(host.priceWeiPerSec),
    endpoints: host.endpoints,
    state: host.state,
    load: Math.min(1, Math.max(0, host.load)),
    lastHeartbeatMs: Math.max(0, Math.round(host.lastHeartbeatMs)),
    registeredAtMs: Math.max(0, Math.round(host.registeredAtMs)),
    slotCount: host.slots.length,
    probeReserve: host.probeReserve,
    qualityScore: Math.min(1, Math.max(0, host.qualityScore)),
    failedVerdictsInARow: host.failedVerdictsInARow,
    drained: host.drained,
    stakeWei: weiToString(host.stakeWei),
    ...(host.registration ? { registration: host.registration } : {}),
    ...(host.registrationId ? { registrationId: host.registrationId } : {}),
    remoteIp: host.remoteIp,
    downSinceMs: host.downSinceMs === undefined ? null : Math.max(0, Math.round(host.downSinceMs)),
    drainReason: host.drainReason?.slice(0, 1024) ?? null,
    stakeShortfall: host.stakeShortfall?.slice(0, 1024) ?? null,
  };
}

/** The record for a wire host with these slots (from Redis, or this copy's own when the feed carries none). */
export function hostFromWire(wire: HostWire, slots: SlotRecord[]): HostRecord {
  const priceWeiPerSec = weiFromString(wire.priceWeiPerSec);
  const stakeWei = weiFromString(wire.stakeWei);
  return {
    hostId: wire.hostId,
    peerId: wire.peerId ?? undefined,
    remoteIp: wire.remoteIp ?? '',
    providerAddress: wire.providerAddress as `0x${string}`,
    region: wire.region,
    gpu: wire.gpu,
    encoder: wire.encoder,
    games: new Map(wire.games.map((game) => [game.id, game])),
    priceWeiPerSec,
    endpoints: wire.endpoints,
    state: wire.state,
    downSinceMs: wire.downSinceMs ?? undefined,
    load: wire.load,
    lastHeartbeatMs: wire.lastHeartbeatMs,
    registeredAtMs: wire.registeredAtMs,
    slots,
    freeSlots: slots.filter((slot) => slot.state === 'free').length,
    probeReserve: wire.probeReserve ?? 0,
    qualityScore: wire.qualityScore,
    failedVerdictsInARow: wire.failedVerdictsInARow,
    drained: wire.drained,
    drainReason: wire.drainReason ?? undefined,
    stakeShortfall: wire.stakeShortfall ?? undefined,
    stakeWei,
    priceF: Number(priceWeiPerSec),
    stakeF: Number(stakeWei),
    registration: wire.registration
      ? { nonce: wire.registration.nonce, signature: wire.registration.signature as `0x${string}` }
      : undefined,
    ...(wire.registrationId ? { registrationId: wire.registrationId } : {}),
  };
}

export function slotFromValue(slot: number, value: string | undefined): SlotRecord {
  if (!value || value === 'free') return { slot, state: 'free', sessionId: undefined };
  const [state, sessionId] = value.split('|');
  return { slot, state: state === 'busy' ? 'busy' : 'leased', sessionId };
}

export function slotValue(slot: SlotRecord): string {
  return slot.state === 'free' || !slot.sessionId ? 'free' : `${slot.state}|${slot.sessionId}`;
}

export function sessionToWire(session: SessionRecord): SessionWire {
  return {
    id: session.id,
    owner: session.owner,
    playerId: session.playerId,
    playerPeerId: session.playerPeerId ?? null,
    playerAddressKey: session.playerAddressKey,
    game: session.game,
    codecs: session.codecs,
    ...(session.quality ? { quality: session.quality } : {}),
    maxPriceWeiPerSec: session.maxPriceWeiPerSec === undefined ? null : weiToString(session.maxPriceWeiPerSec),
    state: session.state,
    hostId: session.hostId ?? null,
    slot: session.slot ?? null,
    priceWeiPerSec: weiToString(session.priceWeiPerSec),
    createdAtMs: session.createdAtMs,
    queuedAtMs: session.queuedAtMs ?? null,
    leasedAtMs: session.leasedAtMs ?? null,
    sponsorship: session.sponsorship
      ? { ...session.sponsorship, priceWeiPerSec: weiToString(session.sponsorship.priceWeiPerSec) }
      : null,
    streamingAtMs: session.streamingAtMs ?? null,
    setupObserved: session.setupObserved,
    endedAtMs: session.endedAtMs ?? null,
    endReason: session.endReason ?? null,
    endMessage: session.endMessage ?? null,
    queueIfBusy: session.queueIfBusy,
    probeHostIds: session.probeHostIds,
    decision: session.decision
      ? {
          ...session.decision,
          candidates: session.decision.candidates.map((candidate) => ({
            ...candidate,
            priceWeiPerSec: weiToString(candidate.priceWeiPerSec),
            stakeWei: weiToString(candidate.stakeWei),
          })),
        }
      : null,
    payerAddress: session.payerAddress ?? null,
    location: session.location ?? null,
    networkPrefix: session.networkPrefix ?? null,
  };
}

export function sessionFromWire(wire: SessionWire): SessionRecord {
  const session: SessionRecord = {
    id: wire.id,
    owner: wire.owner,
    playerId: wire.playerId,
    playerPeerId: wire.playerPeerId ?? undefined,
    playerAddressKey: wire.playerAddressKey ?? '',
    game: wire.game,
    codecs: wire.codecs,
    ...(wire.quality ? { quality: wire.quality } : {}),
    maxPriceWeiPerSec: wire.maxPriceWeiPerSec === null ? undefined : weiFromString(wire.maxPriceWeiPerSec),
    state: wire.state,
    hostId: wire.hostId ?? undefined,
    slot: wire.slot ?? undefined,
    priceWeiPerSec: weiFromString(wire.priceWeiPerSec),
    createdAtMs: wire.createdAtMs,
    queuedAtMs: wire.queuedAtMs ?? undefined,
    leasedAtMs: wire.leasedAtMs ?? undefined,
    streamingAtMs: wire.streamingAtMs ?? undefined,
    setupObserved: wire.setupObserved,
    endedAtMs: wire.endedAtMs ?? undefined,
    endReason: wire.endReason ?? undefined,
    endMessage: wire.endMessage ?? undefined,
    queueIfBusy: wire.queueIfBusy,
    probeHostIds: wire.probeHostIds,
    decision: wire.decision
      ? {
          ...wire.decision,
          candidates: wire.decision.candidates.map((candidate) => ({
            ...candidate,
            priceWeiPerSec: weiFromString(candidate.priceWeiPerSec),
            stakeWei: weiFromString(candidate.stakeWei),
          })),
        }
      : undefined,
    payerAddress: (wire.payerAddress ?? undefined) as `0x${string}` | undefined,
  };
  if (wire.location) session.location = { ...wire.location };
  if (wire.networkPrefix) session.networkPrefix = wire.networkPrefix;
  if (wire.sponsorship) {
    session.sponsorship = {
      sessionId: wire.sponsorship.sessionId as `0x${string}`,
      providerAddress: wire.sponsorship.providerAddress as `0x${string}`,
      priceWeiPerSec: weiFromString(wire.sponsorship.priceWeiPerSec),
      playTokenId: wire.sponsorship.playTokenId,
    };
  }
  return session;
}
