/**
 * The wire format between signaling instances sharing one Redis (issue 16): records as Redis holds them
 * (hosts, sessions), the change feed every instance applies to its copy, and the direct messages one instance
 * sends another (a server message for a peer connected there, a peer's frame for the session's owner, a
 * session to end). Validated on every receive like the WebSocket messages: an instance trusts Redis no more
 * than a peer.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { AthError } from './AthError.js';
import {
  Address,
  Codec,
  EndReason,
  GameId,
  GameInfo,
  HostEndpoints,
  HostId,
  Quality,
  Region,
  Role,
  SessionState,
} from './messages.js';
import { WeiString } from './money.js';

export const InstanceId = Type.String({ pattern: '^[a-z0-9]{1,32}$' });
const PeerIdWire = Type.String({ pattern: '^[a-z0-9-]{1,80}$' });
const PlayerIdWire = Type.String({ minLength: 1, maxLength: 128 });
const Ms = Type.Integer({ minimum: 0 });
const AnySessionId = Type.String({ pattern: '^0x[0-9a-f]{64}$' });
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const HostWire = Type.Object(
  {
    hostId: HostId,
    peerId: Nullable(PeerIdWire),
    providerAddress: Address,
    region: Region,
    gpu: Type.String({ maxLength: 128 }),
    encoder: Type.Union([Type.Literal('nvenc'), Type.Literal('x264')]),
    games: Type.Array(GameInfo, { maxItems: 256 }),
    priceWeiPerSec: WeiString,
    endpoints: HostEndpoints,
    state: Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('draining')]),
    load: Type.Number({ minimum: 0, maximum: 1 }),
    lastHeartbeatMs: Ms,
    registeredAtMs: Ms,
    slotCount: Type.Integer({ minimum: 1, maximum: 256 }),
    probeReserve: Type.Optional(Type.Integer({ minimum: 0, maximum: 1 })),
    qualityScore: Type.Number({ minimum: 0, maximum: 1 }),
    failedVerdictsInARow: Type.Integer({ minimum: 0 }),
    drained: Type.Boolean(),
    stakeWei: WeiString,
    /** The provider's signed host binding (slash evidence): the registration's nonce and signature. */
    registration: Type.Optional(
      Type.Object(
        {
          nonce: Type.String({ pattern: '^[0-9a-f]{32}$' }),
          signature: Type.String({ pattern: '^0x[0-9a-f]{130,}$', maxLength: 4096 }),
        },
        { additionalProperties: false },
      ),
    ),
    /** The shared store's name for this registration (HostRecord.registrationId): `<instance>.<hex>`. */
    registrationId: Type.Optional(Type.String({ pattern: '^[a-z0-9]{1,32}\\.[0-9a-f]{8,32}$' })),
    /** Where its signaling connection comes from; when it went down; why it is drained (issue 13). */
    remoteIp: Type.Optional(Type.String({ maxLength: 64 })),
    downSinceMs: Type.Optional(Nullable(Ms)),
    drainReason: Type.Optional(Nullable(Type.String({ maxLength: 1024 }))),
    stakeShortfall: Type.Optional(Nullable(Type.String({ maxLength: 1024 }))),
  },
  { additionalProperties: false },
);

const ScoreTermsWire = Type.Object(
  { rtt: Type.Number(), load: Type.Number(), price: Type.Number(), quality: Type.Number(), stake: Type.Number() },
  { additionalProperties: false },
);

const CandidateWire = Type.Object(
  {
    hostId: HostId,
    region: Type.String({ maxLength: 8 }),
    rttMs: Nullable(Type.Number()),
    load: Type.Number(),
    priceWeiPerSec: WeiString,
    qualityScore: Type.Number(),
    stakeWei: WeiString,
    terms: ScoreTermsWire,
    score: Type.Number(),
  },
  { additionalProperties: false },
);

