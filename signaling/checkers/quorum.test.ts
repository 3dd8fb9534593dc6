/**
 * Attacks on the checker quorum, each performed for real: throw-away keys (no stake) trying to vote an honest
 * container out, a provider checking its own container, checkers on the container's own network.
 * Real signaling (uWS), real signatures, real anvil with the real StakingRegistry.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { startTestChain, type TestChain } from '../../edge/chain/testing/startTestChain.js';
import { DEFAULT_ADMISSION_SETTINGS } from '../admission/AdmissionSettings.js';
import { checkerRegistrationMessage, PROTOCOL_VERSION, type ServerMessageOf } from '../protocol/index.js';
import { connectTestHost, startTestSignaling, TestRefusal, type TestSignaling } from '../testing/startTestSignaling.js';
import { connectTestChecker, signTestReport, type TestChecker } from '../testing/TestChecker.js';
import { TestPeer } from '../testing/TestPeer.js';
import { waitFind } from '../testing/waitFor.js';
import { DEFAULT_CHECK_SETTINGS, type RoundVerdict } from './CheckerDesk.js';

let chain: TestChain;
const cleanups: Array<() => Promise<void> | void> = [];
before(async () => {
  chain = await startTestChain();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
after(async () => {
  await chain.close();
});

async function signaling(checks: Partial<typeof DEFAULT_CHECK_SETTINGS> = {}): Promise<TestSignaling> {
  const server = await startTestSignaling({
    chain,
    checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 200, deadlineMs: 2_000, ...checks },
    // The Sybils all come from 127.0.0.1 here: let admission control pass them, so that the stake gate and
    // the quorum are what is tested (from the open internet they would come from many addresses).
    admission: {
      ...DEFAULT_ADMISSION_SETTINGS,
      maxConnectionsPerIp: 1_000,
      upgradesPerIp: { ratePerSec: 1_000, burst: 1_000 },
    },
  });
  cleanups.push(() => server.close());
  return server;
}

/** Answers every assignment the checker gets with `ok` (honest) or `fail` (a Sybil voting the host out). */
function answerAll(checker: TestChecker, ok: boolean, seen: Array<ServerMessageOf<'check-assignment'>> = []) {
  let running = true;
  void (async () => {
    while (running) {
      const assignment = await checker.peer.next('check-assignment', 60_000).catch(() => undefined);
      if (!assignment || !running) return;
      seen.push(assignment);
      checker.peer.send({
        type: 'check-report',
        ...(await signTestReport({ account: checker.account, assignment, ok })),
      });
    }
  })();
  cleanups.push(() => {
    running = false;
    checker.peer.terminate();
  });
  return seen;
}

/** A fresh key's attempt to become a checker: registered, or the error code it was refused with. */
async function throwAwayChecker(server: TestSignaling): Promise<TestChecker | { refused: string; message: string }> {
  const account = privateKeyToAccount(generatePrivateKey());
  let peer: TestPeer;
  try {
    peer = await TestPeer.open(server.wsNodeUrl);
  } catch (error) {
    return { refused: `upgrade: ${(error as Error).message}`, message: '' };
  }
  cleanups.push(() => peer.terminate());
  peer.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'checker' });
  const { nonce } = await peer.next('welcome');
  peer.send({
    type: 'register-checker',
    checkerAddress: account.address,
    signature: await account.signMessage({ message: checkerRegistrationMessage(account.address, nonce) }),
  });
  const answer = await Promise.race([
    peer.next('checker-registered').then(() => undefined),
    peer.next('error').then((error) => ({ refused: error.code as string, message: error.message })),
  ]);
  return answer ?? { peer, account };
}

