/**
 * Studios (issue 8), served by signaling's fastify:
 *   POST /api/studios              wallet-signed registration → studio id + API key (shown once, stored hashed)
 *   POST /api/play-tokens/terms    (Bearer key) a fresh session id and the SessionAuth the studio wallet signs
 *   POST /api/play-tokens          (Bearer key) the signed SessionAuth → a short-lived play token
 *   GET  /embed/:game?token=…      the iframe embed, framed only by the token's origin
 * and CORS for the few player endpoints `<ath-play>` calls from a studio's page. Why a token carries a
 * SessionAuth the studio signed: see PaymentDesk (the escrow verifies the payer's signature over the provider).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { Address, Chain, Hex, PublicClient, Transport } from 'viem';
import { verifyMessage } from 'viem';
import type { HostRecord } from '../../signaling/index.js';
import {
  Address as AddressSchema,
  AthError,
  GameId,
  HttpErrorBody,
  PlayTokenBody,
  PlayTokenTermsBody,
  SessionId,
  StudioCreatedBody,
  sessionAuthTypes,
  sessionEscrowDomain,
  WeiString,
  weiFromString,
  weiToString,
} from '../../signaling/protocol/index.js';
import {
  createStudio,
  findPlayToken,
  findStudioByApiKey,
  type Ledger,
  mintPlayToken,
  type Studio,
  sessionIdTaken,
} from '../ledger/index.js';
import type { PaymentDesk } from './PaymentDesk.js';

export type StudioRoutesParameters = {
  ledger: Ledger;
  payments: Pick<PaymentDesk, 'assertHonoured' | 'studioAuthExpirySec'>;
  chainId: number;
  escrowAddress: Address;
  publicClient: PublicClient<Transport, Chain>;
  /** The hub's hosts once signaling runs (terms name a provider serving the game). */
  hosts: () => HostsView | undefined;
  /** Where the built client is (`embed.html`); without it `/embed/:game` answers 404. */
  clientDir?: string | undefined;
  now?: () => number;
};

/** How far a registration's timestamp may be from the server's clock, and how long a signature is remembered. */
export const STUDIO_SIGNATURE_WINDOW_SEC = 300;
/** A token's SessionAuth must outlive the token by this much: its session can still be played and settled. */
const MAX_TOKEN_TTL_SEC = 86_400;

/** The text a studio's wallet signs (EIP-191 personal message) to register. */
export function studioRegistrationMessage({
  address,
  name,
  issuedAtSec,
}: {
  address: string;
  name: string;
  issuedAtSec: number;
}): string {
  return `ath-edge: register a studio\nname: ${name}\nwallet: ${address.toLowerCase()}\nissued at: ${issuedAtSec}`;
}

/** 65-byte ECDSA, or longer for smart wallets (ERC-1271). */
const HexSignature = Type.String({ pattern: '^0x[0-9a-fA-F]{130,}$', maxLength: 4096 });
/** What the terms need from signaling's host registry. */
type HostsView = { hostsServing(game: string): Iterable<HostRecord> };

const StudioName = Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f]+$' });
const CreateStudioBody = Type.Object(
  {
    address: AddressSchema,
    name: StudioName,
    /** Unix seconds; within ±5 minutes of the server's clock. */
    issuedAtSec: Type.Integer({ minimum: 0 }),
    signature: HexSignature,
  },
  { additionalProperties: false },
);
/** An exact page origin: scheme, host and port only (what browsers send in `Origin`). */
const PageOrigin = Type.String({ maxLength: 512, pattern: '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$' });
const TermsBody = Type.Object(
  {
    game: GameId,
    capWei: WeiString,
    ttlSec: Type.Integer({ minimum: 1, maximum: MAX_TOKEN_TTL_SEC }),
  },
  { additionalProperties: false },
);
const MintBody = Type.Object(
  {
    game: GameId,
    origin: PageOrigin,
    capWei: WeiString,
    ttlSec: Type.Integer({ minimum: 1, maximum: MAX_TOKEN_TTL_SEC }),
    /** The SessionAuth from `/api/play-tokens/terms`, signed (EIP-712) by the studio's wallet. */
    auth: Type.Object(
      {
        sessionId: SessionId,
        player: AddressSchema,
        provider: AddressSchema,
        maxAmount: WeiString,
        pricePerSecond: WeiString,
        expiry: Type.String({ pattern: '^[1-9][0-9]{0,19}$' }),
      },
      { additionalProperties: false },
    ),
    signature: HexSignature,
  },
  { additionalProperties: false },
);
const BearerHeaders = Type.Object({ authorization: Type.String({ maxLength: 200 }) });

/** Player endpoints `<ath-play>` calls from a studio's page: anonymous, no cookies, so any origin may. */
const CORS_PATHS: ReadonlySet<string> = new Set(['/api/config', '/api/session', '/api/games']);

