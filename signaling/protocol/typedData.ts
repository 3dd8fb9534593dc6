/**
 * EIP-712 structs shared by the browser (signs SessionAuth), the meter (signs Usage), checkers (sign
 * CheckReport), signaling (verifies) and the contracts (verify on chain). One definition, imported by all;
 * the Solidity typehashes must match these strings exactly (a chain test checks it).
 */
import type { Address, Hex } from 'viem';

export const SESSION_ESCROW_DOMAIN_NAME = 'AthSessionEscrow';
export const CHECKER_DOMAIN_NAME = 'AthChecker';
export const TYPED_DATA_VERSION = '1';

export type TypedDataDomainParameters = { chainId: number; verifyingContract: Address };

export function sessionEscrowDomain({ chainId, verifyingContract }: TypedDataDomainParameters) {
  return { name: SESSION_ESCROW_DOMAIN_NAME, version: TYPED_DATA_VERSION, chainId, verifyingContract } as const;
}

export function checkerDomain({ chainId, verifyingContract }: TypedDataDomainParameters) {
  return { name: CHECKER_DOMAIN_NAME, version: TYPED_DATA_VERSION, chainId, verifyingContract } as const;
}

/** A player's (or studio's) authorization for one session: caps what the provider can ever claim. */
export const sessionAuthTypes = {
  SessionAuth: [
    { name: 'sessionId', type: 'bytes32' },
    { name: 'player', type: 'address' },
    { name: 'provider', type: 'address' },
    { name: 'maxAmount', type: 'uint256' },
    { name: 'pricePerSecond', type: 'uint256' },
    { name: 'expiry', type: 'uint64' },
  ],
} as const;

/**
 * The meter's cumulative statement of what a session has cost so far; each supersedes the last. `authHash` is
 * the EIP-712 digest of the SessionAuth it pays: a voucher is good for that one authorization only (a payer who
 * signs a second SessionAuth for the session, naming another payee, cannot redeem the meter's voucher with it).
 */
export const usageTypes = {
  Usage: [
    { name: 'sessionId', type: 'bytes32' },
    { name: 'authHash', type: 'bytes32' },
    { name: 'cumulativeAmount', type: 'uint256' },
    { name: 'deliveredSeconds', type: 'uint64' },
  ],
} as const;

/** A checker's signed measurement of one container in one assignment round. */
export const checkReportTypes = {
  CheckReport: [
    { name: 'container', type: 'string' },
    { name: 'checker', type: 'address' },
    { name: 'round', type: 'uint64' },
    { name: 'rttMicros', type: 'uint32' },
    { name: 'fpsMilli', type: 'uint32' },
    { name: 'lossPpm', type: 'uint32' },
    { name: 'ok', type: 'bool' },
    { name: 'timestamp', type: 'uint64' },
  ],
} as const;

export type SessionAuth = {
  sessionId: Hex;
  player: Address;
  provider: Address;
  maxAmount: bigint;
  pricePerSecond: bigint;
  expiry: bigint;
};

export type Usage = { sessionId: Hex; authHash: Hex; cumulativeAmount: bigint; deliveredSeconds: bigint };

export type CheckReport = {
  container: string;
  checker: Address;
  round: bigint;
  rttMicros: number;
  fpsMilli: number;
  lossPpm: number;
  ok: boolean;
  timestamp: bigint;
};