export const SessionWire = Type.Object(
  {
    id: AnySessionId,
    owner: InstanceId,
    playerId: PlayerIdWire,
    playerPeerId: Nullable(PeerIdWire),
    /** A keyed hash of the player's address (signaling/admission `addressHash`): the address never goes to Redis. */
    playerAddressKey: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$' })),
    game: GameId,
    codecs: Type.Array(Codec, { maxItems: 4 }),
    /** The player's quality rung (absent in records written before it existed). */
    quality: Type.Optional(Quality),
    maxPriceWeiPerSec: Nullable(WeiString),
    state: SessionState,
    hostId: Nullable(HostId),
    slot: Nullable(Type.Integer({ minimum: 0 })),
    priceWeiPerSec: WeiString,
    createdAtMs: Ms,
    queuedAtMs: Nullable(Ms),
    leasedAtMs: Nullable(Ms),
    sponsorship: Nullable(
      Type.Object(
        {
          sessionId: AnySessionId,
          providerAddress: Address,
          priceWeiPerSec: WeiString,
          playTokenId: Type.String({ maxLength: 128 }),
        },
        { additionalProperties: false },
      ),
    ),
    streamingAtMs: Nullable(Ms),
    setupObserved: Type.Boolean(),
    endedAtMs: Nullable(Ms),
    endReason: Nullable(EndReason),
    endMessage: Nullable(Type.String({ maxLength: 1024 })),
    queueIfBusy: Type.Boolean(),
    probeHostIds: Type.Array(HostId, { maxItems: 64 }),
    decision: Nullable(
      Type.Object(
        {
          candidates: Type.Array(CandidateWire, { maxItems: 64 }),
          chosenHostId: HostId,
          decidedAtMs: Ms,
          pickMicros: Type.Number({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
    ),
    payerAddress: Nullable(Address),
    location: Nullable(
      Type.Object(
        {
          lat: Type.Number({ minimum: -90, maximum: 90 }),
          lon: Type.Number({ minimum: -180, maximum: 180 }),
          source: Type.Union([Type.Literal('prefix'), Type.Literal('timeZone')]),
        },
        { additionalProperties: false },
      ),
    ),
    networkPrefix: Nullable(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

const HostPatchWire = Type.Object(
  {
    state: Type.Optional(Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('draining')])),
    peerId: Type.Optional(Nullable(PeerIdWire)),
    qualityScore: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    failedVerdictsInARow: Type.Optional(Type.Integer({ minimum: 0 })),
    drained: Type.Optional(Type.Boolean()),
    downSinceMs: Type.Optional(Nullable(Ms)),
    drainReason: Type.Optional(Nullable(Type.String({ maxLength: 1024 }))),
    stakeShortfall: Type.Optional(Nullable(Type.String({ maxLength: 1024 }))),
  },
  { additionalProperties: false },
);

/** A slot as Redis holds it: `free`, `leased|<sessionId>` or `busy|<sessionId>`. */
export const SlotValue = Type.String({ pattern: '^(free|(leased|busy)\\|0x[0-9a-f]{64})$' });

export const MeterStateWire = Type.Object(
  {
    tickIndex: Type.Integer({ minimum: 0 }),
    pendingTicks: Type.Array(
      Type.Object(
        { tickIndex: Type.Integer({ minimum: 0 }), deliveredSec: Type.Integer({ minimum: 0 }) },
        { additionalProperties: false },
      ),
      { maxItems: 64 },
    ),
    lastTickAtMs: Ms,
    cursorMs: Ms,
    deliveredMs: Type.Number({ minimum: 0 }),
    hostGoodAtMs: Nullable(Ms),
    hostFpsMilli: Nullable(Type.Integer({ minimum: 0 })),
    playerBadAtMs: Nullable(Ms),
    lastSignAtMs: Ms,
    checkerGoodAtMs: Nullable(Ms),
    checkerBadAtMs: Nullable(Ms),
    heldMs: Type.Number({ minimum: 0 }),
    disputeSinceMs: Nullable(Ms),
    verdictFailed: Type.Boolean(),
    /** The ledger claim's epoch it was saved under (edge/metering fencing), when the meter knew it. */
    claimEpoch: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,18}$' })),
  },
  { additionalProperties: false },
);

export const PrefixLocationWire = Type.Object(
  {
    lat: Type.Number({ minimum: -90, maximum: 90 }),
    lon: Type.Number({ minimum: -180, maximum: 180 }),
    samples: Type.Integer({ minimum: 1 }),
    bestRttMs: Type.Number({ minimum: 0 }),
    atMs: Ms,
  },
  { additionalProperties: false },
);
const prefixCheck = TypeCompiler.Compile(PrefixLocationWire);

export function parsePrefixLocationWire(raw: string): Static<typeof PrefixLocationWire> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new AthError({ code: 'ATH_ERR_BAD_MESSAGE', shortMessage: 'prefix location is not JSON', cause: error });
  }
  if (!prefixCheck.Check(value))
    throw new AthError({ code: 'ATH_ERR_BAD_MESSAGE', shortMessage: 'invalid prefix location' });
  return value as Static<typeof PrefixLocationWire>;
}

const feed = <K extends string, P extends Record<string, TSchema>>(kind: K, properties: P) =>
  Type.Object({ k: Type.Literal(kind), o: InstanceId, ...properties }, { additionalProperties: false });

/** A provider's drain as Redis holds it (signaling/trust/DrainStore's ProviderDrain; the round as a decimal string). */
export const DrainWire = Type.Object(
  {
    providerAddress: Address,
    hostId: HostId,
    reason: Type.String({ maxLength: 2048 }),
    round: Type.String({ pattern: '^[0-9]{1,30}$' }),
    drainedAtMs: Ms,
    probationPasses: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
  },
  { additionalProperties: false },
);
export type DrainWire = Static<typeof DrainWire>;

export const ClusterFeedMessage = Type.Union([
  feed('host', { host: HostWire }),
  feed('hostPatch', { hostId: HostId, patch: HostPatchWire }),
  feed('hostRemoved', { hostId: HostId }),
  feed('stake', { hostId: HostId, stakeWei: WeiString }),
  feed('slot', { hostId: HostId, slot: Type.Integer({ minimum: 0, maximum: 255 }), v: SlotValue }),
  feed('slotsFree', { hostId: HostId }),
  feed('loads', { loads: Type.Record(HostId, Type.Number({ minimum: 0, maximum: 1 })) }),
  feed('session', { session: SessionWire }),
  feed('sessionDeleted', { sessionId: AnySessionId }),
  feed('active', { playerId: PlayerIdWire, sessionId: Nullable(AnySessionId) }),
  feed('queued', { game: GameId, sessionId: AnySessionId, score: Type.Number() }),
  feed('unqueued', { game: GameId, sessionId: AnySessionId }),
  feed('prefix', { prefix: Type.String({ maxLength: 64 }), location: PrefixLocationWire }),
  /** A provider drained (`drain`) or its drain lifted (null). */
  feed('drain', { provider: Address, drain: Nullable(DrainWire) }),
  /** A session ended unpaid: its player's address as a keyed hash (hex), never the address itself. */
  feed('unpaid', { addressKey: Type.String({ pattern: '^[0-9a-f]{32}$' }), playerId: PlayerIdWire, atMs: Ms }),
]);
export type ClusterFeedMessage = Static<typeof ClusterFeedMessage>;

/** Who sent a frame that another instance handles: enough to check roles and ownership there. */
export const RemotePeerWire = Type.Object(
  {
    peerId: PeerIdWire,
    role: Role,
    identity: Type.Union([
      Type.Object(
        {
          kind: Type.Literal('player'),
          playerId: PlayerIdWire,
          origin: Type.Optional(Type.String({ maxLength: 512 })),
          sameOrigin: Type.Optional(Type.Boolean()),
          wsHost: Type.Optional(Type.String({ maxLength: 512 })),
          networkPrefix: Type.Optional(Type.String({ maxLength: 64 })),
        },
        { additionalProperties: false },
      ),
      // No connecting address for either kind: per-address limits count where the peer is connected (and for the
      // network through keyed hashes, signaling/store/redis/ClusterLimits.ts); no address travels between instances.
      Type.Object({ kind: Type.Literal('node') }, { additionalProperties: false }),
    ]),
    hostId: Type.Optional(HostId),
    checkerAddress: Type.Optional(Address),
  },
  { additionalProperties: false },
);
export type RemotePeerWire = Static<typeof RemotePeerWire>;

const direct = <K extends string, P extends Record<string, TSchema>>(kind: K, properties: P) =>
  Type.Object({ k: Type.Literal(kind), ...properties }, { additionalProperties: false });

export const ClusterDirectMessage = Type.Union([
  /** A server message for a peer connected to the receiving instance (validated again as a ServerMessage). */
  direct('deliver', { peerId: PeerIdWire, message: Type.String({ maxLength: 256 * 1024 }) }),
  /** A peer's frame for a session the receiving instance owns. */
  direct('frame', { peer: RemotePeerWire, raw: Type.String({ maxLength: 256 * 1024 }) }),
  /** End a session the receiving instance owns. */
  direct('end', {
    sessionId: AnySessionId,
    reason: EndReason,
    message: Type.Optional(Type.String({ maxLength: 1024 })),
  }),
  /** A host this instance's sessions run on came back (re-registered elsewhere). */
  direct('hostBack', { hostId: HostId }),
  /**
   * A player of the sender's disputes its delivery; its host is connected to the receiving instance, which runs
   * that host's check rounds: sample it now (CheckerDesk.sampleSession); observations go back to the session's owner.
   */
  direct('sample', { sessionId: AnySessionId, hostId: HostId, game: Type.Optional(GameId) }),
  /** What a sampling round's majority measured of a session the receiving instance runs (for its meter). */
  direct('observation', {
    sessionId: AnySessionId,
    checkerAddress: Address,
    fpsMilli: Type.Integer({ minimum: 0, maximum: 0xffffffff }),
  }),
]);
export type ClusterDirectMessage = Static<typeof ClusterDirectMessage>;

const feedCheck = TypeCompiler.Compile(ClusterFeedMessage);
const directCheck = TypeCompiler.Compile(ClusterDirectMessage);
const hostCheck = TypeCompiler.Compile(HostWire);
const sessionCheck = TypeCompiler.Compile(SessionWire);
const meterCheck = TypeCompiler.Compile(MeterStateWire);
const drainCheck = TypeCompiler.Compile(DrainWire);

export function parseDrainWire(raw: string): DrainWire {
  return parseWith(drainCheck, raw, 'drain record');
}

export function parseMeterStateWire(raw: string): Static<typeof MeterStateWire> {
  return parseWith(meterCheck, raw, 'meter state');
}

function parseWith<T>(check: { Check(value: unknown): boolean }, raw: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new AthError({ code: 'ATH_ERR_BAD_MESSAGE', shortMessage: `${what} is not JSON`, cause: error });
  }
  if (!check.Check(value)) throw new AthError({ code: 'ATH_ERR_BAD_MESSAGE', shortMessage: `invalid ${what}` });
  return value as T;
}

export function parseClusterFeed(raw: string): ClusterFeedMessage {
  return parseWith(feedCheck, raw, 'cluster feed message');
}

export function parseClusterDirect(raw: string): ClusterDirectMessage {
  return parseWith(directCheck, raw, 'cluster message');
}

/**
 * Direct messages travel in batches: all those one instance sends another in one turn of its event loop, in one
 * Redis PUBLISH. A batch is lines: each message is one line of JSON, except that a `deliver`'s `message` and a
 * `frame`'s `raw` (JSON texts themselves) leave their envelope and follow it as the next line, as they are —
 * not escaped into a string inside a string (JSON.stringify never writes a raw line break, so a line is
 * always a whole text). The receiver puts each body back into its envelope and checks the whole message
 * against `ClusterDirectMessage`, as before; a batch of one message without a body is the old single format.
 */
const BODY_FIELD = { deliver: 'message', frame: 'raw' } as const;

/** One direct message as batch lines (one line, or an envelope line and its body line). */
export function encodeClusterDirect(message: ClusterDirectMessage): string {
  if (message.k === 'deliver') {
    const { message: body, ...envelope } = message;
    return body.includes('\n') ? JSON.stringify(message) : `${JSON.stringify(envelope)}\n${body}`;
  }
  if (message.k === 'frame') {
    const { raw: body, ...envelope } = message;
    return body.includes('\n') ? JSON.stringify(message) : `${JSON.stringify(envelope)}\n${body}`;
  }
  return JSON.stringify(message);
}

/**
 * The messages of one batch, in order, each checked against `ClusterDirectMessage`. A message that fails its
 * check is reported to `refused` and skipped; a line that is not JSON ends the batch there (what follows cannot
 * be framed).
 */
export function parseClusterDirectBatch(raw: string, refused: (error: AthError) => void): ClusterDirectMessage[] {
  const lines = raw.split('\n');
  const messages: ClusterDirectMessage[] = [];
  for (let i = 0; i < lines.length; i++) {
    let value: unknown;
    try {
      value = JSON.parse(lines[i] as string);
    } catch (error) {
      refused(new AthError({ code: 'ATH_ERR_BAD_MESSAGE', shortMessage: 'cluster message is not JSON', cause: error }));
      return messages;
    }
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const envelope = value as Record<string, unknown>;
      const bodyField = BODY_FIELD[envelope['k'] as keyof typeof BODY_FIELD];
      if (bodyField !== undefined && !(bodyField in envelope)) {
        i += 1;
        envelope[bodyField] = lines[i];
      }
    }
    if (directCheck.Check(value)) messages.push(value);
    else refused(new AthError({ code: 'ATH_ERR_BAD_MESSAGE', shortMessage: 'invalid cluster message' }));
  }
  return messages;
}

export function parseHostWire(raw: string): Static<typeof HostWire> {
  return parseWith(hostCheck, raw, 'host record');
}

export function parseSessionWire(raw: string): Static<typeof SessionWire> {
  return parseWith(sessionCheck, raw, 'session record');
}

export type HostWire = Static<typeof HostWire>;
export type HostPatchWireRecord = Static<typeof HostPatchWire>;
export type SessionWire = Static<typeof SessionWire>;
