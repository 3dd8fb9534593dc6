/**
 * STUN and TURN servers on the wire: what signaling hands each peer of a session (player, render host,
 * checker) so that their WebRTC agents gather server-reflexive and relayed candidates. The shape is the
 * browser's `RTCIceServer` (werift takes the same), restricted to what we use and validated like every
 * other field: `urls` are `stun:`/`stuns:`/`turn:`/`turns:` URIs (RFC 7064/7065), a TURN entry carries the
 * per-session credentials signaling issued (coturn's REST-API form, see signaling/ice/turnCredentials.ts).
 */
import { type Static, Type } from '@sinclair/typebox';

/** `turn:relay.example:3478?transport=tcp`, `turns:relay.example:443?transport=tcp`, `stun:[2001:db8::1]:3478`. */
export const IceServerUrl = Type.String({
  pattern: '^(stun|stuns|turn|turns):(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?(\\?transport=(udp|tcp))?$',
  maxLength: 256,
});

export const IceServer = Type.Object(
  {
    urls: Type.Array(IceServerUrl, { minItems: 1, maxItems: 8 }),
    /** TURN only: `expiry:sessionId` (unix seconds). */
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    /** TURN only: base64(HMAC-SHA1(secret, username)). A credential: never logged. */
    credential: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  { additionalProperties: false },
);

export const IceServers = Type.Array(IceServer, { maxItems: 8 });

/** `relay`: use TURN only (hides a player's own addresses from the render host, or proves the relay path). */
export const IceTransportPolicy = Type.Union([Type.Literal('all'), Type.Literal('relay')]);

export type IceServerRecord = Static<typeof IceServer>;
export type IceTransportPolicyName = Static<typeof IceTransportPolicy>;

export type IceServerUrlParts = {
  scheme: 'stun' | 'stuns' | 'turn' | 'turns';
  host: string;
  port: number;
  /** What carries the client's traffic to the server: `turns:` is TLS over TCP. */
  transport: 'udp' | 'tcp' | 'tls';
};

/** Splits a URL that matched `IceServerUrl`; undefined for anything else. Default ports per RFC 7064/7065. */
export function parseIceServerUrl(url: string): IceServerUrlParts | undefined {
  const match =
    /^(stuns?|turns?):(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?(?:\?transport=(udp|tcp))?$/.exec(url);
  if (!match) return undefined;
  const scheme = match[1] as IceServerUrlParts['scheme'];
  const secure = scheme === 'stuns' || scheme === 'turns';
  const port = match[3] ? Number(match[3]) : secure ? 5349 : 3478;
  if (port < 1 || port > 65535) return undefined;
  const requested = match[4] as 'udp' | 'tcp' | undefined;
  if (secure && requested === 'udp') return undefined;
  const transport = secure ? 'tls' : (requested ?? 'udp');
  return { scheme, host: (match[2] ?? '').replace(/^\[|\]$/g, ''), port, transport };
}
