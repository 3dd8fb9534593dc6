/**
 * The history of earned trust, from the ledger (and the chain for what an operator can claim):
 *   GET /api/checks/rounds?container=&provider=&ok=    decided rounds: verdict, finding, chain time
 *   GET /api/checks/reports?container=&round=&checker=  the checkers' signed reports
 *   GET /api/slashes?operator=&kind=&state=             slashes with their evidence and what the chain took
 *   GET /api/rewards                                    the schedule (next Thursday, next pay period) and periods
 *   GET /api/rewards/:address                           an operator's shares, what it was paid, what it can claim
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Address, Chain, PublicClient, Transport } from 'viem';
import {
  Address as AddressSchema,
  CheckReportsBody,
  CheckRoundsBody,
  HttpErrorBody,
  OperatorRewardsBody,
  type OperatorTrustView,
  RewardKindName,
  RewardsBody,
  SlashesBody,
  SlashKindName,
  SlashStateName,
  Uint64String,
  weiToString,
} from '../../signaling/protocol/index.js';
import { type ChainClock, EPOCH_SEC, epochOf, epochStartSec, stakingRegistryAbi } from '../chain/index.js';
import {
  journalTotals,
  type Ledger,
  listCheckReports,
  listCheckRounds,
  listRewardAllocations,
  listRewardPeriods,
  listSlashes,
} from '../ledger/index.js';
import { parseSlashEvidence } from './slashEvidence.js';
import { toJson } from './toJson.js';

export type TrustRoutesParameters = {
  ledger: Ledger;
  publicClient: PublicClient<Transport, Chain>;
  stakingAddress: Address;
  /** The chain's clock, once the economy is attached (the machine's until then). */
  clock: () => ChainClock | undefined;
  rules: { stakerShareBps: number; checkerPeriodSec: number };
};

const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 }));

/** The rewards schedule now, on the chain's clock (the machine's until the economy is attached). */
export function rewardsSchedule(clock: ChainClock | undefined, rules: TrustRoutesParameters['rules']) {
  const nowSec = clock?.nowSec() ?? BigInt(Math.floor(Date.now() / 1000));
  const epoch = epochOf(nowSec);
  const period = BigInt(rules.checkerPeriodSec);
  return {
    chainNowSec: nowSec.toString(),
    epoch: epoch.toString(),
    nextEpochStartSec: (epochStartSec(epoch) + EPOCH_SEC).toString(),
    checkerPeriodSec: rules.checkerPeriodSec,
    nextCheckerPeriodEndSec: ((nowSec / period + 1n) * period).toString(),
    stakerShareBps: rules.stakerShareBps,
  };
}

/** An operator's checks, slashes and rewards, for its status (`provider status`, the dashboard). */
export async function operatorTrust(
  { ledger, publicClient, stakingAddress, clock, rules }: TrustRoutesParameters,
  address: Address,
): Promise<OperatorTrustView> {
  const schedule = rewardsSchedule(clock(), rules);
  const [[, claimableWei], barredUntil, shares, totals, slashes, rounds] = await Promise.all([
    publicClient.readContract({
      address: stakingAddress,
      abi: stakingRegistryAbi,
      functionName: 'operators',
      args: [address],
    }),
    publicClient.readContract({
      address: stakingAddress,
      abi: stakingRegistryAbi,
      functionName: 'rewardsBarredUntil',
      args: [address],
    }),
    listRewardAllocations(ledger, { operatorAddress: address, limit: 20 }),
    journalTotals(ledger, address.toLowerCase() as Address),
    listSlashes(ledger, { operatorAddress: address, limit: 100 }),
    listCheckRounds(ledger, { providerAddress: address, limit: 20 }),
  ]);
  return {
    schedule,
    rewards: {
      claimableWei: weiToString(claimableWei),
      paidWei: weiToString(totals['reward:credit'] ?? 0n),
      barredUntilSec: barredUntil > BigInt(schedule.chainNowSec) ? barredUntil.toString() : null,
      recent: shares.map(shareView),
    },
    slashes: slashes.map((slash) => {
      const json = slashView(slash);
      let evidenceReports = 0;
      try {
        const evidence = parseSlashEvidence(slash.evidence);
        evidenceReports =
          evidence.type === 'container'
            ? evidence.reports.length
            : evidence.lies.reduce((sum, lie) => sum + 1 + lie.majority.length, 0);
      } catch {
        evidenceReports = 0;
      }
      return {
        kind: json.kind,
        state: json.state,
        reason: json.reason,
        container: json.container,
        round: json.round,
        amountWei: json.amountWei,
        slashedWei: json.slashedWei,
        fromRewardsWei: json.fromRewardsWei,
        fromStakeWei: json.fromStakeWei,
        barredUntilSec: json.barredUntilSec,
        evidenceHash: json.evidenceHash,
        evidenceReports,
        txHash: json.txHash,
        createdAt: json.createdAt,
      };
    }),
    checks: rounds.map(roundView),
  };
}

