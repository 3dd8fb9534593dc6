/**
 * The one configuration of an ath-edge node: defaults ← config file ← environment ← flags, validated by
 * one schema (unknown keys are errors), frozen, and passed down. Nothing else reads `process.env`.
 */
import { type Static, Type } from '@sinclair/typebox';
import {
  DEFAULT_ADMISSION_SETTINGS,
  DEFAULT_CHECK_SETTINGS,
  DEFAULT_SIGNALING_SETTINGS,
  DEFAULT_STAKE_SETTINGS,
} from '../../signaling/index.js';
import { IceServerUrl, IceTransportPolicy, Region, WeiString } from '../../signaling/protocol/index.js';

const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const HexKey = Type.String({ pattern: '^0x[0-9a-fA-F]{64}$' });
/** An IPv4 or IPv6 address literal (no host names: a candidate carries an address). */
const IpAddress = Type.String({
  pattern: '^([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)$',
  maxLength: 64,
});
const UdpPort = Type.Integer({ minimum: 1, maximum: 65535 });
const obj = <T extends Parameters<typeof Type.Object>[0]>(properties: T) =>
  Type.Object(properties, { additionalProperties: false });
const Rate = obj({ ratePerSec: Type.Number({ exclusiveMinimum: 0 }), burst: Type.Integer({ minimum: 1 }) });

