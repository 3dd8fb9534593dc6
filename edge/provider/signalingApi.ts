/**
 * What a provider's node asks signaling over HTTP — the chain it settles on, test ATH on the embedded chain,
 * and its own status — with every answer checked against a schema before it is trusted.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Address } from 'viem';
import {
  AthError,
  type ChainInfo,
  ChainInfoBody,
  FaucetBody,
  isAthError,
  type ProviderStatus,
  ProviderStatusBody,
  weiToString,
} from '../../signaling/protocol/index.js';
import { EdgeErrorCode } from '../errors.js';

export type { ChainInfo } from '../../signaling/protocol/index.js';

async function call<T extends TSchema>(
  signalingUrl: string,
  path: string,
  schema: T,
  init?: RequestInit,
): Promise<Static<T>> {
  const url = new URL(path, signalingUrl);
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) }).catch((cause: unknown) => {
    throw new AthError({
      code: EdgeErrorCode.signalingUnreachable,
      shortMessage: `signaling unreachable at ${signalingUrl}`,
      cause,
    });
  });
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const message = (body as { message?: unknown } | undefined)?.message;
    throw new AthError({
      code: EdgeErrorCode.signalingAnswer,
      shortMessage: `${init?.method ?? 'GET'} ${url.pathname}: ${response.status}${typeof message === 'string' ? ` ${message}` : ''}`,
    });
  }
  if (!Value.Check(schema, body)) {
    const first = Value.Errors(schema, body).First();
    throw new AthError({
      code: EdgeErrorCode.signalingAnswer,
      shortMessage: `${url.pathname}: unexpected answer from ${signalingUrl}`,
      details: first ? `${first.path || '/'}: ${first.message}` : undefined,
    });
  }
  return body;
}

export async function fetchChainInfo(signalingUrl: string): Promise<ChainInfo> {
  try {
    return await call(signalingUrl, '/api/chain', ChainInfoBody);
  } catch (error) {
    if (isAthError(error, EdgeErrorCode.signalingUnreachable)) throw error;
    throw new AthError({
      code: 'ATH_ERR_CONFIG',
      shortMessage: `${signalingUrl} has no chain: a provider needs a signaling server that bills (chain.network ≠ none)`,
      cause: error,
    });
  }
}

/** Test ATH (and gas) from the embedded chain's faucet. */
export async function requestFaucet(signalingUrl: string, address: Address, athWei: bigint): Promise<void> {
  await call(signalingUrl, '/api/faucet', FaucetBody, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address, athWei: weiToString(athWei) }),
  });
}

export function fetchProviderStatus(signalingUrl: string, address: Address): Promise<ProviderStatus> {
  return call(signalingUrl, `/api/providers/${address}`, ProviderStatusBody);
}
