/**
 * The economy's HTTP bodies (edge/economy's routes answer in these shapes, the browser's wallet and the
 * provider CLI validate them): a wallet's balances, a session's charges, a provider's earnings, the faucet's
 * gift, a studio's registration and play tokens. Money is wei as decimal strings, uint64 values (block
 * numbers, expiries, ids) decimal strings, times ISO 8601 strings. Response schemas also decide what leaves the
 * server (fastify drops every field a schema does not name): a field the ledger adds must be added here.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Address, EndReason, GameId, SessionId, SessionState } from './messages.js';
import { WeiString } from './money.js';

const obj = <T extends Parameters<typeof Type.Object>[0]>(properties: T) =>
  Type.Object(properties, { additionalProperties: false });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

/** A uint64 (block number, unix seconds, row id) as a decimal string. */
export const Uint64String = Type.String({
  pattern: '^(0|[1-9][0-9]{0,19})$',
  description: 'uint64 as a decimal string',
});
/** An ISO 8601 UTC time as `Date.toISOString()` writes it (a pattern, not `format`: the browser's checker knows no formats). */
const Time = Type.String({
  pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{3})?Z$',
  description: 'ISO 8601 UTC time',
});
const Bytes32 = Type.String({ pattern: '^0x[0-9a-f]{64}$' });
const HexBytes = Type.String({ pattern: '^0x[0-9a-fA-F]*$' });

export const AccountRoleName = Type.Union([
  Type.Literal('player'),
  Type.Literal('studio'),
  Type.Literal('provider'),
  Type.Literal('checker'),
]);

export const SettlementStateName = Type.Union([
  Type.Literal('pending'),
  Type.Literal('sending'),
  Type.Literal('sent'),
  Type.Literal('confirmed'),
  Type.Literal('failed'),
  Type.Literal('superseded'),
]);

/**
 * A session as the ledger holds it: the SessionAuth's terms (never its signature: issue 12) and the running
 * totals, and when the chain closed it (released the rest of its reserve).
 */
export const LedgerSessionView = obj({
  sessionId: SessionId,
  payerAddress: Address,
  providerAddress: Address,
  hostId: Type.String(),
  game: Type.String(),
  studioId: Nullable(Type.String()),
  playTokenId: Nullable(Type.String()),
  priceWeiPerSec: WeiString,
  authMaxWei: WeiString,
  authExpirySec: Uint64String,
  state: SessionState,
  endReason: Nullable(EndReason),
  endMessage: Nullable(Type.String()),
  lastTickIndex: Nullable(Type.Integer({ minimum: 0 })),
  deliveredSec: Type.Integer(),
  cumulativeWei: WeiString,
  settledWei: WeiString,
  createdAt: Time,
  startedAt: Nullable(Time),
  endedAt: Nullable(Time),
  chainClosedAt: Nullable(Time),
});

export const UsageTickView = obj({
  sessionId: SessionId,
  tickIndex: Type.Integer({ minimum: 0 }),
  deliveredSec: Type.Integer({ minimum: 0 }),
  amountWei: WeiString,
  cumulativeWei: WeiString,
  cumulativeDeliveredSec: Type.Integer(),
  recordedAt: Time,
});

/** The session's latest voucher as the public sees it: its amounts, not the meter's signature. */
export const VoucherView = obj({
  sessionId: SessionId,
  cumulativeWei: WeiString,
  deliveredSec: Type.Integer(),
  meterAddress: Address,
  updatedAt: Time,
});

/** One row of the settlement outbox: the voucher being redeemed (amounts only) and where its transaction is. */
export const SettlementView = obj({
  settlementId: Uint64String,
  sessionId: SessionId,
  cumulativeWei: WeiString,
  deliveredSec: Type.Integer(),
  meterAddress: Address,
  /** The session's final voucher: its redeem closes the session on chain. */
  final: Type.Boolean(),
  state: SettlementStateName,
  batchId: Nullable(Type.String()),
  attempts: Type.Integer({ minimum: 0 }),
  claimedBy: Nullable(Type.String()),
  claimedAt: Nullable(Time),
  txHash: Nullable(Bytes32),
  txNonce: Nullable(Type.Integer()),
  txFrom: Nullable(Address),
  sentAt: Nullable(Time),
  blockNumber: Nullable(Uint64String),
  confirmedAt: Nullable(Time),
  lastError: Nullable(Type.String()),
  /** Not claimed before this (a retry's backoff); null: at once. */
  notBefore: Nullable(Time),
  createdAt: Time,
  updatedAt: Time,
});

/**
 * `GET /api/sessions/:id/voucher` — for the session's payer or provider only, on a signed request: everything
 * needed to redeem the session's latest voucher without the meter (SessionEscrow.redeem with this auth, its
 * signature, the usage's amounts and the meter's signature over the Usage struct, authHash included).
 */
export const SessionVoucherBody = obj({
  auth: obj({
    sessionId: SessionId,
    player: Address,
    provider: Address,
    maxAmount: WeiString,
    pricePerSecond: WeiString,
    expiry: Uint64String,
  }),
  authSignature: HexBytes,
  usage: Nullable(
    obj({ sessionId: SessionId, authHash: Bytes32, cumulativeAmount: WeiString, deliveredSeconds: Uint64String }),
  ),
  usageSignature: Nullable(HexBytes),
  settledWei: WeiString,
});
export type SessionVoucherBody = Static<typeof SessionVoucherBody>;

