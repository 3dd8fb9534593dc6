/**
 * Every metric ath-edge exposes, declared once. Prometheus naming: `ath_edge_` prefix, base units
 * (`_seconds`, `_bytes`, `_bytes_per_second`; promtool refuses bits), `_total` on counters. Node's default
 * process metrics keep their standard names (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`…). Labels are bounded enumerations —
 * never a session, player, host or key id (those would grow the series count without bound).
 *
 * ATH amounts (wei → float64 sample): a Prometheus sample is an IEEE-754 double, which holds integers exactly
 * only up to 2^53 ≈ 9.007e15 — in wei that is about 0.009 ATH, so a wei count would start losing units after
 * a few cents' worth of play. Money series are therefore in whole ATH (`weiToAthSample`: the integer part
 * and the 18-digit fraction converted separately, then added) and say so in their name (`_ath_total`). A
 * double has 53 bits of mantissa ≈ 15.9 significant decimal digits, so a sample is exact to ~1e-15 relative:
 * 1,000,000 ATH is off by at most ~1e-10 ATH, and a counter summing many increments drifts by at most one
 * rounding per increment — invisible on a dashboard, never to be used for accounting. The ledger (bigint wei,
 * numeric(78,0)) is the record of truth; a metric is a picture of it.
 *
 * Who updates what is listed in metrics/README.md; roles.ts says which role exposes which entry.
 */

const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28];
const SETUP_BUCKETS_SECONDS = [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20];
const PICK_BUCKETS_SECONDS = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01];
const ENCODE_BUCKETS_SECONDS = [0.001, 0.002, 0.004, 0.006, 0.008, 0.012, 0.016, 0.025, 0.04, 0.08];
const WAIT_BUCKETS_SECONDS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600];
const FPS_BUCKETS = [1, 5, 10, 15, 20, 30, 45, 55, 60, 90, 120];

type CounterDef = { type: 'counter'; name: string; help: string; labelNames: readonly string[] };
type GaugeDef = { type: 'gauge'; name: string; help: string; labelNames: readonly string[] };
type HistogramDef = {
  type: 'histogram';
  name: string;
  help: string;
  labelNames: readonly string[];
  buckets: readonly number[];
};
export type MetricDefinition = CounterDef | GaugeDef | HistogramDef;

