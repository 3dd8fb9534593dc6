/**
 * The body of `GET /api/providers/:address`: what a provider has running and what it is worth. Signaling's
 * route answers with it, and `ath-edge provider status` and the provider dashboard page validate it, so it
 * lives here where all three may import it.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Address } from './messages.js';
import { WeiString } from './money.js';
import { OperatorTrustView } from './trustBodies.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

export const ProviderHostView = Type.Object({
  hostId: Type.String(),
  state: Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('draining')]),
  gpu: Type.String(),
  country: Type.String(),
  games: Type.Array(Type.String()),
  slots: Type.Integer({ minimum: 0 }),
  freeSlots: Type.Integer({ minimum: 0 }),
  /** Slots leased or streaming right now. */
  sessionsLive: Type.Integer({ minimum: 0 }),
  qualityScore: Type.Number(),
  failedVerdictsInARow: Type.Integer({ minimum: 0 }),
  /** Why the host takes no new sessions (its provider is drained, or its stake is below its tier); null when up. */
  drainReason: Nullable(Type.String({ maxLength: 1024 })),
  priceWeiPerSec: WeiString,
  /** The stake signaling ranks this host by (its provider's, as last read from the chain). */
  stakeWei: WeiString,
  metricsUrl: Type.String(),
  probeUrl: Type.String(),
  lastHeartbeatAgoMs: Type.Integer({ minimum: 0 }),
});

export const ProviderStatusBody = Type.Object({
  address: Address,
  hosts: Type.Array(ProviderHostView, { maxItems: 1024 }),
  slots: Type.Object({ total: Type.Integer(), free: Type.Integer(), busy: Type.Integer() }),
  sessions: Type.Object({
    live: Type.Integer({ minimum: 0 }),
    /** Paid sessions the ledger knows for this provider. */
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
  /**
   * The provider's drain in force (its checkers' confirmed verdicts failed it; kept in the ledger): why, and how
   * far its probation has come; null when it is not drained.
   */
  drain: Nullable(
    Type.Object({
      reason: Type.String({ maxLength: 1024 }),
      hostId: Type.String(),
      round: Type.String({ pattern: '^(0|[1-9][0-9]{0,19})$' }),
      drainedAt: Type.String(),
      probationPasses: Type.Integer({ minimum: 0 }),
      probationNeeded: Type.Integer({ minimum: 1 }),
    }),
  ),
  /** Mean of its up hosts' quality scores (0..1); null without hosts. */
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
    lastChangeAtSec: Type.Integer({ minimum: 0 }),
    unbonding: Nullable(Type.Object({ amountWei: WeiString, unlockAtSec: Type.Integer({ minimum: 0 }) })),
  }),
  slashes: Type.Object({
    count: Type.Integer({ minimum: 0 }),
    slashedWei: WeiString,
    list: Type.Array(
      Type.Object({
        amountWei: WeiString,
        reason: Type.String(),
        container: Nullable(Type.String()),
        state: Type.String(),
        txHash: Nullable(Type.String()),
        createdAt: Type.String(),
      }),
      { maxItems: 1000 },
    ),
  }),
  /** Its checks, slashes (with their evidence's size) and rewards (edge/economy/trustRoutes.ts). */
  trust: OperatorTrustView,
});

export type ProviderStatus = Static<typeof ProviderStatusBody>;
