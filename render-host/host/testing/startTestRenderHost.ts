import { createMetrics, RENDER_HOST_METRICS } from '../../../metrics/index.js';
import { BUILTIN_GAMES } from '../../games/index.js';
import { TestHookSwitch } from '../../session/index.js';
import { createBuiltinSessionDriver } from '../createBuiltinSessionDriver.js';
import { type RenderHostHandle, type StartRenderHostParameters, startRenderHost } from '../startRenderHost.js';

/** Software x264 bounds small enough for a loaded test box. */
export const TEST_ENCODER_SETTINGS = {
  prefer: 'x264',
  minBitrateBps: 500_000,
  startBitrateBps: 2_000_000,
  maxBitrateBps: 4_000_000,
} as const;

export type StartTestRenderHostParameters = Pick<
  StartRenderHostParameters,
  'hostId' | 'signalingNodeUrl' | 'log' | 'provider'
> &
  Partial<Omit<StartRenderHostParameters, 'hostId' | 'signalingNodeUrl' | 'log' | 'provider'>>;

/**
 * A real render host in this process for tests, on loopback: one slot of the first built-in game streamed with
 * software x264, and the same test-hook switch wired to its sessions and to the host. Any parameter given
 * replaces its default. The provider wallet is the caller's: signaling admits only a staked one
 * (`TestChain.newStakedAccount('software')`).
 */
export function startTestRenderHost(params: StartTestRenderHostParameters): Promise<RenderHostHandle> {
  const metrics = params.metrics ?? createMetrics({ keys: RENDER_HOST_METRICS });
  const testHooks = params.testHooks ?? new TestHookSwitch();
  return startRenderHost({
    bindHost: '127.0.0.1',
    probePort: 0,
    region: { country: 'DE', lat: 50.1, lon: 8.7 },
    gpu: 'none',
    encoder: 'x264',
    slots: 1,
    priceWeiPerSec: 10n ** 15n,
    games: BUILTIN_GAMES.slice(0, 1),
    sessions: createBuiltinSessionDriver({ encoder: TEST_ENCODER_SETTINGS, metrics, log: params.log, testHooks }),
    heartbeatIntervalMs: 1_000,
    ...params,
    metrics,
    testHooks,
  });
}
