import { randomBytes } from 'node:crypto';
import { type Logger, pino } from 'pino';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { startTestChain, type TestChain } from '../../edge/chain/testing/startTestChain.js';
import { ChainStakeGate } from '../../edge/economy/ChainStakeGate.js';
import { DEFAULT_ADMISSION_SETTINGS } from '../admission/AdmissionSettings.js';
import { issuePlayerToken } from '../auth/playerTokens.js';
import { boundHostId, hostRegistrationMessage, type PeerMessageOf, PROTOCOL_VERSION } from '../protocol/index.js';
import { DEFAULT_SIGNALING_SETTINGS, type SignalingSettings } from '../SignalingSettings.js';
import { type SignalingServer, type StartSignalingParameters, startSignaling } from '../startSignaling.js';
import { RedisSignalingStore } from '../store/redis/RedisSignalingStore.js';
import type { DrainStore } from '../trust/DrainStore.js';
import { TestPeer } from './TestPeer.js';

export type TestSignaling = SignalingServer & {
  /** The chain whose StakingRegistry gates hosts and checkers (tests stake their keys on it). */
  readonly chain: TestChain;
};

export type StartTestSignalingParameters = Partial<SignalingSettings> & {
  /** The chain to stake on (shared by a test file); a fresh one, closed with the server, when absent. */
  chain?: TestChain;
  drains?: DrainStore;
  payments?: StartSignalingParameters['payments'];
  routes?: StartSignalingParameters['routes'];
  metrics?: StartSignalingParameters['metrics'];
  uwsBuilds?: StartSignalingParameters['uwsBuilds'];
  uwsPingAfterMs?: StartSignalingParameters['uwsPingAfterMs'];
  /** Quiet by default (LOG_LEVEL to see it). */
  log?: Logger;
};

/**
 * Signaling on loopback with free ports, a fresh secret and a quiet logger (LOG_LEVEL to see it), gated by the
 * real StakingRegistry of a test chain: `connectTestHost` and `connectTestChecker` stake their keys on it. With
 * `redisUrl`, one instance of a network sharing that Redis (instances of one test share `prefix` and a chain).
 */
export async function startTestSignaling(
  {
    chain,
    drains,
    payments,
    routes,
    metrics,
    uwsBuilds,
    uwsPingAfterMs,
    log: testLog,
    ...overrides
  }: StartTestSignalingParameters = {},
  { redisUrl, prefix, instanceId }: { redisUrl?: string; prefix?: string; instanceId?: string } = {},
): Promise<TestSignaling> {
  const ownChain = chain ? undefined : await startTestChain();
  const testChain = chain ?? (ownChain as TestChain);
  const log = testLog ?? pino({ level: process.env.LOG_LEVEL ?? 'silent' });
  const store = redisUrl
    ? await RedisSignalingStore.open({
        url: redisUrl,
        log,
        ...(prefix ? { prefix } : {}),
        ...(instanceId ? { instanceId } : {}),
      })
    : undefined;
  const stakes = new ChainStakeGate({
    publicClient: testChain.publicClient,
    stakingAddress: testChain.stakingAddress,
    log,
    pollingIntervalMs: 200,
  });
  let server: SignalingServer;
  try {
    server = await startSignaling({
      settings: {
        ...DEFAULT_SIGNALING_SETTINGS,
        tokenSecret: randomBytes(32),
        // Every peer of a test comes from 127.0.0.1: the per-address caps are raised (per-socket limits and
        // deadlines stay); tests of admission control pass their own.
        admission: {
          ...DEFAULT_ADMISSION_SETTINGS,
          maxConnectionsPerIp: 100_000,
          upgradesPerIp: { ratePerSec: 100_000, burst: 100_000 },
          messagesPerIp: { ratePerSec: 1_000_000, burst: 1_000_000 },
          maxSessionsPerIp: 100_000,
          unpaidEndings: { ...DEFAULT_ADMISSION_SETTINGS.unpaidEndings, max: 100_000 },
          http: { ...DEFAULT_ADMISSION_SETTINGS.http, requestsPerMinute: 100_000, playerTokensPerMinute: 100_000 },
        },
        ...overrides,
      },
      log,
      stakes,
      ...(drains ? { drains } : {}),
      ...(payments ? { payments } : {}),
      ...(routes ? { routes } : {}),
      ...(metrics ? { metrics } : {}),
      ...(uwsBuilds ? { uwsBuilds } : {}),
      ...(uwsPingAfterMs ? { uwsPingAfterMs } : {}),
      ...(store ? { store } : {}),
    });
  } catch (error) {
    stakes.close();
    await ownChain?.close();
    throw error;
  }
  const close = server.close;
  return Object.assign(server, {
    chain: testChain,
    close: async () => {
      await close();
      stakes.close();
      await ownChain?.close();
    },
  });
}