/** `GET /api/sessions/:id/charges` — amounts and public chain facts, never a signature (issue 12). */
export const SessionChargesBody = obj({
  session: LedgerSessionView,
  ticks: Type.Array(UsageTickView),
  voucher: Nullable(VoucherView),
  settlements: Type.Array(SettlementView),
  chargedWei: WeiString,
  settledWei: WeiString,
  unsettledWei: WeiString,
  deliveredSec: Type.Integer(),
});
export type SessionChargesBody = Static<typeof SessionChargesBody>;

const StakeView = obj({
  operatorAddress: Address,
  role: Type.Union([Type.Literal('provider'), Type.Literal('checker')]),
  amountWei: WeiString,
  tier: Nullable(Type.String()),
  updatedAt: Time,
});

/** What the ledger knows of a wallet. */
export const AccountLedgerView = obj({
  account: obj({ address: Address, roles: Type.Array(AccountRoleName), createdAt: Time }),
  chargedWei: WeiString,
  settledWei: WeiString,
  unsettledWei: WeiString,
  earnedWei: WeiString,
  slashedWei: WeiString,
  stake: Nullable(StakeView),
  openAuthorizations: Type.Array(
    obj({
      sessionId: SessionId,
      providerAddress: Address,
      game: Type.String(),
      maxWei: WeiString,
      usedWei: WeiString,
      expirySec: Uint64String,
      remainingWei: WeiString,
    }),
  ),
});

/** `GET /api/accounts/:address`: the chain's balances and, when the ledger knows the wallet, its summary. */
export const AccountBody = obj({
  address: Address,
  tokenWei: WeiString,
  escrow: obj({
    balanceWei: WeiString,
    reservedWei: WeiString,
    freeWei: WeiString,
    withdrawRequest: Nullable(obj({ amountWei: WeiString, unlockAtSec: Uint64String })),
  }),
  earningsWei: WeiString,
  ledger: Nullable(AccountLedgerView),
});
export type AccountBody = Static<typeof AccountBody>;

/** `GET /api/providers/:address/earnings`. */
export const ProviderEarningsBody = obj({
  providerAddress: Address,
  sessionCount: Type.Integer({ minimum: 0 }),
  /** Σ metered on its sessions, before fees. */
  grossChargedWei: WeiString,
  /** Σ of that confirmed on chain, before fees. */
  grossSettledWei: WeiString,
  /** Σ net paid to the provider on chain (after the protocol fee). */
  earnedWei: WeiString,
  slashedWei: WeiString,
  /** What the escrow holds for it now (withdrawable). */
  withdrawableWei: WeiString,
  /** Most recent first. */
  sessions: Type.Array(
    obj({
      sessionId: SessionId,
      game: Type.String(),
      state: SessionState,
      cumulativeWei: WeiString,
      settledWei: WeiString,
      earnedWei: WeiString,
      createdAt: Time,
    }),
  ),
});
export type ProviderEarningsBody = Static<typeof ProviderEarningsBody>;

/** `POST /api/faucet` (embedded chain only). */
export const FaucetRequestBody = obj({
  address: Address,
  /** More than the default gift, up to 100,000 test ATH (a provider's minimum stake). */
  athWei: Type.Optional(WeiString),
});
export const FaucetBody = obj({
  address: Address,
  athWei: WeiString,
  ethWei: WeiString,
  ethTx: Bytes32,
  athTx: Bytes32,
});
export type FaucetBody = Static<typeof FaucetBody>;

/** `POST /api/studios` (201): the API key is shown this once. */
export const StudioCreatedBody = obj({
  studioId: Type.String(),
  ownerAddress: Address,
  name: Type.String(),
  apiKey: Type.String(),
  createdAt: Time,
});

/** `POST /api/play-tokens/terms`: the EIP-712 SessionAuth the studio wallet signs. */
export const PlayTokenTermsBody = obj({
  typedData: obj({
    domain: obj({
      name: Type.String(),
      version: Type.String(),
      chainId: Type.Integer({ minimum: 1 }),
      verifyingContract: Address,
    }),
    types: Type.Record(Type.String(), Type.Array(obj({ name: Type.String(), type: Type.String() }))),
    primaryType: Type.Literal('SessionAuth'),
    message: obj({
      sessionId: SessionId,
      player: Address,
      provider: Address,
      maxAmount: WeiString,
      pricePerSecond: WeiString,
      expiry: Uint64String,
    }),
  }),
});
export type PlayTokenTermsBody = Static<typeof PlayTokenTermsBody>;

/** `POST /api/play-tokens` (201). */
export const PlayTokenBody = obj({
  token: Type.String(),
  playTokenId: Type.String(),
  game: GameId,
  origin: Type.String(),
  capWei: WeiString,
  sessionId: SessionId,
  expiresAt: Time,
});
export type PlayTokenBody = Static<typeof PlayTokenBody>;
