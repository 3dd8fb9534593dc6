/**
 * Only staked hosts and checkers, tried as an intruder would: fresh keys, a checker's stake used for a host,
 * a stake withdrawn while serving, more slots than the tier allows, prices that break the market, a probe URL
 * pointing elsewhere, a squatted host id, a host that goes away for good. Real anvil, real StakingRegistry.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { privateKeyToAccount } from 'viem/accounts';
import { stakingRegistryAbi } from '../../edge/chain/index.js';
import { startTestChain, type TestChain } from '../../edge/chain/testing/startTestChain.js';
import { boundHostId, hostRegistrationMessage, PROTOCOL_VERSION } from '../protocol/index.js';
import {
  connectTestHost,
  connectTestPlayer,
  startTestSignaling,
  type TestHostOptions,
  TestRefusal,
  type TestSignaling,
} from '../testing/startTestSignaling.js';
import { connectTestChecker } from '../testing/TestChecker.js';
import { TestPeer } from '../testing/TestPeer.js';
import { waitFind } from '../testing/waitFor.js';

let chain: TestChain;
let server: TestSignaling;
const secret = randomBytes(32);
const peers: TestPeer[] = [];

before(async () => {
  chain = await startTestChain();
  server = await startTestSignaling({ chain, tokenSecret: secret, hostTtlMs: 1_500, heartbeatIntervalMs: 200 });
});
afterEach(() => {
  for (const peer of peers.splice(0)) peer.terminate();
});
after(async () => {
  await server.close();
  await chain.close();
});

async function refusal(attempt: Promise<unknown>): Promise<TestRefusal> {
  try {
    const peer = await attempt;
    if (peer && typeof peer === 'object' && 'terminate' in peer) peers.push(peer as TestPeer);
  } catch (error) {
    if (error instanceof TestRefusal) return error;
    throw error;
  }
  throw new assert.AssertionError({
    message: 'signaling accepted it',
    expected: 'a typed refusal',
    actual: 'accepted',
  });
}

const host = async (options: TestHostOptions) => {
  const peer = await connectTestHost(server, options);
  peers.push(peer);
  return peer;
};

describe('stake gates hosts and checkers', () => {
  test('an unstaked host is refused with a typed error saying how much stake is missing', async () => {
    const refused = await refusal(connectTestHost(server, { tier: false }));
    assert.equal(refused.code, 'ATH_ERR_STAKE_TOO_LOW');
    assert.match(refused.message, /2,000 ATH/);
    assert.match(refused.message, /missing|more/);
  });

  test('an unstaked checker is refused with a typed error saying how much stake is missing', async () => {
    const refused = await refusal(connectTestChecker(server, { stake: false }));
    assert.equal(refused.code, 'ATH_ERR_STAKE_TOO_LOW');
    assert.match(refused.message, /1,000 ATH/);
  });

  test('a checker’s stake does not make a host, nor a provider’s a checker', async () => {
    const checkerKey = await chain.newStakedAccount('checker');
    const asHost = await refusal(connectTestHost(server, { privateKey: checkerKey.privateKey }));
    assert.equal(asHost.code, 'ATH_ERR_STAKE_TOO_LOW');
    assert.match(asHost.message, /tier/);
    const providerKey = await chain.newStakedAccount('software');
    const asChecker = await refusal(connectTestChecker(server, { privateKey: providerKey.privateKey }));
    assert.equal(asChecker.code, 'ATH_ERR_STAKE_TOO_LOW');
  });

  test('a host whose stake falls below its tier is drained, and comes back when restaked', async () => {
    const provider = await chain.newStakedAccount('software');
    const h = await host({ privateKey: provider.privateKey, games: [game('stake-game')], slots: 1 });
    const wallet = chain.walletFor(provider);
    const unbond = await wallet.writeContract({
      address: chain.stakingAddress,
      abi: stakingRegistryAbi,
      functionName: 'requestUnbond',
      args: [2_000n * 10n ** 18n],
    });
    await chain.publicClient.waitForTransactionReceipt({ hash: unbond });
    await waitFind(() => (server.hub.hosts.get(h.hostId)?.drained ? true : undefined));
    const player = await connectTestPlayer(server, secret);
    peers.push(player);
    player.send({ type: 'play', game: 'stake-game', codecs: ['H264'], queue: false });
    assert.equal((await player.next('error')).code, 'ATH_ERR_NO_FREE_SLOT', 'a drained host is not matched');
    await chain.stake(provider, 'software');
    await waitFind(() => (server.hub.hosts.get(h.hostId)?.drained === false ? true : undefined));
  });

  test('slots per provider follow the tier', async () => {
    const provider = await chain.newStakedAccount('software');
    await host({ privateKey: provider.privateKey, hostId: 'tier-a', slots: 6 });
    const refused = await refusal(
      connectTestHost(server, { privateKey: provider.privateKey, hostId: 'tier-b', slots: 6 }),
    );
    assert.equal(refused.code, 'ATH_ERR_SLOTS_EXCEEDED');
    assert.match(refused.message, /software/);
  });

  test('a host without a probe reserve is refused (else keeping every slot busy would keep it from every check)', async () => {
    const refused = await refusal(connectTestHost(server, { probeReserve: 0 }));
    assert.equal(refused.code, 'ATH_ERR_NO_PROBE_RESERVE');
    assert.match(refused.message, /probeReserve: 1/);
  });

  test('prices outside the configured bounds are refused', async () => {
    for (const priceWeiPerSec of ['0', '1', String(10n ** 21n)]) {
      const refused = await refusal(connectTestHost(server, { priceWeiPerSec }));
      assert.equal(refused.code, 'ATH_ERR_PRICE_OUT_OF_BOUNDS', `price ${priceWeiPerSec}`);
    }
  });

  test('probeUrl must be the host’s own ws/wss address', async () => {
    for (const probeUrl of ['ws://10.9.8.7:9000/probe', 'http://127.0.0.1:9000/probe', 'ws://example.invalid/probe']) {
      const refused = await refusal(
        connectTestHost(server, { endpoints: { probeUrl, metricsUrl: 'http://127.0.0.1:1/metrics' } }),
      );
      assert.equal(refused.code, 'ATH_ERR_BAD_PROBE_URL', probeUrl);
    }
  });

  test('a registration signature the StakingRegistry could not recover (v = 0/1, high s) is refused: it is the slash binding', async () => {
    // Valid to viem (it recovers the signer) but OpenZeppelin's ECDSA.recover reverts on it: a host registered so
    // could never be slashed (every slash of it reverted — and, pending for ever, held up the slasher's queue).
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const lowV = (signature: `0x${string}`): `0x${string}` =>
      `0x${signature.slice(2, 130)}${(Number.parseInt(signature.slice(130), 16) - 27).toString(16).padStart(2, '0')}`;
    const highS = (signature: `0x${string}`): `0x${string}` => {
      const s = BigInt(`0x${signature.slice(66, 130)}`);
      const v = Number.parseInt(signature.slice(130), 16) === 27 ? '1c' : '1b';
      return `0x${signature.slice(2, 66)}${(n - s).toString(16).padStart(64, '0')}${v}`;
    };
    for (const tamperSignature of [lowV, highS]) {
      const refused = await refusal(connectTestHost(server, { tamperSignature }));
      assert.equal(refused.code, 'ATH_ERR_BAD_SIGNATURE', tamperSignature.name);
    }
  });

  test('a host id is bound to its provider: nobody else can register it, before or after', async () => {
    const victimKey = await chain.newStakedAccount('software');
    const squatter = privateKeyToAccount((await chain.newStakedAccount('software')).privateKey);
    const victimId = boundHostId('victim-host', victimKey.address);
    /** A registration signed by the squatter's own (staked) key, for `hostId` as it is. */
    const squat = async (hostId: string) => {
      const peer = await TestPeer.open(server.wsNodeUrl);
      peers.push(peer);
      peer.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'host' });
      const { nonce } = await peer.next('welcome');
      peer.send({
        type: 'register',
        hostId,
        providerAddress: squatter.address,
        signature: await squatter.signMessage({ message: hostRegistrationMessage(hostId, nonce) }),
        region: { country: 'DE', lat: 50, lon: 8 },
        gpu: 'x',
        encoder: 'x264',
        games: [game('squat-game')],
        slots: 1,
        probeReserve: 1,
        priceWeiPerSec: '1000000000000000',
        endpoints: { probeUrl: 'ws://127.0.0.1:1/probe', metricsUrl: 'http://127.0.0.1:1/metrics' },
      });
      const answer = await peer.nextOf(['registered', 'error']);
      return answer.type === 'error' ? answer.code : 'registered';
    };
    // Before the owner registers: the victim's id, and a bare name (the signature must cover the bound id).
    assert.equal(await squat(victimId), 'ATH_ERR_HOST_ID_UNBOUND');
    assert.equal(await squat('victim-host'), 'ATH_ERR_HOST_ID_UNBOUND');
    const victim = await host({ privateKey: victimKey.privateKey, hostId: 'victim-host' });
    assert.equal(victim.hostId, victimId);
    assert.equal(server.hub.hosts.get(victimId)?.providerAddress.toLowerCase(), victimKey.address.toLowerCase());
    // After: still refused, and the owner keeps its host.
    assert.equal(await squat(victimId), 'ATH_ERR_HOST_ID_UNBOUND');
    assert.equal(server.hub.hosts.get(victimId)?.peerId !== undefined, true);
  });

  test('a host that went down is evicted after the TTL', async () => {
    const h = await host({ hostId: 'gone-host' });
    assert.ok(server.hub.hosts.get(h.hostId));
    h.terminate();
    await waitFind(() => (server.hub.hosts.get(h.hostId) === undefined ? true : undefined), { timeoutMs: 8_000 });
  });
});

function game(id: string) {
  return {
    id,
    title: id,
    description: '',
    width: 1280,
    height: 720,
    fps: 60,
    inputMode: 'absolute' as const,
    audio: false,
  };
}
