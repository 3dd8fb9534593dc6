/**
 * uWebSockets.js where a native build loads, @fastify/websocket where none does. The first test checks the
 * choice against what the two builds' tarballs hold (ABIs, and the glibc their binaries link against) for the
 * Node running it — scripts/nodeVersions.mjs runs it under Node 20, 22 and 24. The second forces "no build loads"
 * and plays the protocol's hello over the fallback; the third asks for uWS strictly and is refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { issuePlayerToken } from '../auth/playerTokens.js';
import { isAthError, PROTOCOL_VERSION } from '../protocol/index.js';
import type { SignalingServer } from '../startSignaling.js';
import { startTestSignaling } from '../testing/startTestSignaling.js';
import { TestPeer } from '../testing/TestPeer.js';
import { loadUws } from './loadUws.js';

/** glibc's version as the running process sees it (undefined on a musl or non-Linux system). */
function glibc(): number[] | undefined {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime?.split('.').map(Number);
}

function atLeast(version: number[] | undefined, major: number, minor: number): boolean {
  if (!version) return false;
  const [a = 0, b = 0] = version;
  return a > major || (a === major && b >= minor);
}

describe('loadUws', () => {
  test('picks the build whose binaries fit this Node and glibc, or none', () => {
    const abi = Number(process.versions.modules);
    const linuxX64 = process.platform === 'linux' && process.arch === 'x64';
    const btc = linuxX64 && [115, 127, 137, 141].includes(abi) && atLeast(glibc(), 2, 38);
    const truffle = linuxX64 && [93, 108, 115].includes(abi) && atLeast(glibc(), 2, 34);
    const loaded = loadUws();
    const context = `Node ${process.versions.node} (ABI ${abi}), glibc ${glibc()?.join('.')}`;
    if (btc) assert.ok(loaded.ok && loaded.build.startsWith('@btc-vision/uwebsockets.js@'), context);
    else if (truffle) assert.ok(loaded.ok && loaded.build.startsWith('uWebSockets.js@20.30'), context);
    else {
      assert.equal(loaded.ok, false, context);
      if (!loaded.ok) assert.equal(loaded.reasons.length, 2, loaded.reasons.join('\n'));
    }
    if (loaded.ok) assert.match(String(loaded.uws.App), /\[native code\]/);
    console.log(`# ${context}: ${loaded.ok ? loaded.build : `no native build (${loaded.reasons.join('; ')})`}`);
  });

  test('a build that is not installed is a reason, not a crash', () => {
    const loaded = loadUws(['no-such-uws-build']);
    assert.equal(loaded.ok, false);
    if (!loaded.ok) assert.match(loaded.reasons[0] ?? '', /^no-such-uws-build: .*Cannot find module/);
  });
});

describe('signaling without a native uWebSockets.js', () => {
  const servers: SignalingServer[] = [];
  after(async () => {
    for (const server of servers) await server.close();
  });

  test('auto: serves the same protocol on @fastify/websocket and says so in the log and /healthz', async () => {
    const lines: Array<{ level: number; msg: string; reasons?: string[] }> = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const secret = randomBytes(32);
    const server = await startTestSignaling({
      tokenSecret: secret,
      log: pino({ level: 'info' }, sink),
      uwsBuilds: ['no-such-uws-build'],
    });
    servers.push(server);
    assert.deepEqual(server.wsTransport, { kind: 'fastify-ws' });
    const warning = lines.find((line) => line.level === 40 && /fastify\/websocket instead/.test(line.msg));
    assert.ok(warning, JSON.stringify(lines.map((l) => l.msg)));
    assert.match(warning.reasons?.[0] ?? '', /no-such-uws-build/);
    const health = await server.http.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.json().wsTransport, 'fastify-ws');

    const player = await TestPeer.open(server.wsPlayerUrl, { token: issuePlayerToken({ secret, ttlSec: 60 }).token });
    player.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' });
    const welcome = await player.next('welcome');
    assert.equal(welcome.type, 'welcome');
    player.terminate();
    await assert.rejects(TestPeer.open(server.wsPlayerUrl), /upgrade refused: 401/, 'no token: refused as on uWS');
  });

  test('uws strictly: refuses to start and names why', async () => {
    await assert.rejects(
      startTestSignaling({ tokenSecret: randomBytes(32), wsTransport: 'uws', uwsBuilds: ['no-such-uws-build'] }),
      (error: unknown) => isAthError(error, 'ATH_ERR_UWS_NOT_NATIVE') && /no-such-uws-build/.test(error.message),
    );
  });
});
