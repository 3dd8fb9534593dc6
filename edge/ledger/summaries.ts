import { type StaticDecode, Type } from '@sinclair/typebox';
import type { Address, Hex } from 'viem';
import { SessionState } from '../../signaling/protocol/index.js';
import { type Account, getAccount } from './accounts.js';
import type { Queryable } from './db/Db.js';
import { journalTotals } from './journal.js';
import { listSettlements, type Settlement } from './outbox.js';
import {
  AddressColumn,
  Bytes32Column,
  decodeOne,
  decodeRows,
  Row,
  SafeIntColumn,
  Uint64Column,
  WeiColumn,
} from './rows.js';
import { getSession, type Session } from './sessions.js';
import { getStake, type Stake } from './stakes.js';
import { listUsageTicks, type UsageTick } from './usageTicks.js';
import { assertCount, normalizeAddress, normalizeBytes32 } from './values.js';
import { latestVoucher, type Voucher } from './vouchers.js';

const OpenAuthorizationRow = Row({
  sessionId: Bytes32Column,
  providerAddress: AddressColumn,
  game: Type.String(),
  maxWei: WeiColumn,
  usedWei: WeiColumn,
  expirySec: Uint64Column,
});

/** A live session's authorization: what the provider may still claim from the payer's escrow. */
export type OpenAuthorization = StaticDecode<typeof OpenAuthorizationRow> & { remainingWei: bigint };

export type AccountSummary = {
  account: Account;
  /** As payer: Σ metered charges. */
  chargedWei: bigint;
  /** As payer: Σ confirmed on chain. */
  settledWei: bigint;
  /** chargedWei − settledWei: charged, not yet settled. */
  unsettledWei: bigint;
  /** As provider: Σ net earnings confirmed on chain (after the protocol fee). */
  earnedWei: bigint;
  /** Σ slashes confirmed on chain. */
  slashedWei: bigint;
  stake: Stake | undefined;
  openAuthorizations: OpenAuthorization[];
};

/** What the ledger knows of a wallet (GET /api/accounts/:address adds the chain's balances). Undefined if unknown. */
export async function accountSummary(db: Queryable, address: string): Promise<AccountSummary | undefined> {
  const normalized = normalizeAddress(address, 'address');
  const account = await getAccount(db, normalized);
  if (account === undefined) return undefined;
  const totals = await journalTotals(db, normalized);
  const settled = decodeOne(
    Row({ settledWei: WeiColumn }),
    (
      await db.query(
        `select coalesce(sum(settled_wei), 0)::text as "settledWei" from sessions where payer_address = $1`,
        [normalized],
      )
    ).rows,
  );
  const open = decodeRows(
    OpenAuthorizationRow,
    (
      await db.query(
        `select id as "sessionId", provider_address as "providerAddress", game, auth_max_wei::text as "maxWei",
                cumulative_wei::text as "usedWei", auth_expiry_sec::text as "expirySec"
           from sessions where payer_address = $1 and state <> 'ended' order by created_at`,
        [normalized],
      )
    ).rows,
  );
  const chargedWei = totals['charge:debit'] ?? 0n;
  return {
    account,
    chargedWei,
    settledWei: settled.settledWei,
    unsettledWei: chargedWei - settled.settledWei,
    earnedWei: totals['provider_earning:credit'] ?? 0n,
    slashedWei: totals['slash:debit'] ?? 0n,
    stake: await getStake(db, normalized),
    openAuthorizations: open.map((row) => ({ ...row, remainingWei: row.maxWei - row.usedWei })),
  };
}

export type PayerCommitmentsParameters = { payerAddress: string; excludeSessionId?: string };

/**
 * What a payer's sessions may still draw from its escrow: each open session its whole remaining cap (cap −
 * settled); each ended one its unsettled charges — or, when it is registered on chain and its reserve not yet
 * released, its remaining cap (the chain still holds it); nothing once the chain closed it. What a new
 * authorization must leave room for.
 */
export async function payerCommitmentsWei(
  db: Queryable,
  { payerAddress, excludeSessionId }: PayerCommitmentsParameters,
): Promise<bigint> {
  const payer = normalizeAddress(payerAddress, 'payerAddress');
  const exclude = excludeSessionId === undefined ? null : normalizeBytes32(excludeSessionId, 'excludeSessionId');
  const { rows } = await db.query(
    `select coalesce(sum(case
              when state <> 'ended' then auth_max_wei - settled_wei
              when chain_closed_at is not null then 0
              when settled_wei > 0 then auth_max_wei - settled_wei
              else cumulative_wei - settled_wei
            end), 0)::text as "committedWei"
       from sessions where payer_address = $1 and ($2::text is null or id <> $2)`,
    [payer, exclude],
  );
  return decodeOne(Row({ committedWei: WeiColumn }), rows).committedWei;
}

