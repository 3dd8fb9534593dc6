/**
 * The signaling HTTP API as the browser uses it. Every body is checked against a schema before use.
 *
 * These body schemas mirror `signaling/http/schemas.ts`, which is not part of the protocol folder the client
 * may import: they belong in `signaling/protocol/` (see the client's report).
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { AthError, GameInfo, isWireErrorCode } from '../../signaling/protocol/index.js';
import { ClientErrorCode } from '../errors.js';

export const ClientConfigBody = Type.Object({
  protocolVersion: Type.Integer(),
  wsPlayerUrl: Type.String({ pattern: '^wss?://' }),
  wsNodeUrl: Type.String(),
  /** The network's signaling servers that are up (HTTP base URLs): where to reconnect if this one goes down. */
  servers: Type.Optional(Type.Array(Type.String({ pattern: '^https?://', maxLength: 512 }), { maxItems: 64 })),
});

export const PlayerSessionBody = Type.Object({
  token: Type.String({ pattern: '^[A-Za-z0-9._~-]{1,512}$' }),
  playerId: Type.String({ maxLength: 128 }),
  expiresAtSec: Type.Integer({ minimum: 0 }),
});

export const GameListing = Type.Composite([
  GameInfo,
  Type.Object({ hostsUp: Type.Integer({ minimum: 0 }), freeSlots: Type.Integer({ minimum: 0 }) }),
]);

export const GameListBody = Type.Object({ games: Type.Array(GameListing, { maxItems: 1024 }) });

export type ClientConfig = Static<typeof ClientConfigBody>;
export type PlayerSession = Static<typeof PlayerSessionBody>;
export type GameListingRecord = Static<typeof GameListing>;

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** How long one API call may take before it counts as failed. */
const REQUEST_TIMEOUT_MS = 8_000;

// The compiler the protocol's parser uses anyway (TypeBox's `Value` module would add ~60 KB to the bundle).
const checks = {
  config: TypeCompiler.Compile(ClientConfigBody),
  session: TypeCompiler.Compile(PlayerSessionBody),
  games: TypeCompiler.Compile(GameListBody),
};

async function requestJson<S extends TSchema>(
  fetcher: FetchLike,
  url: string,
  init: RequestInit,
  check: TypeCheck<S>,
): Promise<Static<S>> {
  let response: Response;
  try {
    response = await fetcher(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (cause) {
    throw new AthError({ code: ClientErrorCode.http, shortMessage: 'request failed', details: url, cause });
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch (cause) {
    throw new AthError({ code: ClientErrorCode.http, shortMessage: 'response is not JSON', details: url, cause });
  }
  if (!response.ok) {
    const code = (body as { code?: unknown } | null)?.code;
    // A wire code is one the page can act on; any other server code stays in the details.
    const known = typeof code === 'string' && isWireErrorCode(code);
    throw new AthError({
      code: known ? code : ClientErrorCode.http,
      shortMessage: `HTTP ${response.status}`,
      details: !known && typeof code === 'string' ? `${url} (${code.slice(0, 80)})` : url,
    });
  }
  if (!check.Check(body)) {
    const first = check.Errors(body).First();
    throw new AthError({
      code: ClientErrorCode.http,
      shortMessage: 'unexpected response body',
      details: `${url} ${first ? `${first.path || '/'}: ${first.message}` : ''}`,
    });
  }
  return body as Static<S>;
}

export function fetchClientConfig(fetcher: FetchLike, server: string): Promise<ClientConfig> {
  return requestJson(fetcher, `${server}/api/config`, { method: 'GET' }, checks.config);
}

export function createPlayerSession(fetcher: FetchLike, server: string): Promise<PlayerSession> {
  return requestJson(fetcher, `${server}/api/session`, { method: 'POST' }, checks.session);
}

export async function fetchGames(fetcher: FetchLike, server: string): Promise<GameListingRecord[]> {
  return (await requestJson(fetcher, `${server}/api/games`, { method: 'GET' }, checks.games)).games;
}