type ShareRow = Awaited<ReturnType<typeof listRewardAllocations>>[number];
type RoundRow = Awaited<ReturnType<typeof listCheckRounds>>[number];

function shareView(s: ShareRow) {
  return {
    kind: s.kind,
    periodKey: s.periodKey.toString(),
    startSec: s.startSec.toString(),
    endSec: s.endSec.toString(),
    weight: s.weight.toString(),
    amountWei: weiToString(s.amountWei),
    state: s.state,
    payoutState: s.payoutState,
    txHash: s.txHash,
  };
}

function roundView(r: RoundRow) {
  return {
    container: r.container,
    round: r.round.toString(),
    ok: r.ok,
    providerAddress: r.providerAddress,
    finding: r.finding,
    decidedChainSec: r.decidedChainSec === null ? null : r.decidedChainSec.toString(),
    decidedAt: r.decidedAt.toISOString(),
  };
}

export function trustRoutes(parameters: TrustRoutesParameters): FastifyPluginAsyncTypebox {
  const { ledger, publicClient, stakingAddress, clock, rules } = parameters;
  const schedule = () => rewardsSchedule(clock(), rules);

  return async (app) => {
    app.get(
      '/api/checks/rounds',
      {
        schema: {
          summary: 'Decided check rounds: verdict, what was found, whose container, when (chain time)',
          querystring: Type.Object(
            {
              container: Type.Optional(Type.String({ maxLength: 128 })),
              provider: Type.Optional(AddressSchema),
              ok: Type.Optional(Type.Boolean()),
              limit: Limit,
            },
            { additionalProperties: false },
          ),
          response: { 200: CheckRoundsBody, '4xx': HttpErrorBody },
        },
      },
      async (request) => {
        const { container, provider, ok, limit } = request.query;
        const rounds = await listCheckRounds(ledger, {
          ...(container === undefined ? {} : { container }),
          ...(provider === undefined ? {} : { providerAddress: provider }),
          ...(ok === undefined ? {} : { ok }),
          limit: limit ?? 100,
        });
        return { rounds: rounds.map(roundView) };
      },
    );

    app.get(
      '/api/checks/reports',
      {
        schema: {
          summary: 'The checkers’ signed reports (EIP-712 CheckReport) and whether each sided with the majority',
          querystring: Type.Object(
            {
              container: Type.Optional(Type.String({ maxLength: 128 })),
              round: Type.Optional(Uint64String),
              checker: Type.Optional(AddressSchema),
              limit: Limit,
            },
            { additionalProperties: false },
          ),
          response: { 200: CheckReportsBody, '4xx': HttpErrorBody },
        },
      },
      async (request) => {
        const { container, round, checker, limit } = request.query;
        const reports = await listCheckReports(ledger, {
          ...(container === undefined ? {} : { container }),
          ...(round === undefined ? {} : { round: BigInt(round) }),
          ...(checker === undefined ? {} : { checker }),
          limit: limit ?? 100,
        });
        return {
          reports: reports.map((r) => ({
            report: {
              container: r.container,
              checker: r.checker,
              round: r.round.toString(),
              rttMicros: r.rttMicros,
              fpsMilli: r.fpsMilli,
              lossPpm: r.lossPpm,
              ok: r.ok,
              timestamp: r.timestamp.toString(),
            },
            signature: r.signature,
            inMajority: r.inMajority,
            receivedAt: r.receivedAt.toISOString(),
          })),
        };
      },
    );

    app.get(
      '/api/slashes',
      {
        schema: {
          summary: 'Slashes with their evidence (signed reports) and what the chain took',
          querystring: Type.Object(
            {
              operator: Type.Optional(AddressSchema),
              kind: Type.Optional(SlashKindName),
              state: Type.Optional(SlashStateName),
              limit: Limit,
            },
            { additionalProperties: false },
          ),
          response: { 200: SlashesBody, '4xx': HttpErrorBody },
        },
      },
      async (request) => {
        const { operator, kind, state, limit } = request.query;
        const slashes = await listSlashes(ledger, {
          ...(operator === undefined ? {} : { operatorAddress: operator }),
          ...(kind === undefined ? {} : { kind }),
          ...(state === undefined ? {} : { state }),
          limit: limit ?? 100,
        });
        return { slashes: slashes.map(slashView) };
      },
    );

    app.get(
      '/api/rewards',
      {
        schema: {
          summary: 'The rewards schedule (next Thursday, next checker pay period) and the computed periods',
          querystring: Type.Object(
            { kind: Type.Optional(RewardKindName), limit: Limit },
            { additionalProperties: false },
          ),
          response: { 200: RewardsBody, '4xx': HttpErrorBody },
        },
      },
      async (request) => {
        const { kind, limit } = request.query;
        const periods = await listRewardPeriods(ledger, {
          ...(kind === undefined ? {} : { kind }),
          limit: limit ?? 50,
        });
        return {
          schedule: schedule(),
          periods: periods.map((p) => {
            const { stakerEpoch: _taken, ...view } = toJson(p);
            return view;
          }),
        };
      },
    );

    app.get(
      '/api/rewards/:address',
      {
        schema: {
          summary: 'An operator’s reward shares, what it was paid, what it can claim, and whether it is barred',
          params: Type.Object({ address: AddressSchema }),
          response: { 200: OperatorRewardsBody, '4xx': HttpErrorBody },
        },
      },
      async (request) => {
        const address = request.params.address as Address;
        const read = <T>(functionName: 'operators' | 'rewardsBarredUntil') =>
          publicClient.readContract({
            address: stakingAddress,
            abi: stakingRegistryAbi,
            functionName,
            args: [address],
          }) as Promise<T>;
        const [[, claimableWei], barredUntil, shares, totals] = await Promise.all([
          read<readonly [bigint, bigint, bigint, `0x${string}`]>('operators'),
          read<bigint>('rewardsBarredUntil'),
          listRewardAllocations(ledger, { operatorAddress: address, limit: 200 }),
          journalTotals(ledger, address.toLowerCase() as Address),
        ]);
        const view = schedule();
        return {
          address,
          schedule: view,
          claimableWei: weiToString(claimableWei),
          paidWei: weiToString(totals['reward:credit'] ?? 0n),
          barredUntilSec: barredUntil > BigInt(view.chainNowSec) ? barredUntil.toString() : null,
          shares: shares.map(shareView),
        };
      },
    );
  };
}

type SlashRow = Awaited<ReturnType<typeof listSlashes>>[number];

export function slashView(s: SlashRow) {
  const json = toJson(s);
  return {
    operatorAddress: json.operatorAddress,
    kind: json.kind,
    state: json.state,
    reason: json.reason,
    container: json.container,
    round: json.round,
    amountWei: json.amountWei,
    slashedWei: json.slashedWei,
    fromRewardsWei: json.fromRewardsWei,
    fromStakeWei: json.fromStakeWei,
    fromUnbondingWei: json.fromUnbondingWei,
    barredUntilSec: json.barredUntilSec,
    evidenceHash: json.evidenceHash,
    evidence: s.evidence,
    txHash: json.txHash,
    lastError: json.lastError,
    createdAt: json.createdAt,
    confirmedAt: json.confirmedAt,
  };
}
