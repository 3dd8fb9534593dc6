/**
 * What a provider's node asks signaling over HTTP — the chain it settles on, test ATH on the embedded chain,
 * and its own status — with every answer checked against a schema before it is trusted.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Address } from 'viem';
import { fetchTrusting } from '../../signaling/link/trustedConnections.js';
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

/** Signaling's HTTP base URL, or it with a PEM certificate to trust over https (`tls.caFile`). */
export type SignalingTarget = string | { url: string; ca?: string | undefined };

type CallInit = { method?: string; headers?: Record<string, string>; body?: string };

async function call<T extends TSchema>(
  target: SignalingTarget,
  path: string,
  schema: T,
  init?: CallInit,
): Promise<Static<T>> {
  const signalingUrl = typeof target === 'string' ? target : target.url;
  const ca = typeof target === 'string' ? undefined : target.ca;
  const url = new URL(path, signalingUrl);
  const response = await fetchTrusting(url, { ...init, signal: AbortSignal.timeout(30_000) }, ca).catch(
    (cause: unknown) => {
      throw new AthError({
        code: EdgeErrorCode.signalingUnreachable,
        shortMessage: `signaling unreachable at ${signalingUrl}`,
        cause,
      });
    },
  );
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

export async function fetchChainInfo(signaling: SignalingTarget): Promise<ChainInfo> {
  const signalingUrl = typeof signaling === 'string' ? signaling : signaling.url;
  try {
    return await call(signaling, '/api/chain', ChainInfoBody);
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
export async function requestFaucet(signaling: SignalingTarget, address: Address, athWei: bigint): Promise<void> {
  await call(signaling, '/api/faucet', FaucetBody, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address, athWei: weiToString(athWei) }),
  });
}

export function fetchProviderStatus(signaling: SignalingTarget, address: Address): Promise<ProviderStatus> {
  return call(signaling, `/api/providers/${address}`, ProviderStatusBody);
}
