/**
 * `GET /api/providers/:address`: what a provider has running and what it is worth — its hosts with their
 * slots, live sessions and quality score (signaling's registry), its earnings (ledger + escrow), its stake
 * (StakingRegistry, read fresh) and its slashes (the ledger's outbox of decided slashes). The CLI's
 * `ath-edge provider status` and the provider dashboard page both read it and validate it with the same schema,
 * signaling/protocol/providerStatus.ts.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type Static, Type } from '@sinclair/typebox';
import type { Address, Chain, PublicClient, Transport } from 'viem';
import type { HostRecord, SignalingHub } from '../../signaling/index.js';
import {
  Address as AddressSchema,
  HttpErrorBody,
  type ProviderHostView,
  type ProviderStatus,
  ProviderStatusBody,
  weiToString,
} from '../../signaling/protocol/index.js';
import { type ChainSettings, readOperatorStake, sessionEscrowAbi } from '../chain/index.js';
import { type Ledger, listSlashes, providerEarnings } from '../ledger/index.js';
import { operatorTrust, type TrustRoutesParameters } from './trustRoutes.js';

export type ProviderStatusRoutesParameters = {
  ledger: Ledger;
  chain: ChainSettings;
  publicClient: PublicClient<Transport, Chain>;
  /** The hub, once the economy is attached to it (the route answers without hosts before). */
  hub: () => SignalingHub | undefined;
  /** Checks, slashes and rewards (edge/economy/trustRoutes.ts). */
  trust: TrustRoutesParameters;
};

function hostView(host: HostRecord, nowMs: number): Static<typeof ProviderHostView> {
  return {
    hostId: host.hostId,
    state: host.drained && host.state === 'up' ? 'draining' : host.state,
    gpu: host.gpu,
    country: host.region.country,
    games: [...host.games.keys()],
    slots: host.slots.length,
    freeSlots: host.freeSlots,
    sessionsLive: host.slots.filter((slot) => slot.state !== 'free').length,
    qualityScore: host.qualityScore,
    failedVerdictsInARow: host.failedVerdictsInARow,
    drainReason: host.drained ? (host.drainReason ?? 'drained') : null,
    priceWeiPerSec: weiToString(host.priceWeiPerSec),
    stakeWei: weiToString(host.stakeWei),
    metricsUrl: host.endpoints.metricsUrl,
    probeUrl: host.endpoints.probeUrl,
    lastHeartbeatAgoMs: Math.max(0, Math.round(nowMs - host.lastHeartbeatMs)),
  };
}

export function providerStatusRoutes({
  ledger,
  chain,
  publicClient,
  hub,
  trust,
}: ProviderStatusRoutesParameters): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/api/providers/:address',
      {
        schema: {
          summary: 'A provider’s hosts (slots, live sessions, quality), earnings, stake and slashes',
          params: Type.Object({ address: AddressSchema }),
          response: { 200: ProviderStatusBody, '4xx': HttpErrorBody },
        },
      },
      async (request): Promise<ProviderStatus> => {
        const address = request.params.address as Address;
        const [earned, withdrawableWei, stake, slashes, trustView] = await Promise.all([
          providerEarnings(ledger, { providerAddress: address, limit: 10 }),
          publicClient.readContract({
            address: chain.escrowAddress,
            abi: sessionEscrowAbi,
            functionName: 'earnings',
            args: [address],
          }),
          readOperatorStake({ publicClient, stakingAddress: chain.stakingAddress, operator: address }),
          listSlashes(ledger, { operatorAddress: address, limit: 100 }),
          operatorTrust(trust, address),
        ]);
        const nowMs = Date.now();
        const signaling = hub();
        const hosts = [...(signaling?.hosts.hostsOf(address) ?? [])].map((host) => hostView(host, nowMs));
        const drain = signaling?.checkers.drainOf(address);
        const up = hosts.filter((host) => host.state !== 'down');
        const total = up.reduce((sum, host) => sum + host.slots, 0);
        const free = up.reduce((sum, host) => sum + host.freeSlots, 0);
        return {
          address,
          hosts,
          slots: { total, free, busy: total - free },
          sessions: {
            live: hosts.reduce((sum, host) => sum + host.sessionsLive, 0),
            total: earned.sessionCount,
            recent: earned.sessions.map((session) => ({
              sessionId: session.sessionId,
              game: session.game,
              state: session.state,
              cumulativeWei: weiToString(session.cumulativeWei),
              earnedWei: weiToString(session.earnedWei),
              createdAt: session.createdAt.toISOString(),
            })),
          },
          drain: drain
            ? {
                reason: drain.reason,
                hostId: drain.hostId,
                round: String(drain.round),
                drainedAt: new Date(drain.drainedAtMs).toISOString(),
                probationPasses: drain.probationPasses,
                probationNeeded: signaling?.checkers.probationPasses ?? drain.probationPasses + 1,
              }
            : null,
          qualityScore: up.length ? up.reduce((sum, host) => sum + host.qualityScore, 0) / up.length : null,
          earnings: {
            grossChargedWei: weiToString(earned.grossChargedWei),
            grossSettledWei: weiToString(earned.grossSettledWei),
            earnedWei: weiToString(earned.earnedWei),
            withdrawableWei: weiToString(withdrawableWei),
          },
          stake: {
            stakeWei: weiToString(stake.stakeWei),
            tier: stake.tier ?? (stake.stakeWei > 0n ? stake.tierId : null),
            minStakeWei: weiToString(stake.minStakeWei),
            rewardsWei: weiToString(stake.rewardsWei),
            lastChangeAtSec: Number(stake.lastChangeAtSec),
            unbonding: stake.unbonding
              ? { amountWei: weiToString(stake.unbonding.amountWei), unlockAtSec: Number(stake.unbonding.unlockAtSec) }
              : null,
          },
          slashes: {
            count: slashes.length,
            slashedWei: weiToString(earned.slashedWei),
            list: slashes.map((slash) => ({
              amountWei: weiToString(slash.amountWei),
              reason: slash.reason,
              container: slash.container,
              state: slash.state,
              txHash: slash.txHash,
              createdAt: slash.createdAt.toISOString(),
            })),
          },
          trust: trustView,
        };
      },
    );
  };
}
