import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { issuePlayerToken } from '../../auth/playerTokens.js';
import type { SignalingHub } from '../../hub/SignalingHub.js';
import { PROTOCOL_VERSION, weiToString } from '../../protocol/index.js';
import { ClientConfigBody, ErrorBody, GameListBody, HostListBody, PlayerSessionBody } from '../schemas.js';

export type PlayerRoutesOptions = {
  hub: SignalingHub;
  tokenSecret: Uint8Array;
  tokenTtlSec: number;
  /** `POST /api/session` per address and minute: every token can ask for a session. */
  playerTokensPerMinute: number;
  /** Resolved per request so the URL matches how the page reached us. */
  wsUrls: () => { player: string; node: string };
  checkerDomain: { chainId: number; verifyingContract: string };
};

export const playerRoutes: FastifyPluginAsyncTypebox<PlayerRoutesOptions> = async (app, options) => {
  const { hub, tokenSecret, tokenTtlSec, wsUrls, checkerDomain, playerTokensPerMinute } = options;

  app.get('/api/config', { schema: { response: { 200: ClientConfigBody } } }, async () => {
    const urls = wsUrls();
    return {
      protocolVersion: PROTOCOL_VERSION,
      wsPlayerUrl: urls.player,
      wsNodeUrl: urls.node,
      checkerDomain: checkerDomain,
      servers: hub.signalingServers(),
    };
  });

  app.post(
    '/api/session',
    {
      config: { rateLimit: { max: playerTokensPerMinute, timeWindow: 60_000 } },
      schema: {
        summary: 'Get a player session token for the signaling WebSocket',
        response: { 200: PlayerSessionBody, 429: ErrorBody },
      },
    },
    async () => {
      const { token, claims } = issuePlayerToken({ secret: tokenSecret, ttlSec: tokenTtlSec });
      return { token, playerId: claims.playerId, expiresAtSec: claims.expiresAtSec };
    },
  );

  app.get(
    '/api/games',
    { schema: { summary: 'Games the registered hosts serve', response: { 200: GameListBody } } },
    async () => ({
      games: [...hub.hosts.games().values()]
        .map(({ info, hostsUp, freeSlots }) => ({ ...info, hostsUp, freeSlots }))
        .sort((a, b) => a.title.localeCompare(b.title)),
    }),
  );

  app.get(
    '/api/hosts',
    { schema: { summary: 'Public view of the render hosts', response: { 200: HostListBody } } },
    async () => ({
      hosts: [...hub.hosts.all()].map((host) => ({
        hostId: host.hostId,
        state: host.drained && host.state === 'up' ? ('draining' as const) : host.state,
        region: host.region,
        gpu: host.gpu,
        encoder: host.encoder,
        games: [...host.games.keys()],
        slots: host.slots.length,
        freeSlots: host.freeSlots,
        load: host.load,
        priceWeiPerSec: weiToString(host.priceWeiPerSec),
        qualityScore: host.qualityScore,
        providerAddress: host.providerAddress,
        stakeWei: weiToString(host.stakeWei),
      })),
    }),
  );
};
