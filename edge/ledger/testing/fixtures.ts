import { randomBytes } from 'node:crypto';
import type { Address, Hex } from 'viem';
import type { SessionAuth } from '../../../signaling/protocol/index.js';
import type { Queryable } from '../db/Db.js';
import { createSession, type Session } from '../sessions.js';

/** Random values for tests, so tests sharing one database never collide. */
export function randomAddress(): Address {
  return `0x${randomBytes(20).toString('hex')}`;
}

export function randomBytes32(): Hex {
  return `0x${randomBytes(32).toString('hex')}`;
}

/** A well-formed 65-byte signature (not a valid one: the ledger stores signatures, it does not verify them). */
export function fakeSignature(): Hex {
  return `0x${randomBytes(64).toString('hex')}1b`;
}

export type SeedSessionParameters = {
  priceWeiPerSec?: bigint;
  maxWei?: bigint;
  payer?: Address;
  provider?: Address;
  studioId?: string;
  playTokenId?: string;
  game?: string;
};

/** A fresh streaming session with random ids. Defaults: 1e15 wei/s, a 10 ATH cap. */
export async function seedSession(db: Queryable, parameters: SeedSessionParameters = {}): Promise<Session> {
  const auth: SessionAuth = {
    sessionId: randomBytes32(),
    player: parameters.payer ?? randomAddress(),
    provider: parameters.provider ?? randomAddress(),
    maxAmount: parameters.maxWei ?? 10n * 10n ** 18n,
    pricePerSecond: parameters.priceWeiPerSec ?? 10n ** 15n,
    expiry: 2_000_000_000n,
  };
  const { session } = await createSession(db, {
    auth,
    authSignature: fakeSignature(),
    hostId: 'host-1',
    game: parameters.game ?? 'supertux',
    state: 'streaming',
    ...(parameters.studioId === undefined ? {} : { studioId: parameters.studioId }),
    ...(parameters.playTokenId === undefined ? {} : { playTokenId: parameters.playTokenId }),
  });
  return session;
}

/** The fee settings tests use: 20 % protocol fee, a quarter of it to checkers. */
export const TEST_FEE_SPLIT = { feeBps: 2000n, checkerShareBps: 2500n } as const;