describe('a quorum Sybils cannot buy', () => {
  test('100 throw-away checker keys cannot drain an honest host', async () => {
    const server = await signaling();
    const verdicts: RoundVerdict[] = [];
    server.hub.on('verdict', (verdict) => verdicts.push(verdict));
    const honest = await Promise.all(
      [0, 1, 2].map(async () =>
        connectTestChecker(server, { privateKey: (await chain.newStakedAccount('checker')).privateKey }),
      ),
    );
    for (const checker of honest) answerAll(checker, true);
    const sybils = [];
    for (let i = 0; i < 100; i++) sybils.push(await throwAwayChecker(server));
    const registered = sybils.filter((s): s is TestChecker => 'peer' in s);
    for (const sybil of registered) answerAll(sybil, false);

    const provider = await chain.newStakedAccount('software');
    const host = await connectTestHost(server, { hostId: 'honest-host', privateKey: provider.privateKey, slots: 1 });
    cleanups.push(() => host.terminate());
    // Four rounds decided on the honest host: not one of them may drain it.
    await waitFind(() => (verdicts.filter((v) => v.hostId === host.hostId).length >= 4 ? true : undefined), {
      timeoutMs: 40_000,
    });
    const drained = verdicts.filter((v) => v.drained);
    assert.deepEqual(
      drained.map((v) => ({ round: v.round, majority: v.majority.length })),
      [],
      'the honest host was drained',
    );
    assert.equal(server.hub.hosts.get(host.hostId)?.drained, false);
    assert.ok(
      verdicts.filter((v) => v.hostId === host.hostId).every((v) => v.verdict !== 'fail'),
      'no failing verdict against the honest host',
    );
    assert.equal(registered.length, 0, `${registered.length} of 100 throw-away keys were accepted as checkers`);
    const refusals = sybils as Array<{ refused: string; message: string }>;
    assert.deepEqual(new Set(refusals.map((r) => r.refused)), new Set(['ATH_ERR_STAKE_TOO_LOW']));
    assert.match(refusals[0]?.message ?? '', /1,000 ATH/);
  });

  test('a checker is never assigned its own provider’s container, nor one on its network (by config)', async () => {
    const server = await signaling({ excludeSameNetwork: { ipv4PrefixBits: 24, ipv6PrefixBits: 48 } });
    const provider = await chain.newStakedAccount('software');
    // The provider tries to check itself with its own key.
    const self = await throwAwayCheckerWithKey(server, provider.privateKey);
    const selfSeen = 'peer' in self ? answerAll(self, true) : [];
    // A checker on the host's own /24 (127.0.0.x), and three elsewhere (127.0.1.x, 127.0.2.x, 127.0.3.x).
    const neighbour = await connectTestChecker(server, {
      privateKey: (await chain.newStakedAccount('checker')).privateKey,
      localAddress: '127.0.0.9',
    });
    const neighbourSeen = answerAll(neighbour, true);
    for (const subnet of [1, 2, 3]) {
      const checker = await connectTestChecker(server, {
        privateKey: (await chain.newStakedAccount('checker')).privateKey,
        localAddress: `127.0.${subnet}.7`,
      });
      answerAll(checker, true);
    }
    const verdicts: RoundVerdict[] = [];
    server.hub.on('verdict', (verdict) => verdicts.push(verdict));
    const host = await connectTestHost(server, {
      hostId: 'own-host',
      privateKey: provider.privateKey,
      slots: 1,
      localAddress: '127.0.0.1',
    });
    cleanups.push(() => host.terminate());
    await waitFind(() => (verdicts.filter((v) => v.verdict === 'ok').length >= 5 ? true : undefined), {
      timeoutMs: 40_000,
    });
    assert.deepEqual(
      selfSeen.map((a) => a.container),
      [],
      'the provider’s own key was assigned its own container',
    );
    assert.deepEqual(
      neighbourSeen.map((a) => a.container),
      [],
      'a checker on the container’s /24 was assigned it',
    );
    if (!('peer' in self)) assert.equal(self.refused, 'ATH_ERR_STAKE_TOO_LOW');
  });
});

async function throwAwayCheckerWithKey(server: TestSignaling, privateKey: `0x${string}`) {
  try {
    return await connectTestChecker(server, { privateKey });
  } catch (error) {
    if (error instanceof TestRefusal) return { refused: error.code };
    throw error;
  }
}
