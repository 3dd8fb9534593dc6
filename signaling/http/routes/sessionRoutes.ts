import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { verifyPlayerToken } from '../../auth/playerTokens.js';
import type { SessionRecord } from '../../hub/SessionRecord.js';
import type { SignalingHub } from '../../hub/SignalingHub.js';
import { AthError, Codec, GameId, SessionId, WeiString, weiToString } from '../../protocol/index.js';
import { ErrorBody, SessionView } from '../schemas.js';

export type SessionRoutesOptions = { hub: SignalingHub; tokenSecret: Uint8Array };

/** The player's token, from `Authorization: Bearer …` (the same token the WebSocket upgrade takes). */
function playerOf(request: FastifyRequest, secret: Uint8Array): string {
  const header = request.headers.authorization ?? '';
  const match = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(header);
  if (!match?.[1])
    throw new AthError({ code: 'ATH_ERR_UNAUTHORIZED', shortMessage: 'Authorization: Bearer <player token> required' });
  return verifyPlayerToken(secret, match[1]).playerId;
}

export function sessionView(session: SessionRecord) {
  return {
    sessionId: session.id,
    game: session.game,
    state: session.state,
    hostId: session.hostId ?? null,
    slot: session.slot ?? null,
    priceWeiPerSec: weiToString(session.priceWeiPerSec),
    createdAtMs: session.createdAtMs,
    leasedAtMs: session.leasedAtMs ?? null,
    streamingAtMs: session.streamingAtMs ?? null,
    endedAtMs: session.endedAtMs ?? null,
    endReason: session.endReason ?? null,
    decision: session.decision
      ? {
          chosenHostId: session.decision.chosenHostId,
          decidedAtMs: session.decision.decidedAtMs,
          pickMicros: session.decision.pickMicros,
          candidates: session.decision.candidates.map((candidate) => ({
            ...candidate,
            priceWeiPerSec: weiToString(candidate.priceWeiPerSec),
            stakeWei: weiToString(candidate.stakeWei),
          })),
        }
      : null,
  };
}

export const sessionRoutes: FastifyPluginAsyncTypebox<SessionRoutesOptions> = async (app, { hub, tokenSecret }) => {
  app.post(
    '/api/sessions',
    {
      schema: {
        summary: 'Start a session for the calling player (their signaling WebSocket must be open)',
        headers: Type.Object({ authorization: Type.Optional(Type.String()) }),
        body: Type.Object(
          {
            game: GameId,
            codecs: Type.Optional(Type.Array(Codec, { minItems: 1, maxItems: 2, uniqueItems: true })),
            maxPriceWeiPerSec: Type.Optional(WeiString),
            queue: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: { 201: SessionView, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const playerId = playerOf(request, tokenSecret);
      const { game, codecs = ['H264'], maxPriceWeiPerSec, queue } = request.body;
      const session = hub.requestPlay(playerId, {
        game,
        codecs,
        ...(maxPriceWeiPerSec === undefined ? {} : { maxPriceWeiPerSec }),
        ...(queue === undefined ? {} : { queue }),
      });
      return reply.status(201).send(sessionView(session));
    },
  );

  app.get(
    '/api/sessions/:id',
    {
      schema: {
        summary: 'A session: state, host, and why that host (every candidate with its score)',
        params: Type.Object({ id: SessionId }),
        response: { 200: SessionView, 404: ErrorBody },
      },
    },
    async (request) => {
      const session = hub.getSession(request.params.id);
      if (!session) throw new AthError({ code: 'ATH_ERR_SESSION_NOT_FOUND', shortMessage: 'no such session' });
      return sessionView(session);
    },
  );

  app.delete(
    '/api/sessions/:id',
    {
      schema: {
        summary: 'End your session',
        headers: Type.Object({ authorization: Type.Optional(Type.String()) }),
        params: Type.Object({ id: SessionId }),
        response: { 200: SessionView, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const playerId = playerOf(request, tokenSecret);
      hub.quit(playerId, request.params.id);
      const session = hub.getSession(request.params.id);
      if (!session) throw new AthError({ code: 'ATH_ERR_SESSION_NOT_FOUND', shortMessage: 'no such session' });
      return sessionView(session);
    },
  );
};
