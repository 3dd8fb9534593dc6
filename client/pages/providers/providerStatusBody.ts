/**
 * The body of `GET /api/providers/:address` as the dashboard reads it — a mirror of the fields it shows
 * from `edge/economy/providerStatus.ts` (the client may import only signaling/protocol, see httpApi.ts).
 */
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { WeiString } from '../../../signaling/protocol/index.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

export const ProviderStatusBody = Type.Object({
  address: Type.String({ pattern: '^0x[0-9a-fA-F]{40}$' }),
  hosts: Type.Array(
    Type.Object({
      hostId: Type.String(),
      state: Type.String(),
      gpu: Type.String(),
      country: Type.String(),
      games: Type.Array(Type.String()),
      slots: Type.Integer({ minimum: 0 }),
      freeSlots: Type.Integer({ minimum: 0 }),
      sessionsLive: Type.Integer({ minimum: 0 }),
      qualityScore: Type.Number(),
      priceWeiPerSec: WeiString,
      stakeWei: WeiString,
      metricsUrl: Type.String(),
    }),
    { maxItems: 1024 },
  ),
  slots: Type.Object({ total: Type.Integer(), free: Type.Integer(), busy: Type.Integer() }),
  sessions: Type.Object({
    live: Type.Integer({ minimum: 0 }),
    total: Type.Integer({ minimum: 0 }),
    recent: Type.Array(
      Type.Object({
        sessionId: Type.String(),
        game: Type.String(),
        state: Type.String(),
        cumulativeWei: WeiString,
        earnedWei: WeiString,
        createdAt: Type.String(),
      }),
      { maxItems: 100 },
    ),
  }),
  qualityScore: Nullable(Type.Number()),
  earnings: Type.Object({
    grossChargedWei: WeiString,
    grossSettledWei: WeiString,
    earnedWei: WeiString,
    withdrawableWei: WeiString,
  }),
  stake: Type.Object({
    stakeWei: WeiString,
    tier: Nullable(Type.String()),
    minStakeWei: WeiString,
    rewardsWei: WeiString,
    unbonding: Nullable(Type.Object({ amountWei: WeiString, unlockAtSec: Type.Integer({ minimum: 0 }) })),
  }),
  slashes: Type.Object({
    count: Type.Integer({ minimum: 0 }),
    slashedWei: WeiString,
    list: Type.Array(
      Type.Object({
        amountWei: WeiString,
        reason: Type.String(),
        state: Type.String(),
        txHash: Nullable(Type.String()),
        createdAt: Type.String(),
      }),
      { maxItems: 1000 },
    ),
  }),
});

export type ProviderStatusView = Static<typeof ProviderStatusBody>;

export const providerStatusCheck = TypeCompiler.Compile(ProviderStatusBody);