export const METRIC_CATALOGUE = {
  // ---- sessions (signaling) ----
  sessionsActive: {
    type: 'gauge',
    name: 'ath_edge_sessions_active',
    help: 'Sessions leased, connecting or streaming right now',
    labelNames: ['state'],
  },
  sessionsStarted: {
    type: 'counter',
    name: 'ath_edge_sessions_started_total',
    help: 'Sessions that reached streaming',
    labelNames: [],
  },
  sessionsEnded: {
    type: 'counter',
    name: 'ath_edge_sessions_ended_total',
    help: 'Sessions ended, by end reason',
    labelNames: ['reason'],
  },
  sessionSetupSeconds: {
    type: 'histogram',
    name: 'ath_edge_session_setup_seconds',
    help: 'From Play to the first frame shown in the browser, as the player measured it (first report)',
    labelNames: [],
    buckets: SETUP_BUCKETS_SECONDS,
  },
  sessionConnectSeconds: {
    type: 'histogram',
    name: 'ath_edge_session_connect_seconds',
    help: "From Play reaching signaling to the render host's WebRTC connection with the player",
    labelNames: [],
    buckets: SETUP_BUCKETS_SECONDS,
  },
  // ---- matchmaking (signaling) ----
  matchPickSeconds: {
    type: 'histogram',
    name: 'ath_edge_match_pick_seconds',
    help: 'Time to score candidates and lease a slot',
    labelNames: [],
    buckets: PICK_BUCKETS_SECONDS,
  },
  playerRttSeconds: {
    type: 'histogram',
    name: 'ath_edge_player_rtt_seconds',
    help: 'RTT players measured to candidate hosts, by host region (country)',
    labelNames: ['region'],
    buckets: LATENCY_BUCKETS_SECONDS,
  },
  queueLength: {
    type: 'gauge',
    name: 'ath_edge_queue_length',
    help: 'Players waiting for a free slot',
    labelNames: [],
  },
  queueWaitSeconds: {
    type: 'histogram',
    name: 'ath_edge_queue_wait_seconds',
    help: 'Time a queued player waited for a slot',
    labelNames: [],
    buckets: WAIT_BUCKETS_SECONDS,
  },
  hostsRegistered: {
    type: 'gauge',
    name: 'ath_edge_hosts_registered',
    help: 'Render hosts registered, by state',
    labelNames: ['state'],
  },
  slotsTotal: {
    type: 'gauge',
    name: 'ath_edge_slots',
    help: 'Render slots known to signaling, by state',
    labelNames: ['state'],
  },
  wsConnections: {
    type: 'gauge',
    name: 'ath_edge_ws_connections',
    help: 'Open signaling WebSocket connections, by role',
    labelNames: ['role'],
  },
  wsMessagesRejected: {
    type: 'counter',
    name: 'ath_edge_ws_messages_rejected_total',
    help: 'Signaling messages refused, by error code',
    labelNames: ['code'],
  },
  clusterLimitsDegraded: {
    type: 'counter',
    name: 'ath_edge_cluster_limits_degraded_total',
    help: 'Admissions counted per instance because the shared store (Redis) did not answer, by limit',
    labelNames: ['limit'],
  },
  // ---- streaming (render host) ----
  streamFramesPerSecond: {
    type: 'gauge',
    name: 'ath_edge_stream_frames_per_second',
    help: 'Frames sent per second, averaged over live streams on this host',
    labelNames: [],
  },
  streamFramesSent: {
    type: 'counter',
    name: 'ath_edge_stream_frames_sent_total',
    help: 'Video frames encoded and sent',
    labelNames: ['codec'],
  },
  streamFramesDropped: {
    type: 'counter',
    name: 'ath_edge_stream_frames_dropped_total',
    help: 'Frames dropped by the pacer rather than queued',
    labelNames: [],
  },
  encoderFrameSeconds: {
    type: 'histogram',
    name: 'ath_edge_encoder_frame_seconds',
    help: 'Encode time per frame, by encoder',
    labelNames: ['encoder'],
    buckets: ENCODE_BUCKETS_SECONDS,
  },
  streamBitrate: {
    type: 'gauge',
    name: 'ath_edge_stream_sent_bytes_per_second',
    help: 'Sent media rate in bytes per second (Prometheus base unit; ×8 for bits), summed over live streams on this host',
    labelNames: [],
  },
  streamPacketLoss: {
    type: 'gauge',
    name: 'ath_edge_stream_packet_loss_ratio',
    help: 'Fraction of packets lost (transport-wide-cc feedback, smoothed), worst live stream on this host',
    labelNames: [],
  },
  streamPli: {
    type: 'counter',
    name: 'ath_edge_stream_pli_total',
    help: 'Picture loss indications received (each forces an IDR)',
    labelNames: [],
  },
  streamNack: {
    type: 'counter',
    name: 'ath_edge_stream_nack_total',
    help: 'NACKed packets received',
    labelNames: [],
  },
  hostSlots: {
    type: 'gauge',
    name: 'ath_edge_host_slots',
    help: 'Slots on this render host, by state',
    labelNames: ['state'],
  },
  // ---- checkers ----
  checkerReports: {
    type: 'counter',
    name: 'ath_edge_checker_reports_total',
    help: 'Checker reports, by verdict (ok, fail; rejected = refused by signaling)',
    labelNames: ['verdict'],
  },
  checkerProbeSeconds: {
    type: 'histogram',
    name: 'ath_edge_checker_probe_rtt_seconds',
    help: 'RTT measured by checker probes',
    labelNames: [],
    buckets: LATENCY_BUCKETS_SECONDS,
  },
  checkerProbeFps: {
    type: 'histogram',
    name: 'ath_edge_checker_probe_fps',
    help: 'Complete frames per second checker probes measured',
    labelNames: [],
    buckets: FPS_BUCKETS,
  },
  containerQualityScore: {
    type: 'gauge',
    name: 'ath_edge_container_quality_score',
    help: 'Quality score of live containers (0..1): min, mean and max; per-container values are in the API',
    labelNames: ['stat'],
  },
  // ---- economy ----
  athCharged: {
    type: 'counter',
    name: 'ath_edge_ath_charged_ath_total',
    help: 'ATH charged to players and studios (whole ATH, float)',
    labelNames: [],
  },
  athSettled: {
    type: 'counter',
    name: 'ath_edge_ath_settled_ath_total',
    help: 'ATH settled on chain (whole ATH, float)',
    labelNames: [],
  },
  athSlashed: {
    type: 'counter',
    name: 'ath_edge_ath_slashed_ath_total',
    help: 'ATH slashed from operators (whole ATH, float)',
    labelNames: [],
  },
  settlements: {
    type: 'gauge',
    name: 'ath_edge_settlements',
    help: 'Settlement outbox rows, by state',
    labelNames: ['state'],
  },
  settlementRetries: {
    type: 'counter',
    name: 'ath_edge_settlement_retries_total',
    help: 'Settlement items put back to retry with backoff, by cause (rpc, revert, escrow, lease)',
    labelNames: ['reason'],
  },
  settlementFailures: {
    type: 'counter',
    name: 'ath_edge_settlement_failures_total',
    help: 'Settlement items the escrow refused for good (bad signature, expired, terms): alert on any',
    labelNames: [],
  },
  settlementOldestUnsettledSeconds: {
    type: 'gauge',
    name: 'ath_edge_settlement_oldest_unsettled_seconds',
    help: 'Age of the oldest charge not yet settled on chain (0 when none): alert when it keeps growing',
    labelNames: [],
  },
  settlementLeader: {
    type: 'gauge',
    name: 'ath_edge_settlement_leader',
    help: '1 when this process holds the settlement lease of its meter key (exactly one process should)',
    labelNames: [],
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricKey = keyof typeof METRIC_CATALOGUE;
