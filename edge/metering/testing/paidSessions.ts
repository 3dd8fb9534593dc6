/**
 * What the tests of the money path share (the meter's, the money attacks', the Redis partition's): a meter on the
 * test chain's meter key, a scripted host with one priced game and a player that pressed Play on it (the session
 * leased, its payment terms known), the payer's SessionAuth signed and accepted, and the closing check that what
 * the ledger charged settles on chain with the escrow holding exactly what it owes. Real parts throughout:
 * signaling over WebSocket, the payment desk, anvil with the real contracts, the ledger the test gives.
 */
import assert from 'node:assert/strict';
import type { Account, Address, Hex } from 'viem';
import { createMetrics, SIGNALING_METRICS } from '../../../metrics/index.js';
import {
  type GameInfoRecord,
  type PaymentTermsRecord,
  type SessionAuth,
  sessionAuthTypes,
  sessionAuthWire,
  sessionEscrowDomain,
  weiToString,
} from '../../../signaling/protocol/index.js';
import {
  connectTestHost,
  connectTestPlayer,
  type TestHost,
  type TestSignaling,
} from '../../../signaling/testing/startTestSignaling.js';
import type { TestPeer } from '../../../signaling/testing/TestPeer.js';
import { assertEscrowConserved } from '../../chain/testing/escrowConservation.js';
import type { TestChain } from '../../chain/testing/startTestChain.js';
import type { Ledger } from '../../ledger/index.js';
import { assertLedgerMatchesChain, settlementWorker } from '../../settler/testing/settlementWorld.js';
import { Meter, type MeterParameters } from '../Meter.js';
import { createVoucherSigner } from '../signVoucher.js';

/** The chain's meter key (it signs the vouchers), as the meter takes it. */
export function meterKeyOf(chain: TestChain): Hex {
  return `0x${Buffer.from(chain.meter.getHdKey().privateKey ?? new Uint8Array()).toString('hex')}`;
}

/** The SessionEscrow's EIP-712 domain on the test chain. */
export function escrowDomainOf(chain: TestChain): ReturnType<typeof sessionEscrowDomain> {
  return sessionEscrowDomain({ chainId: chain.anvil.chainId, verifyingContract: chain.escrowAddress });
}

/** One 720p60 game a scripted host serves. */
export function testGame(id: string, title: string): GameInfoRecord {
  return {
    id,
    title,
    description: 'test game',
    width: 1280,
    height: 720,
    fps: 60,
    inputMode: 'absolute',
    audio: false,
  };
}

export type TestMeterParameters = Omit<MeterParameters, 'signer' | 'meterAddress' | 'settings' | 'metrics'> & {
  chain: TestChain;
  /** Default: a 5 s tick, a 20 fps floor, reports fresh for 12 s. */
  settings?: MeterParameters['settings'];
  /** Default: fresh signaling metrics. */
  metrics?: MeterParameters['metrics'];
};

/** A meter signing with the test chain's meter key. */
export function testMeter({ chain, settings, metrics, ...rest }: TestMeterParameters): Meter {
  return new Meter({
    signer: createVoucherSigner({ privateKey: meterKeyOf(chain), domain: escrowDomainOf(chain) }),
    meterAddress: chain.meter.address,
    settings: settings ?? { tickSec: 5, fpsFloor: 20, reportFreshMs: 12_000 },
    metrics: metrics ?? createMetrics({ keys: SIGNALING_METRICS }),
    ...rest,
  });
}

export type LeaseTestSessionParameters = {
  server: TestSignaling;
  /** The server's player-token secret. */
  secret: Uint8Array;
  /** The host's id (connectTestHost adds its key's suffix); its game is `game-<name>`. */
  name: string;
  /** The game's title. */
  title: string;
  priceWei: bigint;
  /** Default 1. */
  slots?: number;
  /** The host's provider key; a fresh staked one when absent. */
  privateKey?: Hex;
  /** The player's token; a fresh one when absent. */
  token?: string;
};

export type LeasedTestSession = {
  sessionId: Hex;
  host: TestHost;
  player: TestPeer;
  /** The host's id as registered. */
  hostId: string;
  game: string;
  /** What the player was asked to authorize (`session.payment`). */
  payment: PaymentTermsRecord;
  provider: Address;
};

/** A scripted host with one priced game, and a player that pressed Play on it: the host was asked to start. */
export async function leaseTestSession({
  server,
  secret,
  name,
  title,
  priceWei,
  slots = 1,
  privateKey,
  token,
}: LeaseTestSessionParameters): Promise<LeasedTestSession> {
  const game = `game-${name}`;
  const host = await connectTestHost(server, {
    ...(privateKey === undefined ? {} : { privateKey }),
    hostId: name,
    slots,
    priceWeiPerSec: weiToString(priceWei),
    games: [testGame(game, title)],
  });
  const player = await connectTestPlayer(server, secret, ...(token === undefined ? [] : [token]));
  player.send({ type: 'play', game, codecs: ['H264'] });
  const start = await host.next('start-session');
  const payment = (await player.next('session')).payment;
  assert.ok(payment, 'a billed session names its payment terms');
  return {
    sessionId: start.sessionId as Hex,
    host,
    player,
    hostId: host.hostId,
    game,
    payment,
    provider: payment.providerAddress as Address,
  };
}

/** The SessionAuth of a leased session on its terms, paid by `payer` (the terms' cap unless `maxAmount`). */
export function sessionAuthFor(leased: LeasedTestSession, payer: Address, maxAmount?: bigint): SessionAuth {
  return {
    sessionId: leased.sessionId,
    player: payer,
    provider: leased.provider,
    maxAmount: maxAmount ?? BigInt(leased.payment.maxAmountWei),
    pricePerSecond: BigInt(leased.payment.pricePerSecondWei),
    expiry: BigInt(leased.payment.expirySec),
  };
}

/** The payer's EIP-712 signature of a SessionAuth. */
export function signTestSessionAuth(chain: TestChain, payer: Account, auth: SessionAuth): Promise<Hex> {
  return chain.walletFor(payer).signTypedData({
    domain: escrowDomainOf(chain),
    types: sessionAuthTypes,
    primaryType: 'SessionAuth',
    message: auth,
  });
}

/** The payer authorizes the leased session (see `sessionAuthFor`); resolves once the server accepted it. */
export async function authorizeTestSession(
  chain: TestChain,
  leased: LeasedTestSession,
  payer: Account,
  maxAmount?: bigint,
): Promise<SessionAuth> {
  const auth = sessionAuthFor(leased, payer.address, maxAmount);
  leased.player.send({
    type: 'session-auth',
    sessionId: auth.sessionId,
    auth: sessionAuthWire(auth),
    signature: await signTestSessionAuth(chain, payer, auth),
  });
  await leased.player.next('payment-accepted');
  return auth;
}

/**
 * Settles what the ledger charged (one run of the settlement worker), then checks that the escrow holds exactly
 * what it owes (`earners`: every provider paid so far) and that the ledger's settled amounts are the chain's.
 */
export async function settleAndCheck(chain: TestChain, ledger: Ledger, earners: Address[]): Promise<void> {
  const worker = settlementWorker(chain, ledger);
  try {
    await worker.runSoon();
  } finally {
    await worker.close();
  }
  await assertEscrowConserved(chain, earners);
  await assertLedgerMatchesChain(chain, ledger);
}
