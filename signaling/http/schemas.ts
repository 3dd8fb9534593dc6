import { Type } from '@sinclair/typebox';
import { EndReason, GameInfo, HttpErrorBody, SessionState, WeiString } from '../protocol/index.js';

export const ErrorBody = HttpErrorBody;

export const HealthBody = Type.Object({
  ok: Type.Boolean(),
  uptimeSec: Type.Number(),
  hostsUp: Type.Integer(),
  sessionsLive: Type.Integer(),
  /** The WebSocket server: `uws <build>` or `fastify-ws` (the fallback where no native uWS build loads). */
  wsTransport: Type.String(),
});

export const ClientConfigBody = Type.Object({
  protocolVersion: Type.Integer(),
  wsPlayerUrl: Type.String(),
  wsNodeUrl: Type.String(),
  /** The EIP-712 domain checkers sign CheckReports in. */
  checkerDomain: Type.Object({ chainId: Type.Integer(), verifyingContract: Type.String() }),
  /**
   * The HTTP base URL of every signaling server of this network that is up (this one first): a player whose
   * server goes down reconnects to another one.
   */
  servers: Type.Array(Type.String({ maxLength: 512 }), { maxItems: 64 }),
});

export const PlayerSessionBody = Type.Object({
  token: Type.String(),
  playerId: Type.String(),
  expiresAtSec: Type.Integer(),
});

export const GameListBody = Type.Object({
  games: Type.Array(
    Type.Composite([GameInfo, Type.Object({ hostsUp: Type.Integer(), freeSlots: Type.Integer() })], {
      additionalProperties: false,
    }),
  ),
});

export { HostListBody, PublicHost } from '../protocol/index.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

export const CandidateView = Type.Object({
  hostId: Type.String(),
  region: Type.String(),
  rttMs: Nullable(Type.Number()),
  load: Type.Number(),
  priceWeiPerSec: WeiString,
  qualityScore: Type.Number(),
  stakeWei: WeiString,
  terms: Type.Object({
    rtt: Type.Number(),
    load: Type.Number(),
    price: Type.Number(),
    quality: Type.Number(),
    stake: Type.Number(),
  }),
  score: Type.Number(),
});

export const SessionView = Type.Object({
  sessionId: Type.String(),
  game: Type.String(),
  state: SessionState,
  hostId: Nullable(Type.String()),
  slot: Nullable(Type.Integer()),
  priceWeiPerSec: WeiString,
  createdAtMs: Type.Number(),
  leasedAtMs: Nullable(Type.Number()),
  streamingAtMs: Nullable(Type.Number()),
  endedAtMs: Nullable(Type.Number()),
  endReason: Nullable(EndReason),
  decision: Nullable(
    Type.Object({
      chosenHostId: Type.String(),
      decidedAtMs: Type.Number(),
      pickMicros: Type.Number(),
      candidates: Type.Array(CandidateView),
    }),
  ),
});
