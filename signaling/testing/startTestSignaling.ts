import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { issuePlayerToken } from '../auth/playerTokens.js';
import { hostRegistrationMessage, type PeerMessageOf, PROTOCOL_VERSION } from '../protocol/index.js';
import { DEFAULT_SIGNALING_SETTINGS, type SignalingSettings } from '../SignalingSettings.js';
import { type SignalingServer, startSignaling } from '../startSignaling.js';
import { RedisSignalingStore } from '../store/redis/RedisSignalingStore.js';
import { TestPeer } from './TestPeer.js';

/**
 * Signaling on loopback with free ports, a fresh secret and a quiet logger (LOG_LEVEL to see it); with
 * `redisUrl`, one instance of a network sharing that Redis (instances of one test share `prefix`).
 */
export async function startTestSignaling(
  overrides: Partial<SignalingSettings> = {},
  { redisUrl, prefix, instanceId }: { redisUrl?: string; prefix?: string; instanceId?: string } = {},
): Promise<SignalingServer> {
  const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
  const store = redisUrl
    ? await RedisSignalingStore.open({
        url: redisUrl,
        log,
        ...(prefix ? { prefix } : {}),
        ...(instanceId ? { instanceId } : {}),
      })
    : undefined;
  return startSignaling({
    settings: { ...DEFAULT_SIGNALING_SETTINGS, tokenSecret: randomBytes(32), ...overrides },
    log,
    ...(store ? { store } : {}),
  });
}

export async function connectTestPlayer(
  server: SignalingServer,
  secret: Uint8Array,
  token = issuePlayerToken({ secret, ttlSec: 600 }).token,
): Promise<TestPeer> {
  const player = await TestPeer.open(server.wsPlayerUrl, { token });
  player.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' });
  await player.next('welcome');
  return player;
}

export type TestHostOptions = Partial<Omit<PeerMessageOf<'register'>, 'type' | 'signature' | 'providerAddress'>> & {
  privateKey?: `0x${string}`;
};

/** A scripted host: registers with a real EIP-191 signature over the server's nonce. */
export async function connectTestHost(server: SignalingServer, options: TestHostOptions = {}): Promise<TestPeer> {
  const account = privateKeyToAccount(options.privateKey ?? generatePrivateKey());
  const host = await TestPeer.open(server.wsNodeUrl);
  host.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'host' });
  const { nonce } = await host.next('welcome');
  const hostId = options.hostId ?? `host-${randomBytes(4).toString('hex')}`;
  host.send({
    type: 'register',
    hostId,
    providerAddress: account.address,
    signature: await account.signMessage({ message: hostRegistrationMessage(hostId, nonce) }),
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
    priceWeiPerSec: options.priceWeiPerSec ?? '1000000000000000',
    endpoints: options.endpoints ?? { probeUrl: 'ws://127.0.0.1:1/probe', metricsUrl: 'http://127.0.0.1:1/metrics' },
  });
  await host.next('registered');
  return host;
}
