/**
 * The HTTP bodies of earned trust (issue 14): checks (decided rounds and the checkers' signed reports), slashes
 * with their evidence, and rewards (the epochs and pay periods, each operator's share, what the chain holds for
 * it to claim). edge/economy's trust routes answer in these shapes; `ath-edge provider status` and the provider
 * dashboard validate them. Money is wei as decimal strings, uint64 values decimal strings, times ISO 8601.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Uint64String } from './economyBodies.js';
import { Address, CheckReportFields } from './messages.js';
import { WeiString } from './money.js';

const obj = <T extends Parameters<typeof Type.Object>[0]>(properties: T) =>
  Type.Object(properties, { additionalProperties: false });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);
const Time = Type.String({
  pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{3})?Z$',
  description: 'ISO 8601 UTC time',
});
const Bytes32 = Type.String({ pattern: '^0x[0-9a-f]{64}$' });
const Signature = Type.String({ pattern: '^0x[0-9a-fA-F]{130,}$', maxLength: 4096 });

export const RoundFindingName = Type.Union([
  Type.Literal('ok'),
  Type.Literal('down'),
  Type.Literal('below-spec'),
  Type.Literal('far-below-spec'),
  Type.Literal('fraud'),
]);

export const CheckRoundView = obj({
  container: Type.String(),
  round: Uint64String,
  ok: Type.Boolean(),
  providerAddress: Nullable(Address),
  finding: Nullable(RoundFindingName),
  /** When it was decided, on the chain's clock (unix seconds). */
  decidedChainSec: Nullable(Uint64String),
  decidedAt: Time,
});

export const CheckReportView = obj({
  report: CheckReportFields,
  signature: Signature,
  /** null until its round is decided. */
  inMajority: Nullable(Type.Boolean()),
  receivedAt: Time,
});

export const CheckRoundsBody = obj({ rounds: Type.Array(CheckRoundView, { maxItems: 1000 }) });
export const CheckReportsBody = obj({ reports: Type.Array(CheckReportView, { maxItems: 1000 }) });

export const SlashKindName = Type.Union([Type.Literal('downtime'), Type.Literal('fraud'), Type.Literal('checker-lie')]);
export const SlashStateName = Type.Union([
  Type.Literal('pending'),
  Type.Literal('sent'),
  Type.Literal('confirmed'),
  Type.Literal('failed'),
]);

export const SlashView = obj({
  operatorAddress: Address,
  kind: SlashKindName,
  state: SlashStateName,
  reason: Type.String(),
  container: Nullable(Type.String()),
  round: Nullable(Uint64String),
  /** What the rules take (rate × stake unit when decided). */
  amountWei: WeiString,
  /** What the chain took, once confirmed: from unclaimed rewards first, then stake, then unbonding stake. */
  slashedWei: Nullable(WeiString),
  fromRewardsWei: Nullable(WeiString),
  fromStakeWei: Nullable(WeiString),
  fromUnbondingWei: Nullable(WeiString),
  /** A checker slash: barred from rewards until then (unix seconds, chain time). */
  barredUntilSec: Nullable(Uint64String),
  evidenceHash: Bytes32,
  /** The signed reports (and a container's host binding) the StakingRegistry verified. */
  evidence: Type.Unknown(),
  txHash: Nullable(Bytes32),
  lastError: Nullable(Type.String()),
  createdAt: Time,
  confirmedAt: Nullable(Time),
});

export const SlashesBody = obj({ slashes: Type.Array(SlashView, { maxItems: 1000 }) });

export const RewardKindName = Type.Union([Type.Literal('stakers'), Type.Literal('checkers')]);

export const RewardPeriodView = obj({
  kind: RewardKindName,
  /** stakers: the epoch number; checkers: the period's start (unix seconds). */
  periodKey: Uint64String,
  startSec: Uint64String,
  endSec: Uint64String,
  /** New pool money, what earlier periods left, what this one held, and what it allocated. */
  freshWei: WeiString,
  carriedInWei: WeiString,
  poolWei: WeiString,
  allocatedWei: WeiString,
  stakerPartWei: WeiString,
  recipients: Type.Integer({ minimum: 0 }),
  computedAt: Time,
});