export const EdgeConfigSchema = obj({
  logLevel: Type.Union([
    Type.Literal('fatal'),
    Type.Literal('error'),
    Type.Literal('warn'),
    Type.Literal('info'),
    Type.Literal('debug'),
    Type.Literal('trace'),
    Type.Literal('silent'),
  ]),
  /** Where keys, logs and the embedded ledger live. */
  dataDir: Type.String({ minLength: 1 }),
  bindHost: Type.String({ minLength: 1 }),
  signaling: obj({
    httpPort: Port,
    wsPort: Port,
    /**
     * For roles that join a remote signaling server: its HTTP base URL (they read /api/config); several
     * servers of one network comma-separated (a node moves to the next when one goes down).
     */
    url: Type.Optional(Type.String()),
    /**
     * Share the network's state with other signaling servers through this Redis (`redis://host:port[/db]`):
     * hosts, slots, sessions, the queue and the meter's state; messages between them. Absent: in memory.
     */
    redisUrl: Type.Optional(Type.String({ pattern: '^rediss?://' })),
    /** Keys and channels in Redis start with it: servers with the same prefix form one network. */
    redisPrefix: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9:_-]{1,32}$' })),
    /** This server's id in the network (lowercase letters and digits); random when absent. */
    instanceId: Type.Optional(Type.String({ pattern: '^[a-z0-9]{1,32}$' })),
    publicHttpUrl: Type.Optional(Type.String()),
    publicWsUrl: Type.Optional(Type.String()),
    /** HMAC key for player tokens; generated and kept in dataDir when absent. */
    tokenSecretHex: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64,}$' })),
    tokenTtlSec: Type.Integer({ minimum: 60 }),
    heartbeatIntervalMs: Type.Integer({ minimum: 100 }),
    missedHeartbeatsAllowed: Type.Integer({ minimum: 1 }),
    leaseTtlMs: Type.Integer({ minimum: 100 }),
    reconnectWindowMs: Type.Integer({ minimum: 0 }),
    reloadGraceMs: Type.Integer({ minimum: 0 }),
    afkTimeoutMs: Type.Integer({ minimum: 1000 }),
    /** Between two checker rounds of a container (2N+1 checkers each); a minute by default. */
    checkIntervalMs: Type.Integer({ minimum: 1000 }),
    /**
     * A container's first round comes this long after its host registered (30 s): not during the host's own
     * start-up, nor — under `npm start` — while the stack's other roles and the first player are starting.
     */
    firstCheckDelayMs: Type.Integer({ minimum: 0 }),
    /**
     * The WebSocket server: `auto` = uWebSockets.js where a native build loads (else @fastify/websocket, with a
     * warning), `uws` = refuse to start without it, `fastify-ws` = always @fastify/websocket.
     */
    wsTransport: Type.Union([Type.Literal('auto'), Type.Literal('uws'), Type.Literal('fastify-ws')]),
    /** Distinct staked checkers a verdict needs (fewer: inconclusive). */
    checkMinResponders: Type.Integer({ minimum: 1, maximum: 64 }),
    /** Passing checks in a row that lift a provider's drain. */
    probationPasses: Type.Integer({ minimum: 1, maximum: 100 }),
    /**
     * Distinct payers whose sessions contradicted a provider's signed delivery receipts while its probes passed
     * (their decoders counted far less), within `contradictionWindowMs`, that drain it (0: never).
     */
    contradictedPlayersToDrain: Type.Integer({ minimum: 0, maximum: 1000 }),
    contradictionWindowMs: Type.Integer({ minimum: 60_000 }),
    /** Seconds a payer must have been billed for with other providers before its contradiction counts (0: any). */
    contradictionMinPayerSec: Type.Integer({ minimum: 0 }),
    /** Never let a checker check a container in its own network of these prefix lengths (0: off). */
    checkerExclusion: obj({
      ipv4PrefixBits: Type.Integer({ minimum: 0, maximum: 32 }),
      ipv6PrefixBits: Type.Integer({ minimum: 0, maximum: 128 }),
    }),
    /** Provider tiers a render host may be staked in, with the slots each allows a provider in all. */
    hostTiers: Type.Record(
      Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }),
      obj({ maxSlots: Type.Integer({ minimum: 1, maximum: 100_000 }) }),
    ),
    /** Prices a render host may ask, wei per second (inclusive). */
    priceMinWeiPerSec: WeiString,
    priceMaxWeiPerSec: WeiString,
    /** A host's probe URL must name the address it connects from. */
    probeUrlMustMatchPeer: Type.Boolean(),
    /** A host down this long is forgotten. */
    hostTtlMs: Type.Integer({ minimum: 1000 }),
    /** Admission control (per source address): connection caps, token buckets, deadlines, HTTP limits. */
    admission: obj({
      maxConnections: Type.Integer({ minimum: 1 }),
      maxConnectionsPerIp: Type.Integer({ minimum: 1 }),
      upgradesPerIp: Rate,
      messagesPerSocket: Rate,
      messagesPerIp: Rate,
      helloTimeoutMs: Type.Integer({ minimum: 100 }),
      registerTimeoutMs: Type.Integer({ minimum: 100 }),
      maxSessionsPerIp: Type.Integer({ minimum: 1 }),
      maxTrackedIps: Type.Integer({ minimum: 1 }),
      /** Reverse proxies whose X-Forwarded-For is believed (addresses or CIDRs). */
      trustedProxies: Type.Array(Type.String({ minLength: 2, maxLength: 64 }), { maxItems: 256 }),
      unpaidEndings: obj({
        max: Type.Integer({ minimum: 1 }),
        windowMs: Type.Integer({ minimum: 1000 }),
        maxTracked: Type.Integer({ minimum: 1 }),
      }),
      http: obj({
        requestsPerMinute: Type.Integer({ minimum: 1 }),
        playerTokensPerMinute: Type.Integer({ minimum: 1 }),
        maxTrackedIps: Type.Integer({ minimum: 1 }),
      }),
    }),
  }),
  renderHost: obj({
    /** Stable id of this host; derived from the provider address when absent. */
    hostId: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' })),
    slots: Type.Integer({ minimum: 1, maximum: 64 }),
    probePort: Port,
    /**
     * The host name or address players and checkers reach this host's probe/metrics server at, when it is
     * bound to another (`bindHost=0.0.0.0` in a container): the probe URL signaling hands out names it.
     */
    publicHost: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:\\[\\]-]+$' })),
    region: Region,
    gpu: Type.Optional(Type.String()),
    priceWeiPerSec: WeiString,
    /** Provider wallet key; generated and kept in dataDir when absent. */
    providerKey: Type.Optional(HexKey),
    /** Game ids to serve (default: every game in the catalogue this machine can run). */
    games: Type.Optional(Type.Array(Type.String())),
    /**
     * External games (render-host/apps: real Linux games under Xvfb) on top of the built-in ones: a list of
     * catalogue ids, or `auto` for every one this machine can run. Absent: built-in games only (the light default).
     */
    apps: Type.Optional(Type.Union([Type.Literal('auto'), Type.Array(Type.String({ minLength: 1 }))])),
    /** A directory of the provider's own game manifests (one JSON file per game; see README "Adding a game"). */
    appsDir: Type.Optional(Type.String({ minLength: 1 })),
    encoder: obj({
      prefer: Type.Union([Type.Literal('auto'), Type.Literal('nvenc'), Type.Literal('x264')]),
      minBitrateBps: Type.Integer({ minimum: 100_000 }),
      startBitrateBps: Type.Integer({ minimum: 100_000 }),
      maxBitrateBps: Type.Integer({ minimum: 100_000 }),
    }),
    heartbeatIntervalMs: Type.Integer({ minimum: 100 }),
    /**
     * The render host's CPU scheduling priority (Unix nice, −20…19; render-host/host/schedulingPriority.ts): its
     * streams run ahead of the machine's other work. Below 0 needs root, CAP_SYS_NICE or RLIMIT_NICE; without,
     * the host keeps its priority and logs why. 0 leaves it as started.
     */
    nice: Type.Integer({ minimum: -20, maximum: 19 }),
    /**
     * Each built-in game session's thread (the game renders on it) runs at this real-time priority (SCHED_RR,
     * 1…99) while it streams, ahead of every normal thread of the machine whatever its nice or scheduling group,
     * and back to normal scheduling if it ever uses more than 85 % of a core (render-host/session/realtimeThread.ts).
     * External games' sessions keep normal scheduling. Needs root, CAP_SYS_NICE or an RLIMIT_RTPRIO of at least
     * this; without, sessions run at normal priority and the host logs why. 0: off.
     */
    sessionRealtimePriority: Type.Integer({ minimum: 0, maximum: 99 }),
    /** Test hook: added to every probe echo, to make this host look farther away. */
    probeDelayMs: Type.Integer({ minimum: 0, maximum: 10_000 }),
    /**
     * Test hooks that degrade this host on purpose (fps cap, delayed data-channel replies), so tests can prove
     * checkers catch a bad container (render-host/session/TestHooks.ts). `adminEndpoint` serves
     * `POST /test-hooks` on the host's probe/metrics server to switch them while the stack runs.
     */
    testHooks: obj({
      adminEndpoint: Type.Boolean(),
      fpsCap: Type.Optional(Type.Integer({ minimum: 1, maximum: 240 })),
      dataChannelDelayMs: Type.Integer({ minimum: 0, maximum: 10_000 }),
    }),
  }),
  chain: obj({
    /** `none`: no billing. `anvil`: the embedded chain (started and deployed by `ath-edge all`). */
    network: Type.Union([
      Type.Literal('none'),
      Type.Literal('anvil'),
      Type.Literal('arbitrum-sepolia'),
      Type.Literal('arbitrum-one'),
    ]),
    rpcUrl: Type.Optional(Type.String()),
    chainId: Type.Optional(Type.Integer({ minimum: 1 })),
    tokenAddress: Type.Optional(Type.String({ pattern: '^0x[0-9a-fA-F]{40}$' })),
    escrowAddress: Type.Optional(Type.String({ pattern: '^0x[0-9a-fA-F]{40}$' })),
    stakingAddress: Type.Optional(Type.String({ pattern: '^0x[0-9a-fA-F]{40}$' })),
    /** The meter's key: signs Usage vouchers and sends the settlement transactions. */
    meterKey: Type.Optional(HexKey),
    /** The slasher's key (never the meter's): sends slashes with their evidence. Anvil: dev account 5. */
    slasherKey: Type.Optional(HexKey),
    /** The rewards pool's key (the escrow's checker-pool recipient): pays stakers and checkers. Anvil: dev account 3. */
    rewardsKey: Type.Optional(HexKey),
    /** The block the contracts were deployed in (where the rewards job starts looking for stakers). */
    deployBlock: Type.Optional(Type.Integer({ minimum: 0 })),
    anvilPort: Port,
    /**
     * Where the embedded anvil listens (`--anvil-host`; default 127.0.0.1, this machine only). Browsers on other
     * machines deposit through it: bind a LAN address or 0.0.0.0, and name it in `publicRpcUrl` for a wildcard.
     */
    anvilHost: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:\\[\\]-]+$' })),
    /**
     * The JSON-RPC URL `GET /api/chain` hands browsers on the embedded chain, when it is not the one this machine
     * uses (`chain.rpcUrl`): e.g. `http://192.168.1.20:8545` for a chain bound to 0.0.0.0.
     */
    publicRpcUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
  }),
  economy: obj({
    /** Cap of one session's authorization, in seconds of play at the host's price. */
    maxSessionSeconds: Type.Integer({ minimum: 60 }),
    /** An authorization's lifetime: at least a whole session plus `expiryMarginSec`. */
    authExpirySec: Type.Integer({ minimum: 600 }),
    /** Kept for settlement: authorizations must outlive their session by this much; sessions end this early. */
    expiryMarginSec: Type.Integer({ minimum: 60 }),
    /** After a lease, how long the player has to sign the SessionAuth. */
    authTimeoutMs: Type.Integer({ minimum: 1000 }),
    tickSec: Type.Integer({ minimum: 1, maximum: 60 }),
    fpsFloor: Type.Integer({ minimum: 1, maximum: 240 }),
    settleIntervalMs: Type.Integer({ minimum: 500 }),
    settleBatchSize: Type.Integer({ minimum: 1, maximum: 200 }),
    /** `POST /api/faucet` gives test ATH and ETH on the embedded chain. */
    faucet: Type.Boolean(),
    /** Slashing on the checkers' confirmed verdicts (the rates are the StakingRegistry's: see `ath-edge deploy`). */
    slashing: obj({
      enabled: Type.Boolean(),
      /** A failing round whose majority saw less than this share of the game's frame rate is fraud (a full unit). */
      farBelowSpecRatio: Type.Number({ minimum: 0, maximum: 1 }),
      /** How often decided slashes are sent. */
      intervalMs: Type.Integer({ minimum: 200 }),
    }),
    /** Stakers' weekly rewards and checkers' pay, from the rewards pool (the escrow's checker share of the fee). */
    rewards: obj({
      enabled: Type.Boolean(),
      /** The stakers' part of the pool, basis points; the rest pays checkers. */
      stakerShareBps: Type.Integer({ minimum: 0, maximum: 10_000 }),
      /** Checkers' pay period in seconds (divides a week; Aethir pays checkers daily). */
      checkerPeriodSec: Type.Integer({ minimum: 60, maximum: 604_800 }),
      intervalMs: Type.Integer({ minimum: 200 }),
    }),
  }),
  ledger: obj({
    /** A Postgres server; the embedded PGlite (in dataDir) when absent. Env: DATABASE_URL. */
    databaseUrl: Type.Optional(Type.String()),
  }),
  checker: obj({
    /** Names this checker's key file (`keys/<name>.key`) and its log lines; the stack runs checker-1, -2, … */
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }),
    /** Checker wallet key; read from (or created in) `keyFile`, default dataDir/keys/<name>.key, when absent. */
    key: Type.Optional(HexKey),
    keyFile: Type.Optional(Type.String({ minLength: 1 })),
    /** Port of the checker's /metrics and /healthz (0 = any free port). */
    metricsPort: Port,
    /** A container passes at ≥ this share of its advertised frame rate. */
    minFpsRatio: Type.Number({ minimum: 0, maximum: 1 }),
    /** A container passes at a median data-channel RTT ≤ this. */
    maxRttMs: Type.Integer({ minimum: 1, maximum: 10_000 }),
    maxLossPpm: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
    /** Frame-rate window of one probe (pings, ≥ 10, are spread over it). */
    windowMs: Type.Integer({ minimum: 500, maximum: 20_000 }),
    pings: Type.Integer({ minimum: 10, maximum: 100 }),
  }),
  /**
   * ICE for every role (README "Providers behind NAT", "Players behind firewalls"). Signaling hands the STUN and
   * TURN servers to each session's player, render host and checker, TURN with credentials issued for that
   * session; a render host adds its own NAT settings; a checker its port range. The defaults use no server at
   * all: loopback and a LAN need none, and nothing leaves the machine.
   */
  ice: obj({
    /** `stun:host:port` servers (every role; werift uses the first). */
    stunUrls: Type.Array(IceServerUrl, { maxItems: 8 }),
    /**
     * A TURN server (coturn with `use-auth-secret`) sharing `secret` with signaling. List the URLs players
     * behind firewalls need: `turn:H:3478?transport=udp`, `turn:H:3478?transport=tcp`, `turns:H:443?transport=tcp`.
     */
    turn: Type.Optional(
      obj({
        urls: Type.Array(IceServerUrl, { minItems: 1, maxItems: 8 }),
        /** coturn's `static-auth-secret` (signaling only; or `secretFile`). Never logged. */
        secret: Type.Optional(Type.String({ minLength: 16, maxLength: 512 })),
        secretFile: Type.Optional(Type.String({ minLength: 1 })),
        /** Credentials live `economy.maxSessionSeconds` plus this (coturn checks them on every refresh). */
        ttlMarginSec: Type.Optional(Type.Integer({ minimum: 60, maximum: 86_400 })),
      }),
    ),
    /** Players: `all`, or `relay` to use TURN only (render hosts never learn players' addresses). */
    playerTransportPolicy: IceTransportPolicy,
    /** Render host: public addresses of a 1:1 NAT in front of it (port range forwarded to the same ports). */
    publicAddresses: Type.Array(IpAddress, { maxItems: 4 }),
    /** Render host and checker: the UDP ports their WebRTC sockets use (what a firewall or port forward opens). */
    portRange: Type.Optional(Type.Tuple([UdpPort, UdpPort])),
    /**
     * Render host: the candidate kinds it announces — `host` (its interface addresses: internal ones behind NAT),
     * `public` (publicAddresses), `srflx` (from STUN), `relay` (TURN). Withheld kinds never reach players.
     */
    announce: Type.Array(
      Type.Union([Type.Literal('host'), Type.Literal('public'), Type.Literal('srflx'), Type.Literal('relay')]),
      { minItems: 1, maxItems: 4, uniqueItems: true },
    ),
    useIpv6: Type.Boolean(),
  }),
  /**
   * TLS (README "HTTPS and WSS"). With a certificate and key, signaling serves its HTTP API and pages over https and
   * its WebSockets over wss, and a render host its probe endpoint over wss (an https page may not open ws://).
   * `selfSigned` makes (once, then reuses) a pair for `bindHost` in `dataDir/tls/`: `npm start -- --tls`.
   * `caFile`: a PEM certificate a render host, checker or provider command trusts when it joins signaling over
   * https/wss, beside the system's CAs (a private CA, or signaling's self-signed certificate).
   */
  tls: obj({
    certFile: Type.Optional(Type.String({ minLength: 1 })),
    keyFile: Type.Optional(Type.String({ minLength: 1 })),
    selfSigned: Type.Boolean(),
    caFile: Type.Optional(Type.String({ minLength: 1 })),
  }),
  /** Roles `ath-edge all` runs on this machine. */
  stack: obj({
    /**
     * Signaling servers `ath-edge all` runs; more than one share a Redis (signaling.redisUrl, or a
     * redis-server started here) and a Postgres ledger (ledger.databaseUrl, or a PostgreSQL started here).
     */
    signalingInstances: Type.Optional(Type.Integer({ minimum: 1, maximum: 8 })),
    renderHosts: Type.Integer({ minimum: 0, maximum: 16 }),
    /** Checker nodes (2N+1 = 3 make a majority per container). */
    checkers: Type.Integer({ minimum: 0, maximum: 16 }),
  }),
});