/** A node refused by signaling: the wire error it got. */
export class TestRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

export async function connectTestPlayer(
  server: Pick<SignalingServer, 'wsPlayerUrl'>,
  secret: Uint8Array,
  token = issuePlayerToken({ secret, ttlSec: 600 }).token,
): Promise<TestPeer> {
  const player = await TestPeer.open(server.wsPlayerUrl, { token });
  player.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' });
  await player.next('welcome');
  return player;
}

export type TestHostOptions = Partial<Omit<PeerMessageOf<'register'>, 'type' | 'signature' | 'providerAddress'>> & {
  /** The provider key; a fresh one staked in `tier` on the server's chain when absent. */
  privateKey?: `0x${string}`;
  /** Stake tier of a fresh key (`software` by default); `false`: leave it unstaked. */
  tier?: string | false;
  localAddress?: string;
  /** Rewrites the registration signature before it is sent (attack tests). */
  tamperSignature?: (signature: `0x${string}`) => `0x${string}`;
};

export type TestHost = TestPeer & { readonly hostId: string; readonly providerAddress: `0x${string}` };

/** A scripted host: registers with a real EIP-191 signature over the server's nonce. */
export async function connectTestHost(
  server: Pick<TestSignaling, 'wsNodeUrl' | 'chain'>,
  options: TestHostOptions = {},
): Promise<TestHost> {
  const tier = options.tier ?? 'software';
  const privateKey =
    options.privateKey ??
    (tier !== false ? (await server.chain.newStakedAccount(tier)).privateKey : generatePrivateKey());
  const account = privateKeyToAccount(privateKey);
  const host = await TestPeer.open(
    server.wsNodeUrl,
    options.localAddress ? { localAddress: options.localAddress } : {},
  );
  host.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'host' });
  const { nonce } = await host.next('welcome');
  const hostId = boundHostId(options.hostId ?? `host-${randomBytes(4).toString('hex')}`, account.address);
  host.send({
    type: 'register',
    hostId,
    providerAddress: account.address,
    signature: await account
      .signMessage({ message: hostRegistrationMessage(hostId, nonce) })
      .then((signature) => options.tamperSignature?.(signature) ?? signature),
    region: options.region ?? { country: 'DE', lat: 50.1, lon: 8.7 },
    gpu: options.gpu ?? 'none (software)',
    encoder: options.encoder ?? 'x264',
    games: options.games ?? [
      {
        id: 'neon-drift',
        title: 'Neon Drift',
        description: 'test game',
        width: 1280,
        height: 720,
        fps: 60,
        inputMode: 'absolute',
        audio: true,
      },
    ],
    slots: options.slots ?? 2,
    // A host keeps a probe reserve (admission refuses one without); `probeReserve: 0` tries one that does not.
    probeReserve: options.probeReserve ?? 1,
    priceWeiPerSec: options.priceWeiPerSec ?? '1000000000000000',
    endpoints: options.endpoints ?? {
      probeUrl: `ws://${options.localAddress ?? '127.0.0.1'}:1/probe`,
      metricsUrl: `http://${options.localAddress ?? '127.0.0.1'}:1/metrics`,
    },
  });
  const answer = await host.nextOf(['registered', 'error']);
  if (answer.type === 'error') {
    host.terminate();
    throw new TestRefusal(answer.code, answer.message);
  }
  return Object.assign(host, { hostId: answer.hostId, providerAddress: account.address });
}
