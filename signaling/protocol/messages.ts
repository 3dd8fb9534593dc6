/**
 * Every JSON message on the signaling WebSocket. One `type`-discriminated union per direction, one
 * registry from type to schema, validated on every receive on both ends (`parseMessage.ts`). Objects reject
 * unknown fields so a typo or an injected field is an error, not silently ignored.
 */
import { type Static, type TObject, type TProperties, Type } from '@sinclair/typebox';
import { DeliveryReceiptWire } from './deliveryReceipt.js';
import { IceServers, IceTransportPolicy } from './iceServers.js';
import { QUALITY_NAMES } from './mediaWire.js';
import { WeiString, weiToString } from './money.js';
import type { SessionAuth } from './typedData.js';
import { WireErrorCodeSchema } from './wireErrorCodes.js';

function message<T extends string, P extends TProperties>(type: T, properties: P) {
  return Type.Object({ type: Type.Literal(type), ...properties }, { additionalProperties: false });
}

// ---- shared fields -------------------------------------------------------------------------------------

/** Session ids are random bytes32 (hex), the same id in the ledger, the vouchers and on chain. */
export const SessionId = Type.String({ pattern: '^0x[0-9a-f]{64}$' });
export const HostId = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' });
export const GameId = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' });
export const PeerId = Type.String({ pattern: '^[a-z0-9-]{1,64}$' });
export const Address = Type.String({ pattern: '^0x[0-9a-fA-F]{40}$' });
export const HexSignature = Type.String({ pattern: '^0x[0-9a-fA-F]{130,}$', maxLength: 4096 });
export const Nonce = Type.String({ pattern: '^[0-9a-f]{32}$' });
export const Sdp = Type.String({ minLength: 1, maxLength: 64 * 1024 });
export const Codec = Type.Union([Type.Literal('H264'), Type.Literal('VP8')]);
export const Role = Type.Union([Type.Literal('player'), Type.Literal('host'), Type.Literal('checker')]);

export const IceCandidate = Type.Object(
  {
    candidate: Type.String({ maxLength: 1024 }),
    sdpMid: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
    sdpMLineIndex: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 255 }), Type.Null()])),
    usernameFragment: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Null()])),
  },
  { additionalProperties: false },
);

export const SessionState = Type.Union([
  Type.Literal('requested'),
  Type.Literal('queued'),
  Type.Literal('leased'),
  Type.Literal('connecting'),
  Type.Literal('streaming'),
  Type.Literal('ended'),
]);

export const EndReason = Type.Union([
  Type.Literal('player-quit'),
  Type.Literal('player-left'),
  Type.Literal('afk'),
  Type.Literal('host-lost'),
  Type.Literal('host-stopped'),
  Type.Literal('game-crashed'),
  Type.Literal('connect-timeout'),
  Type.Literal('insufficient-funds'),
  Type.Literal('drained'),
  Type.Literal('error'),
]);

export const SlotState = Type.Union([Type.Literal('free'), Type.Literal('leased'), Type.Literal('busy')]);

export const Region = Type.Object(
  {
    country: Type.String({ pattern: '^[A-Z]{2}$' }),
    lat: Type.Number({ minimum: -90, maximum: 90 }),
    lon: Type.Number({ minimum: -180, maximum: 180 }),
  },
  { additionalProperties: false },
);

