/** The economy's HTTP API as the browser uses it (every body checked against a schema before use). */
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import {
  AccountBody,
  AthError,
  type ChainInfo,
  ChainInfoBody,
  FaucetBody,
  SessionChargesBody,
} from '../../../signaling/protocol/index.js';
import { ClientErrorCode } from '../../errors.js';
import type { FetchLike } from '../httpApi.js';

export type { ChainInfo } from '../../../signaling/protocol/index.js';

/** `GET /api/accounts/:address` (the body's schema is the server's response schema). */
export type AccountView = Static<typeof AccountBody>;
/** `GET /api/sessions/:id/charges`. */
export type ChargesView = Static<typeof SessionChargesBody>;

async function getJson<S extends TSchema>(
  fetcher: FetchLike,
  url: string,
  schema: S,
  init: RequestInit = {},
): Promise<Static<S>> {
  const response = await fetcher(url, { ...init, signal: AbortSignal.timeout(15_000) });
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const { code, message } = (body ?? {}) as { code?: string; message?: string };
    throw new AthError({
      code: ClientErrorCode.http,
      shortMessage: message ?? `HTTP ${response.status}`,
      details: `${url}${code ? ` (${code})` : ''}`,
    });
  }
  const check = TypeCompiler.Compile(schema);
  if (!check.Check(body))
    throw new AthError({ code: ClientErrorCode.http, shortMessage: 'unexpected response', details: url });
  return body;
}

export function fetchChainInfo(fetcher: FetchLike, server: string): Promise<ChainInfo> {
  return getJson(fetcher, `${server}/api/chain`, ChainInfoBody);
}

export function fetchAccount(fetcher: FetchLike, server: string, address: string): Promise<AccountView> {
  return getJson(fetcher, `${server}/api/accounts/${address}`, AccountBody);
}

export function fetchCharges(fetcher: FetchLike, server: string, sessionId: string): Promise<ChargesView> {
  return getJson(fetcher, `${server}/api/sessions/${sessionId}/charges`, SessionChargesBody);
}

export function requestFaucet(fetcher: FetchLike, server: string, address: string): Promise<FaucetBody> {
  return getJson(fetcher, `${server}/api/faucet`, FaucetBody, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address }),
  });
}
