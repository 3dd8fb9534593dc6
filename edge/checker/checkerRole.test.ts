/**
 * `ath-edge checker` as its own process: it reads signaling's /api/config, registers with a wallet kept in the
 * data dir, serves /healthz and /metrics, and when its connection to signaling drops it reconnects and proves
 * its wallet again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { privateKeyToAccount } from 'viem/accounts';
import { startTestSignaling, type TestSignaling } from '../../signaling/testing/startTestSignaling.js';
import { waitUntil } from '../../signaling/testing/waitFor.js';
import { loadOrCreateKey } from '../keys/loadOrCreateKey.js';
import type { CheckerInfo } from '../roles/runChecker.js';
import { RoleProcess } from '../stack/RoleProcess.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

describe('ath-edge checker (the role process)', { timeout: 120_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ath-checker-role-'));
  const tokenSecret = randomBytes(32);
  let server: TestSignaling | undefined;
  let checker: RoleProcess<CheckerInfo> | undefined;
  let relay: Server | undefined;

  after(async () => {
    await checker?.stop();
    await server?.close();
    relay?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('registers with its own key, serves /healthz and /metrics, and re-registers after its connection drops', async () => {
    // Signaling's node WebSocket is reached through a TCP relay the test can cut, as a network blip would.
    const wsPort = await freePort();
    const links = new Set<Socket>();
    relay = createServer((inbound) => {
      const outbound = connect(wsPort, '127.0.0.1');
      for (const socket of [inbound, outbound]) {
        links.add(socket);
        socket.on('close', () => links.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((resolve) => relay?.listen(0, '127.0.0.1', resolve));
    const relayPort = (relay.address() as AddressInfo).port;
    server = await startTestSignaling({ tokenSecret, wsPort, publicWsUrl: `ws://127.0.0.1:${relayPort}` });
    const signaling = server;
    // Signaling admits staked checkers only: the checker's key (the file the role would create) is staked first.
    await signaling.chain.stake(
      privateKeyToAccount(loadOrCreateKey(join(dataDir, 'keys', 'checker-7.key'))),
      'checker',
    );
    checker = await RoleProcess.spawn<CheckerInfo>({
      role: 'checker',
      args: [
        '--signaling',
        signaling.httpUrl,
        '--data-dir',
        dataDir,
        '--set',
        'checker.name=checker-7',
        '--log-file',
        join(dataDir, 'checker.log'),
      ],
      outputFile: join(dataDir, 'checker.out'),
    });
    const key = readFileSync(join(dataDir, 'keys', 'checker-7.key'), 'utf8').trim() as `0x${string}`;
    assert.equal(checker.info.checkerAddress, privateKeyToAccount(key).address);
    await waitUntil(() => signaling.hub.checkers.checkerCount === 1, {
      what: 'signaling to count the checker',
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    const healthUrl = checker.info.healthUrl;
    const health = (await (await fetch(healthUrl)).json()) as { ok: boolean; checker: string };
    assert.deepEqual([health.ok, health.checker], [true, checker.info.checkerAddress]);
    assert.match(await (await fetch(checker.info.metricsUrl)).text(), /# TYPE ath_edge_checker_probe_fps histogram/);

    // The link drops: signaling forgets the checker, which reconnects and proves its wallet again.
    for (const socket of links) socket.destroy();
    await waitUntil(() => signaling.hub.checkers.checkerCount === 0, {
      what: 'signaling to drop the checker',
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    await waitUntil(() => signaling.hub.checkers.checkerCount === 1, {
      what: 'the checker to register again',
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    await waitUntil(async () => (await fetch(healthUrl)).status === 200, {
      what: '/healthz to be ok again',
      timeoutMs: 5_000,
      intervalMs: 100,
    });
  });
});