export type SessionCharges = {
  session: Session;
  ticks: UsageTick[];
  voucher: Voucher | undefined;
  settlements: Settlement[];
  chargedWei: bigint;
  settledWei: bigint;
  unsettledWei: bigint;
  deliveredSec: number;
};

/** A session's metering and settlement (GET /api/sessions/:id/charges). Undefined if unknown. */
export async function sessionCharges(db: Queryable, sessionId: Hex): Promise<SessionCharges | undefined> {
  const id = normalizeBytes32(sessionId, 'sessionId');
  const session = await getSession(db, id);
  if (session === undefined) return undefined;
  return {
    session,
    ticks: await listUsageTicks(db, { sessionId: id }),
    voucher: await latestVoucher(db, id),
    settlements: await listSettlements(db, { sessionId: id }),
    chargedWei: session.cumulativeWei,
    settledWei: session.settledWei,
    unsettledWei: session.cumulativeWei - session.settledWei,
    deliveredSec: session.deliveredSec,
  };
}

const ProviderTotalsRow = Row({ sessionCount: SafeIntColumn, grossChargedWei: WeiColumn, grossSettledWei: WeiColumn });
const ProviderSessionRow = Row({
  sessionId: Bytes32Column,
  game: Type.String(),
  state: SessionState,
  cumulativeWei: WeiColumn,
  settledWei: WeiColumn,
  earnedWei: WeiColumn,
  createdAt: Type.Date(),
});

export type ProviderEarnings = {
  providerAddress: Address;
  sessionCount: number;
  /** Σ metered on its sessions, before fees. */
  grossChargedWei: bigint;
  /** Σ of that confirmed on chain, before fees. */
  grossSettledWei: bigint;
  /** Σ net paid to the provider on chain: grossSettled minus the protocol fee, to the wei. */
  earnedWei: bigint;
  slashedWei: bigint;
  /** Most recent sessions first. */
  sessions: StaticDecode<typeof ProviderSessionRow>[];
};

export type ProviderEarningsParameters = {
  providerAddress: string /** sessions listed, default 100 */;
  limit?: number;
};

/** A provider's earnings (GET /api/providers/:address/earnings). */
export async function providerEarnings(
  db: Queryable,
  { providerAddress, limit = 100 }: ProviderEarningsParameters,
): Promise<ProviderEarnings> {
  const provider = normalizeAddress(providerAddress, 'providerAddress');
  assertCount(limit, 'limit', 10_000);
  const totals = decodeOne(
    ProviderTotalsRow,
    (
      await db.query(
        `select count(*) as "sessionCount", coalesce(sum(cumulative_wei), 0)::text as "grossChargedWei",
                coalesce(sum(settled_wei), 0)::text as "grossSettledWei"
           from sessions where provider_address = $1`,
        [provider],
      )
    ).rows,
  );
  const journal = await journalTotals(db, provider);
  const sessions = decodeRows(
    ProviderSessionRow,
    (
      await db.query(
        `select s.id as "sessionId", s.game, s.state, s.cumulative_wei::text as "cumulativeWei",
                s.settled_wei::text as "settledWei",
                coalesce((select sum(j.amount_wei) from journal j where j.session_id = s.id and j.account = $1
                            and j.kind = 'provider_earning'), 0)::text as "earnedWei",
                s.created_at as "createdAt"
           from sessions s where s.provider_address = $1 order by s.created_at desc, s.id limit $2`,
        [provider, limit],
      )
    ).rows,
  );
  return {
    providerAddress: provider,
    sessionCount: totals.sessionCount,
    grossChargedWei: totals.grossChargedWei,
    grossSettledWei: totals.grossSettledWei,
    earnedWei: journal['provider_earning:credit'] ?? 0n,
    slashedWei: journal['slash:debit'] ?? 0n,
    sessions,
  };
}

export type PayerDeliveredSecElsewhereParameters = { payerAddress: string; exceptProviderAddress: string };

/**
 * Seconds a payer has been billed for in sessions with providers other than one: its record on the network. The
 * checker desk weighs a payer's word against a provider by it (`contradictionMinPayerSec`): a wallet made to
 * contradict one host has none, and each second of it costs what play on other hosts costs.
 */
export async function payerDeliveredSecElsewhere(
  db: Queryable,
  { payerAddress, exceptProviderAddress }: PayerDeliveredSecElsewhereParameters,
): Promise<number> {
  const { rows } = await db.query(
    `select coalesce(sum(delivered_sec), 0)::text as "sec" from sessions
      where payer_address = $1 and provider_address <> $2`,
    [normalizeAddress(payerAddress, 'payerAddress'), normalizeAddress(exceptProviderAddress, 'exceptProviderAddress')],
  );
  return Number((rows[0] as { sec: string } | undefined)?.sec ?? 0);
}