export function studioRoutes(params: StudioRoutesParameters): FastifyPluginAsyncTypebox {
  const now = params.now ?? Date.now;
  const domain = sessionEscrowDomain({ chainId: params.chainId, verifyingContract: params.escrowAddress });
  /** Registration signatures seen within the window: a replay inside it is refused, outside it is stale. */
  const seen = new Map<string, number>();

  const studioOf = async (request: FastifyRequest): Promise<Studio> => {
    const header = (request.headers as { authorization?: string }).authorization ?? '';
    const key = /^Bearer (\S+)$/.exec(header)?.[1];
    const studio = key ? await findStudioByApiKey(params.ledger, key) : undefined;
    if (!studio)
      throw new AthError({ code: 'ATH_ERR_UNAUTHORIZED', shortMessage: 'a valid studio API key is required' });
    return studio;
  };

  const plugin: FastifyPluginAsyncTypebox = async (app) => {
    app.addHook('onRequest', async (request, reply) => {
      const path = request.url.split('?')[0] ?? '';
      if (!request.headers.origin || !CORS_PATHS.has(path)) return;
      reply.header('access-control-allow-origin', '*');
      if (request.method === 'OPTIONS') {
        reply.header('access-control-allow-methods', 'GET, POST');
        reply.header('access-control-allow-headers', 'content-type');
        reply.header('access-control-max-age', '600');
        await reply.code(204).send();
      }
    });

    app.post(
      '/api/studios',
      {
        schema: {
          summary: 'Register a studio with a wallet signature; returns its API key once',
          body: CreateStudioBody,
          response: { 201: StudioCreatedBody, '4xx': HttpErrorBody },
        },
      },
      async (request, reply) => {
        const body = {
          ...request.body,
          address: request.body.address as Address,
          signature: request.body.signature as Hex,
        };
        const nowSec = Math.floor(now() / 1000);
        if (Math.abs(nowSec - body.issuedAtSec) > STUDIO_SIGNATURE_WINDOW_SEC) {
          throw new AthError({
            code: 'ATH_ERR_TOKEN_EXPIRED',
            shortMessage: `issuedAtSec must be within ${STUDIO_SIGNATURE_WINDOW_SEC} s of the server's clock (${nowSec})`,
          });
        }
        for (const [signature, atSec] of seen)
          if (atSec < nowSec - 2 * STUDIO_SIGNATURE_WINDOW_SEC) seen.delete(signature);
        const seenKey = createHash('sha256').update(body.signature.toLowerCase()).digest('hex');
        if (seen.has(seenKey)) {
          throw new AthError({ code: 'ATH_ERR_REPLAY', shortMessage: 'this registration signature was already used' });
        }
        const message = studioRegistrationMessage(body);
        if (!(await walletSigned(params.publicClient, body.address, message, body.signature))) {
          throw new AthError({ code: 'ATH_ERR_BAD_SIGNATURE', shortMessage: 'the signature is not the wallet’s' });
        }
        seen.set(seenKey, nowSec);
        const { studio, apiKey } = await createStudio(params.ledger, { ownerAddress: body.address, name: body.name });
        request.log.info({ studioId: studio.studioId, owner: studio.ownerAddress }, 'studio registered');
        return reply.status(201).send({
          studioId: studio.studioId,
          ownerAddress: studio.ownerAddress,
          name: studio.name,
          apiKey,
          createdAt: studio.createdAt.toISOString(),
        });
      },
    );

    app.post(
      '/api/play-tokens/terms',
      {
        schema: {
          summary: 'A fresh session id and the EIP-712 SessionAuth the studio wallet signs for a play token',
          headers: BearerHeaders,
          body: TermsBody,
          response: { 200: PlayTokenTermsBody, '4xx': HttpErrorBody },
        },
      },
      async (request) => {
        const studio = await studioOf(request);
        const { body } = request;
        const capWei = weiFromString(body.capWei);
        const host = cheapestHost(params.hosts(), body.game);
        if (!host) {
          throw new AthError({ code: 'ATH_ERR_UNKNOWN_GAME', shortMessage: `no render host serves \`${body.game}\`` });
        }
        if (capWei < host.priceWeiPerSec) {
          throw new AthError({
            code: 'ATH_ERR_BAD_MESSAGE',
            shortMessage: `capWei must cover at least one second at ${host.priceWeiPerSec} wei/s`,
          });
        }
        const message = {
          sessionId: `0x${randomBytes(32).toString('hex')}`,
          player: studio.ownerAddress,
          provider: host.providerAddress.toLowerCase(),
          maxAmount: weiToString(capWei),
          pricePerSecond: weiToString(host.priceWeiPerSec),
          expiry: String(params.payments.studioAuthExpirySec(BigInt(Math.floor(now() / 1000) + body.ttlSec))),
        };
        return {
          typedData: {
            domain,
            types: { SessionAuth: [...sessionAuthTypes.SessionAuth] },
            primaryType: 'SessionAuth' as const,
            message,
          },
        };
      },
    );

    app.post(
      '/api/play-tokens',
      {
        schema: {
          summary: 'Mint a short-lived play token bound to a game, a page origin and a spending cap',
          headers: BearerHeaders,
          body: MintBody,
          response: { 201: PlayTokenBody, '4xx': HttpErrorBody },
        },
      },
      async (request, reply) => {
        const studio = await studioOf(request);
        const { body } = request;
        const signature = body.signature as Hex;
        const capWei = weiFromString(body.capWei);
        const auth = {
          sessionId: body.auth.sessionId.toLowerCase() as Hex,
          player: body.auth.player as Address,
          provider: body.auth.provider as Address,
          maxAmount: weiFromString(body.auth.maxAmount),
          pricePerSecond: weiFromString(body.auth.pricePerSecond),
          expiry: BigInt(body.auth.expiry),
        };
        const refuse = (shortMessage: string) => new AthError({ code: 'ATH_ERR_BAD_MESSAGE', shortMessage });
        if (auth.player.toLowerCase() !== studio.ownerAddress) throw refuse('auth.player must be the studio’s wallet');
        if (auth.maxAmount !== capWei) throw refuse('auth.maxAmount must equal capWei');
        if (auth.pricePerSecond === 0n || capWei < auth.pricePerSecond) {
          throw refuse('capWei must cover at least one second at auth.pricePerSecond');
        }
        const nowSec = BigInt(Math.floor(now() / 1000));
        if (await sessionIdTaken(params.ledger, auth.sessionId)) {
          throw new AthError({ code: 'ATH_ERR_REPLAY', shortMessage: 'this session id was already used' });
        }
        // Exactly what the escrow will honour when the session is settled: the signature rules, the bounds, an
        // expiry covering the token's last use plus a whole session plus settlement (ask /api/play-tokens/terms),
        // and the escrow's own dry run. The studio's funds are checked when the token is played.
        await params.payments.assertHonoured(auth, signature, {
          notBeforeSec: nowSec + BigInt(body.ttlSec),
          fundsLater: true,
        });
        const { playToken, token } = await mintPlayToken(params.ledger, {
          studioId: studio.studioId,
          game: body.game,
          origin: body.origin,
          capWei,
          ttlSec: body.ttlSec,
          sessionAuth: {
            sessionId: auth.sessionId,
            providerAddress: auth.provider,
            priceWeiPerSec: auth.pricePerSecond,
            expirySec: auth.expiry,
            signature,
          },
        });
        request.log.info({ studioId: studio.studioId, playTokenId: playToken.playTokenId }, 'play token minted');
        return reply.status(201).send({
          token,
          playTokenId: playToken.playTokenId,
          game: playToken.game,
          origin: playToken.origin,
          capWei: weiToString(playToken.capWei),
          sessionId: auth.sessionId,
          expiresAt: playToken.expiresAt.toISOString(),
        });
      },
    );

    app.get(
      '/embed/:game',
      {
        schema: {
          summary: 'The iframe embed: plays with a play token, reports events to the token’s origin only',
          params: Type.Object({ game: GameId }),
          querystring: Type.Object({ token: Type.Optional(Type.String({ maxLength: 100 })) }),
        },
      },
      async (request, reply) => {
        if (!params.clientDir) throw new AthError({ code: 'ATH_ERR_NOT_FOUND', shortMessage: 'no client build' });
        const { token } = request.query;
        const playToken = token ? await findPlayToken(params.ledger, token) : undefined;
        // Only the token's origin may frame this page and receive its events; unknown tokens: nobody.
        const origin = playToken?.origin;
        const template = await readFile(join(params.clientDir, 'embed.html'), 'utf8');
        const html = template.replaceAll('%ATH_ALLOWED_ORIGIN%', escapeAttribute(origin ?? ''));
        return reply
          .header('content-type', 'text/html; charset=utf-8')
          .header('content-security-policy', `frame-ancestors ${origin ?? "'none'"}`)
          .header('cache-control', 'no-store')
          .header('referrer-policy', 'no-referrer')
          .send(html);
      },
    );
  };
  // Hooks of this plugin (CORS) apply to the whole app, not only to its own routes.
  Object.assign(plugin, { [Symbol.for('skip-override')]: true });
  return plugin;
}

function escapeAttribute(value: string): string {
  return value.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The cheapest up host serving the game (ties: the first registered); the studio signs for its provider. */
function cheapestHost(hosts: HostsView | undefined, game: string) {
  let best: { providerAddress: string; priceWeiPerSec: bigint } | undefined;
  for (const host of hosts?.hostsServing(game) ?? []) {
    if (host.state !== 'up' || host.drained) continue;
    if (!best || host.priceWeiPerSec < best.priceWeiPerSec) best = host;
  }
  return best;
}

/** EOA signatures are checked locally; a smart wallet (code at the address) through ERC-1271 on chain. */
async function walletSigned(
  publicClient: PublicClient<Transport, Chain>,
  address: Address,
  message: string,
  signature: Hex,
): Promise<boolean> {
  if (await verifyMessage({ address, message, signature }).catch(() => false)) return true;
  const code = await publicClient.getCode({ address }).catch(() => undefined);
  if (!code || code === '0x') return false;
  return publicClient.verifyMessage({ address, message, signature }).catch(() => false);
}