export const RewardShareView = obj({
  kind: RewardKindName,
  periodKey: Uint64String,
  startSec: Uint64String,
  endSec: Uint64String,
  /** stakers: the stake held through the epoch (wei); checkers: reports that agreed with confirmed majorities. */
  weight: Type.String({ pattern: '^[0-9]{1,78}$' }),
  amountWei: WeiString,
  state: Type.Union([Type.Literal('pending'), Type.Literal('paid'), Type.Literal('skipped')]),
  payoutState: Type.Union([
    Type.Literal('pending'),
    Type.Literal('sent'),
    Type.Literal('confirmed'),
    Type.Literal('failed'),
  ]),
  txHash: Nullable(Bytes32),
});

export const RewardsScheduleView = obj({
  /** The chain's time now (unix seconds) and the staking epoch it is in. */
  chainNowSec: Uint64String,
  epoch: Uint64String,
  /** The next Thursday 00:00 UTC: when this epoch's stakers' rewards are computed and paid. */
  nextEpochStartSec: Uint64String,
  checkerPeriodSec: Type.Integer({ minimum: 1 }),
  nextCheckerPeriodEndSec: Uint64String,
  /** The stakers' part of the rewards pool, basis points. */
  stakerShareBps: Type.Integer({ minimum: 0, maximum: 10_000 }),
});

export const RewardsBody = obj({
  schedule: RewardsScheduleView,
  periods: Type.Array(RewardPeriodView, { maxItems: 1000 }),
});

export const OperatorRewardsBody = obj({
  address: Address,
  schedule: RewardsScheduleView,
  /** Credited on chain and not yet claimed (`claimRewards`); slashes take it first. */
  claimableWei: WeiString,
  /** Σ paid to this operator (stakers' rewards and checker pay), from the ledger. */
  paidWei: WeiString,
  /** Barred from rewards until then (unix seconds, chain time); null when not barred. */
  barredUntilSec: Nullable(Uint64String),
  shares: Type.Array(RewardShareView, { maxItems: 1000 }),
});

/** A slash as a provider or checker sees it in its status (the evidence itself: `GET /api/slashes`). */
export const SlashSummaryView = obj({
  kind: SlashKindName,
  state: SlashStateName,
  reason: Type.String(),
  container: Nullable(Type.String()),
  round: Nullable(Uint64String),
  amountWei: WeiString,
  slashedWei: Nullable(WeiString),
  fromRewardsWei: Nullable(WeiString),
  fromStakeWei: Nullable(WeiString),
  barredUntilSec: Nullable(Uint64String),
  evidenceHash: Bytes32,
  /** Signed reports in the evidence (a container's failing majority, or a checker's contradicted reports). */
  evidenceReports: Type.Integer({ minimum: 0 }),
  txHash: Nullable(Bytes32),
  createdAt: Time,
});

/** What earned trust says about one operator: its checks, its slashes, its rewards and the schedule. */
export const OperatorTrustView = obj({
  schedule: RewardsScheduleView,
  rewards: obj({
    claimableWei: WeiString,
    paidWei: WeiString,
    barredUntilSec: Nullable(Uint64String),
    recent: Type.Array(RewardShareView, { maxItems: 20 }),
  }),
  slashes: Type.Array(SlashSummaryView, { maxItems: 100 }),
  /** Its containers' latest decided rounds. */
  checks: Type.Array(CheckRoundView, { maxItems: 20 }),
});

export type OperatorTrustView = Static<typeof OperatorTrustView>;
export type CheckRoundsBody = Static<typeof CheckRoundsBody>;
export type CheckReportsBody = Static<typeof CheckReportsBody>;
export type SlashesBody = Static<typeof SlashesBody>;
export type RewardsBody = Static<typeof RewardsBody>;
export type OperatorRewardsBody = Static<typeof OperatorRewardsBody>;
