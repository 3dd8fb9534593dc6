import { DEFAULT_EDGE_CONFIG, type EdgeConfig } from '../../edge/index.js';

export type E2eConfigOptions = {
  /** A TURN server (the test's coturn): signaling issues each session credentials for it. */
  turn?: { urls: string[]; secret: string };
};

/** The stack the e2e scenarios and benchmarks run: free ports, a temp data dir, fast heartbeats. */
export function e2eConfig(dataDir: string, { turn }: E2eConfigOptions = {}): EdgeConfig {
  return {
    ...DEFAULT_EDGE_CONFIG,
    logLevel: 'info',
    dataDir,
    signaling: {
      ...DEFAULT_EDGE_CONFIG.signaling,
      httpPort: 0,
      wsPort: 0,
      heartbeatIntervalMs: 1000,
      // Every page, player and poll of the scenarios comes from 127.0.0.1: the per-address HTTP budget and the
      // count of sessions ended before payment (scenarios quit unpaid on purpose) are raised (WebSocket caps and
      // the per-socket limits stay the product's).
      admission: {
        ...DEFAULT_EDGE_CONFIG.signaling.admission,
        unpaidEndings: { ...DEFAULT_EDGE_CONFIG.signaling.admission.unpaidEndings, max: 1_000 },
        http: {
          ...DEFAULT_EDGE_CONFIG.signaling.admission.http,
          requestsPerMinute: 20_000,
          playerTokensPerMinute: 600,
        },
      },
    },
    // SuperTux (a real game under Xvfb) beside the built-in games: e2e/scenarios/apps.ts plays it.
    renderHost: { ...DEFAULT_EDGE_CONFIG.renderHost, heartbeatIntervalMs: 1000, apps: ['supertux'] },
    // The delivery floor under which a player disputes billing is the product's 20 fps everywhere but here: this
    // box decodes every stream it serves (Chromium beside the host, the encoders and signaling), and on a box
    // half as fast as ours (CI) honest sessions decode 7–17 fps — with no checker to settle the disputes, each
    // such session was ended 30 s in, mid-scenario. The floor and disputes are tested in edge/metering.
    economy: { ...DEFAULT_EDGE_CONFIG.economy, settleIntervalMs: 2_000, fpsFloor: 5 },
    // No checkers: their probes would load the shared box under the scenarios (edge/checker tests run their own).
    stack: { signalingInstances: 1, renderHosts: 1, checkers: 0 },
    ...(turn ? { ice: { ...DEFAULT_EDGE_CONFIG.ice, turn: { urls: turn.urls, secret: turn.secret } } } : {}),
  };
}