/** What a host says about each game it serves; `GET /api/games` shows these to players. */
export const GameInfo = Type.Object(
  {
    id: GameId,
    title: Type.String({ minLength: 1, maxLength: 80 }),
    description: Type.String({ maxLength: 280 }),
    width: Type.Integer({ minimum: 160, maximum: 7680 }),
    height: Type.Integer({ minimum: 90, maximum: 4320 }),
    fps: Type.Integer({ minimum: 1, maximum: 240 }),
    /** `relative`: first-person games want pointer lock and mouse deltas. */
    inputMode: Type.Union([Type.Literal('absolute'), Type.Literal('relative')]),
    audio: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const HostEndpoints = Type.Object(
  {
    /** WebSocket echo endpoint players and checkers measure RTT against (fastify + @fastify/websocket). */
    probeUrl: Type.String({ maxLength: 512 }),
    metricsUrl: Type.String({ maxLength: 512 }),
  },
  { additionalProperties: false },
);

// ---- any peer → signaling ------------------------------------------------------------------------------

export const Hello = message('hello', {
  protocolVersion: Type.Integer({ minimum: 0, maximum: 65535 }),
  role: Role,
  agent: Type.Optional(Type.String({ maxLength: 128 })),
});

// ---- signaling → any peer ------------------------------------------------------------------------------

export const Welcome = message('welcome', {
  protocolVersion: Type.Integer({ minimum: 0 }),
  peerId: PeerId,
  /** Fresh per connection: hosts and checkers sign it (EIP-191) to prove their wallet. */
  nonce: Nonce,
  serverTimeMs: Type.Number(),
});

export const ErrorReply = message('error', {
  code: WireErrorCodeSchema,
  message: Type.String({ maxLength: 1024 }),
  /** The `type` of the message that caused it, when known. */
  ref: Type.Optional(Type.String({ maxLength: 64 })),
  sessionId: Type.Optional(SessionId),
  /** `ATH_ERR_RATE_LIMITED`: when the next message would be taken; `ATH_ERR_UNPAID_SESSIONS`: when Play would be. */
  retryAfterMs: Type.Optional(Type.Integer({ minimum: 0 })),
  /** `ATH_ERR_STAKE_TOO_LOW`: what the StakingRegistry holds for the address and what is missing. */
  stake: Type.Optional(
    Type.Object(
      {
        /** The tier the address is staked in (none when it never staked), or the one it needs. */
        tier: Type.Optional(Type.String({ maxLength: 64 })),
        stakeWei: WeiString,
        minStakeWei: WeiString,
        missingWei: WeiString,
      },
      { additionalProperties: false },
    ),
  ),
});

// ---- player → signaling --------------------------------------------------------------------------------

/** The player's quality setting (mediaWire.ts VIDEO_RUNGS): the picture size, frame rate and bitrate rung. */
export const Quality = Type.Union(QUALITY_NAMES.map((name) => Type.Literal(name)));

export const Play = message('play', {
  game: GameId,
  /** Codecs the browser can decode, most preferred first. */
  codecs: Type.Array(Codec, { minItems: 1, maxItems: 2, uniqueItems: true }),
  /** The rung a built-in game streams at (absent: auto, the host's default). */
  quality: Type.Optional(Quality),
  maxPriceWeiPerSec: Type.Optional(WeiString),
  /** Resume a session after a reload or network blip (within the reconnect window). */
  resumeSessionId: Type.Optional(SessionId),
  /**
   * With `resumeSessionId`: the player's stream is still playing (only signaling was lost — a signaling
   * server went down and this is another one): resume without renegotiating the media.
   */
  keepStream: Type.Optional(Type.Boolean()),
  /** Wait in line when every slot is taken (default); `false` answers `ATH_ERR_NO_FREE_SLOT` at once. */
  queue: Type.Optional(Type.Boolean()),
  /**
   * The browser's IANA time zone (`Intl.DateTimeFormat().resolvedOptions().timeZone`): a first guess of where
   * the player is, so that the hosts it probes are near it.
   */
  timeZone: Type.Optional(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_+/-]{0,63}$' })),
  /** A studio play token (`POST /api/play-tokens`): the studio pays; bound to a game, an origin and a cap. */
  playToken: Type.Optional(Type.String({ pattern: '^ath_pt_[A-Za-z0-9_-]{43}$' })),
});

export const Answer = message('answer', { sessionId: SessionId, sdp: Sdp });

export const Ice = message('ice', { sessionId: SessionId, candidate: Type.Union([IceCandidate, Type.Null()]) });

export const Quit = message('quit', { sessionId: SessionId });

/** The player's (or studio's) signed SessionAuth for the terms in `session.payment`. */
export const SessionAuthMessage = message('session-auth', {
  sessionId: SessionId,
  auth: Type.Object(
    {
      sessionId: SessionId,
      player: Address,
      provider: Address,
      maxAmount: WeiString,
      pricePerSecond: WeiString,
      expiry: Type.String({ pattern: '^[1-9][0-9]{0,19}$' }),
    },
    { additionalProperties: false },
  ),
  signature: HexSignature,
});

/** A signed SessionAuth as the `session-auth` message carries it (amounts and expiry as decimal strings). */
export function sessionAuthWire(auth: SessionAuth): Static<typeof SessionAuthMessage>['auth'] {
  return {
    sessionId: auth.sessionId,
    player: auth.player,
    provider: auth.provider,
    maxAmount: weiToString(auth.maxAmount),
    pricePerSecond: weiToString(auth.pricePerSecond),
    expiry: String(auth.expiry),
  };
}

/** RTT the browser measured to each candidate's probe endpoint; `null` = unreachable or timed out. */
export const ProbeResults = message('probe-results', {
  sessionId: SessionId,
  results: Type.Array(
    Type.Object(
      { hostId: HostId, rttMs: Type.Union([Type.Number({ minimum: 0, maximum: 60_000 }), Type.Null()]) },
      { additionalProperties: false },
    ),
    { maxItems: 32 },
  ),
});

/** Input relayed through signaling when the data channel is not open (base64 of one binary input message). */
export const InputRelay = message('input', {
  sessionId: SessionId,
  data: Type.String({ pattern: '^[A-Za-z0-9+/]{4,88}={0,2}$' }),
});

/** What the player sees, every few seconds while streaming (fps, RTT); feeds delivery verification. */
export const PlayerReport = message('player-report', {
  sessionId: SessionId,
  fpsMilli: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
  rttMicros: Type.Integer({ minimum: 0, maximum: 60_000_000 }),
  framesDecoded: Type.Integer({ minimum: 0 }),
  packetsLost: Type.Integer({ minimum: 0 }),
  /**
   * Play → first frame shown, as the browser measured it; sent once, in the first report of a new session
   * (not a resume). Signaling observes it in `ath_edge_session_setup_seconds`.
   */
  firstFrameMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
});

// ---- signaling → player --------------------------------------------------------------------------------

export const Queued = message('queued', {
  sessionId: SessionId,
  game: GameId,
  /** 1 = next in line. */
  position: Type.Integer({ minimum: 1 }),
});

/** What the player must authorize (EIP-712 SessionAuth in the escrow's domain) for a session to be billed. */
export const PaymentTerms = Type.Object(
  {
    chainId: Type.Integer({ minimum: 1 }),
    escrowAddress: Address,
    providerAddress: Address,
    maxAmountWei: WeiString,
    pricePerSecondWei: WeiString,
    /** Unix seconds, as a decimal string (uint64). */
    expirySec: Type.String({ pattern: '^[1-9][0-9]{0,19}$' }),
  },
  { additionalProperties: false },
);

export const SessionAssigned = message('session', {
  sessionId: SessionId,
  hostId: HostId,
  game: GameId,
  slot: Type.Integer({ minimum: 0 }),
  state: SessionState,
  priceWeiPerSec: WeiString,
  resumed: Type.Boolean(),
  /** Present when the network bills: sign it and send `session-auth` before the stream is paid for. */
  payment: Type.Optional(PaymentTerms),
  /** STUN/TURN servers for this session's peer connection (TURN with credentials issued for this session). */
  iceServers: Type.Optional(IceServers),
  /** The network's policy for players: `relay` = TURN only (the host never learns the player's addresses). */
  iceTransportPolicy: Type.Optional(IceTransportPolicy),
});

/** The running charge, every metering tick. */
export const Charge = message('charge', {
  sessionId: SessionId,
  cumulativeWei: WeiString,
  deliveredSec: Type.Integer({ minimum: 0 }),
  maxAmountWei: WeiString,
});

export const PaymentAccepted = message('payment-accepted', { sessionId: SessionId, payerAddress: Address });

/** Before a slot is leased: measure RTT to these hosts on the player's own path and answer `probe-results`. */
export const ProbeRequest = message('probe-request', {
  sessionId: SessionId,
  candidates: Type.Array(
    Type.Object({ hostId: HostId, probeUrl: Type.String({ maxLength: 512 }) }, { additionalProperties: false }),
    {
      minItems: 1,
      maxItems: 32,
    },
  ),
  samples: Type.Integer({ minimum: 1, maximum: 20 }),
  timeoutMs: Type.Integer({ minimum: 100, maximum: 10_000 }),
});

export const Offer = message('offer', { sessionId: SessionId, sdp: Sdp });

export const SessionEnded = message('session-ended', {
  sessionId: SessionId,
  reason: EndReason,
  message: Type.String({ maxLength: 512 }),
});

// ---- render host → signaling ---------------------------------------------------------------------------

export const Register = message('register', {
  hostId: HostId,
  providerAddress: Address,
  /** EIP-191 signature by providerAddress over `hostRegistrationMessage(hostId, nonce)`. */
  signature: HexSignature,
  region: Region,
  gpu: Type.String({ maxLength: 128 }),
  encoder: Type.Union([Type.Literal('nvenc'), Type.Literal('x264')]),
  games: Type.Array(GameInfo, { minItems: 1, maxItems: 256 }),
  slots: Type.Integer({ minimum: 1, maximum: 256 }),
  /**
   * Sessions the host takes for checkers' probes beyond its `slots` (never sold to players): 1. Signaling admits
   * no host without it (`ATH_ERR_NO_PROBE_RESERVE`): a host whose every slot is busy is still probed there.
   */
  probeReserve: Type.Optional(Type.Integer({ minimum: 0, maximum: 1 })),
  priceWeiPerSec: WeiString,
  endpoints: HostEndpoints,
});

export const Heartbeat = message('heartbeat', {
  /** 0..1: share of the host's CPU/GPU in use. */
  load: Type.Number({ minimum: 0, maximum: 1 }),
  slots: Type.Array(
    Type.Object(
      { slot: Type.Integer({ minimum: 0 }), state: SlotState, sessionId: Type.Optional(SessionId) },
      { additionalProperties: false },
    ),
    // Its slots and its probe reserve.
    { maxItems: 257 },
  ),
});

export const SessionStarted = message('session-started', { sessionId: SessionId });

export const HostSessionEnded = message('host-session-ended', {
  sessionId: SessionId,
  reason: EndReason,
  message: Type.String({ maxLength: 512 }),
});

/** What the host delivered, every few seconds per live session. */
export const HostReport = message('host-report', {
  sessionId: SessionId,
  fpsMilli: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
  framesSent: Type.Integer({ minimum: 0 }),
  bitrateBps: Type.Integer({ minimum: 0 }),
  /** Time since the player's last input reached the game: signaling ends AFK sessions from it. */
  inputIdleMs: Type.Integer({ minimum: 0 }),
  /**
   * The host's signed delivery receipt over `sessionId`, `framesSent`, `fpsMilli` and `bitrateBps` (its provider
   * key, deliveryReceipt.ts): what it claims is evidence when the session's player counts otherwise.
   */
  receipt: Type.Optional(DeliveryReceiptWire),
});

// ---- checker → signaling -------------------------------------------------------------------------------

const Uint64String = Type.String({ pattern: '^(0|[1-9][0-9]{0,19})$' });

export const RegisterChecker = message('register-checker', {
  checkerAddress: Address,
  /** EIP-191 signature by checkerAddress over `checkerRegistrationMessage(checkerAddress, nonce)`. */
  signature: HexSignature,
});

/** The EIP-712 CheckReport (typedData.ts) on the wire: uint64 fields as decimal strings. */
export const CheckReportFields = Type.Object(
  {
    container: HostId,
    checker: Address,
    round: Uint64String,
    rttMicros: Type.Integer({ minimum: 0, maximum: 0xffffffff }),
    fpsMilli: Type.Integer({ minimum: 0, maximum: 0xffffffff }),
    lossPpm: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
    ok: Type.Boolean(),
    timestamp: Uint64String,
  },
  { additionalProperties: false },
);

export const CheckReportMessage = message('check-report', { report: CheckReportFields, signature: HexSignature });

/** The checker is done with a probe stream (measured, or gave up): the host can stop it. */
export const ProbeDone = message('probe-done', { sessionId: SessionId });

// ---- signaling → checker -------------------------------------------------------------------------------

export const CheckerRegistered = message('checker-registered', { checkerAddress: Address });

/** What a container owes in a round: one of its games, at that game's manifest size and rate. */
export const ExpectedStreamFields = Type.Object(
  {
    game: GameId,
    width: Type.Integer({ minimum: 160, maximum: 7680 }),
    height: Type.Integer({ minimum: 90, maximum: 4320 }),
    fps: Type.Integer({ minimum: 1, maximum: 240 }),
  },
  { additionalProperties: false },
);

/**
 * Measure this container in this round. The container streams `expected.game` to `probeSessionId` as it would
 * to a player (it is told nothing else: to the host it is a player's session); its `offer` follows when the
 * probes before this one are done: answer it, measure, send `check-report`, then `probe-done`.
 */
export const CheckAssignment = message('check-assignment', {
  round: Uint64String,
  container: HostId,
  probeSessionId: SessionId,
  /** What the container owes (the game's manifest, not the host's word); a checker judges `ok` against it. */
  expected: ExpectedStreamFields,
  deadlineMs: Type.Integer({ minimum: 1000 }),
  /** STUN/TURN servers for the probe's peer connection (TURN credentials issued for the probe session). */
  iceServers: Type.Optional(IceServers),
});

export const ReportAccepted = message('report-accepted', { round: Uint64String, container: HostId });

/**
 * The probe got a slot of its container: its host was just sent the `start-session` (as a player's lease sends it).
 * The host's `offer` is due from now; before, the probe was waiting behind other probes or for a free slot.
 */
export const ProbeStarted = message('probe-started', { sessionId: SessionId });

// ---- signaling → render host ---------------------------------------------------------------------------

export const Registered = message('registered', { hostId: HostId });

export const StartSession = message('start-session', {
  sessionId: SessionId,
  slot: Type.Integer({ minimum: 0 }),
  game: GameId,
  codecs: Type.Array(Codec, { minItems: 1, maxItems: 2, uniqueItems: true }),
  /** The player's quality rung (absent: auto). */
  quality: Type.Optional(Quality),
  /** True when the player reconnects to a session the host still holds: keep the game state. */
  resume: Type.Boolean(),
  /** STUN/TURN servers for this session (TURN credentials issued for it); the host adds its own NAT settings. */
  iceServers: Type.Optional(IceServers),
});

export const StopSession = message('stop-session', { sessionId: SessionId, reason: EndReason });

// ---- unions and registries -----------------------------------------------------------------------------

export const PEER_MESSAGES = {
  hello: Hello,
  play: Play,
  answer: Answer,
  ice: Ice,
  quit: Quit,
  input: InputRelay,
  'probe-results': ProbeResults,
  'session-auth': SessionAuthMessage,
  'player-report': PlayerReport,
  register: Register,
  heartbeat: Heartbeat,
  offer: Offer,
  'session-started': SessionStarted,
  'host-session-ended': HostSessionEnded,
  'host-report': HostReport,
  'register-checker': RegisterChecker,
  'check-report': CheckReportMessage,
  'probe-done': ProbeDone,
} as const satisfies Record<string, TObject>;

export const SERVER_MESSAGES = {
  welcome: Welcome,
  error: ErrorReply,
  queued: Queued,
  'probe-request': ProbeRequest,
  session: SessionAssigned,
  offer: Offer,
  answer: Answer,
  ice: Ice,
  input: InputRelay,
  'session-ended': SessionEnded,
  charge: Charge,
  'payment-accepted': PaymentAccepted,
  registered: Registered,
  'start-session': StartSession,
  'stop-session': StopSession,
  'checker-registered': CheckerRegistered,
  'check-assignment': CheckAssignment,
  'report-accepted': ReportAccepted,
  'probe-started': ProbeStarted,
} as const satisfies Record<string, TObject>;

export type PeerMessageType = keyof typeof PEER_MESSAGES;
export type ServerMessageType = keyof typeof SERVER_MESSAGES;
export type PeerMessage = { [K in PeerMessageType]: Static<(typeof PEER_MESSAGES)[K]> }[PeerMessageType];
export type ServerMessage = { [K in ServerMessageType]: Static<(typeof SERVER_MESSAGES)[K]> }[ServerMessageType];
export type PeerMessageOf<K extends PeerMessageType> = Static<(typeof PEER_MESSAGES)[K]>;
export type ServerMessageOf<K extends ServerMessageType> = Static<(typeof SERVER_MESSAGES)[K]>;

/** Which peer role may send which message: SDP from the wrong party is refused, not relayed. */
export const MESSAGES_BY_ROLE = {
  player: ['hello', 'play', 'answer', 'ice', 'quit', 'input', 'probe-results', 'session-auth', 'player-report'],
  host: ['hello', 'register', 'heartbeat', 'offer', 'ice', 'session-started', 'host-session-ended', 'host-report'],
  checker: ['hello', 'register-checker', 'answer', 'ice', 'check-report', 'probe-done'],
} as const satisfies Record<Static<typeof Role>, readonly PeerMessageType[]>;

export type PeerRole = Static<typeof Role>;
export type CodecName = Static<typeof Codec>;
export type EndReasonName = Static<typeof EndReason>;
export type SessionStateName = Static<typeof SessionState>;
export type SlotStateName = Static<typeof SlotState>;
export type IceCandidateInit = Static<typeof IceCandidate>;
export type RegionInfo = Static<typeof Region>;
export type GameInfoRecord = Static<typeof GameInfo>;
export type PaymentTermsRecord = Static<typeof PaymentTerms>;

/** The exact text a host's provider wallet signs (EIP-191 personal_sign) to register. */
export function hostRegistrationMessage(hostId: string, nonce: string): string {
  return `ath-edge host registration\nhost: ${hostId}\nnonce: ${nonce}`;
}

/**
 * The id a host registers under: its name bound to its provider's address (the first 16 hex digits, 64 bits),
 * so another provider can take it neither before nor after. Signaling refuses an id not bound to the key that
 * signs its registration — the signature then covers the very id checkers report on (slash evidence). A name
 * that already carries the provider's suffix is kept; a long name is cut to leave room for the suffix.
 */
export function boundHostId(name: string, providerAddress: string): string {
  const suffix = `-${providerAddress.slice(2, 18).toLowerCase()}`;
  if (name.endsWith(suffix)) return name;
  return `${name.slice(0, 63 - suffix.length).replace(/-+$/, '')}${suffix}`;
}

/** The exact text a checker's wallet signs (EIP-191 personal_sign) to register. */
export function checkerRegistrationMessage(checkerAddress: string, nonce: string): string {
  return `ath-edge checker registration\nchecker: ${checkerAddress.toLowerCase()}\nnonce: ${nonce}`;
}

/** Maximum size of one signaling frame; larger frames are refused before parsing. */
export const MAX_MESSAGE_BYTES = 96 * 1024;