export type EdgeConfig = Static<typeof EdgeConfigSchema>;

/** ≈ 1 ATH per hour of play: 10^18 / 3600 wei per second. */
const ONE_ATH_PER_HOUR_WEI_PER_SEC = (10n ** 18n / 3600n).toString();

export const DEFAULT_EDGE_CONFIG: EdgeConfig = {
  logLevel: 'info',
  dataDir: '.ath-edge',
  bindHost: '127.0.0.1',
  signaling: {
    httpPort: 8080,
    wsPort: 0,
    tokenTtlSec: 12 * 3600,
    heartbeatIntervalMs: 2000,
    missedHeartbeatsAllowed: 3,
    leaseTtlMs: 20_000,
    reconnectWindowMs: 30_000,
    reloadGraceMs: 3_000,
    afkTimeoutMs: 120_000,
    checkIntervalMs: 60_000,
    firstCheckDelayMs: 30_000,
    wsTransport: 'auto',
    checkMinResponders: DEFAULT_CHECK_SETTINGS.minResponders,
    probationPasses: DEFAULT_CHECK_SETTINGS.probationPasses,
    contradictedPlayersToDrain: DEFAULT_CHECK_SETTINGS.contradictedPlayersToDrain,
    contradictionWindowMs: DEFAULT_CHECK_SETTINGS.contradictionWindowMs,
    contradictionMinPayerSec: DEFAULT_CHECK_SETTINGS.contradictionMinPayerSec,
    checkerExclusion: DEFAULT_CHECK_SETTINGS.excludeSameNetwork,
    hostTiers: DEFAULT_STAKE_SETTINGS.hostTiers,
    priceMinWeiPerSec: String(DEFAULT_SIGNALING_SETTINGS.priceBoundsWeiPerSec.min),
    priceMaxWeiPerSec: String(DEFAULT_SIGNALING_SETTINGS.priceBoundsWeiPerSec.max),
    probeUrlMustMatchPeer: DEFAULT_SIGNALING_SETTINGS.probeUrlMustMatchPeer,
    hostTtlMs: DEFAULT_SIGNALING_SETTINGS.hostTtlMs,
    admission: DEFAULT_ADMISSION_SETTINGS,
  },
  renderHost: {
    slots: 2,
    probePort: 0,
    region: { country: 'DE', lat: 50.11, lon: 8.68 },
    priceWeiPerSec: ONE_ATH_PER_HOUR_WEI_PER_SEC,
    encoder: { prefer: 'auto', minBitrateBps: 500_000, startBitrateBps: 4_000_000, maxBitrateBps: 8_000_000 },
    heartbeatIntervalMs: 2000,
    nice: -5,
    sessionRealtimePriority: 1,
    probeDelayMs: 0,
    testHooks: { adminEndpoint: false, dataChannelDelayMs: 0 },
  },
  chain: { network: 'anvil', anvilPort: 0 },
  economy: {
    maxSessionSeconds: 3600,
    authExpirySec: 4 * 3600,
    expiryMarginSec: 900,
    authTimeoutMs: 15_000,
    tickSec: 5,
    fpsFloor: 20,
    settleIntervalMs: 10_000,
    settleBatchSize: 50,
    faucet: true,
    slashing: { enabled: true, farBelowSpecRatio: 0.5, intervalMs: 5_000 },
    rewards: { enabled: true, stakerShareBps: 4_000, checkerPeriodSec: 86_400, intervalMs: 60_000 },
  },
  ledger: {},
  checker: {
    name: 'checker',
    metricsPort: 0,
    minFpsRatio: 0.7,
    maxRttMs: 150,
    maxLossPpm: 50_000,
    windowMs: 3_000,
    pings: 12,
  },
  ice: {
    stunUrls: [],
    playerTransportPolicy: 'all',
    publicAddresses: [],
    announce: ['host', 'public', 'srflx', 'relay'],
    useIpv6: false,
  },
  tls: { selfSigned: false },
  stack: { signalingInstances: 1, renderHosts: 1, checkers: 3 },
};

/** How long TURN credentials outlive a session's cap by default (coturn refreshes allocations every 10 min). */
export const DEFAULT_TURN_TTL_MARGIN_SEC = 600;
