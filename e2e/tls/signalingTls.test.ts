/**
 * Signaling over TLS, for real (issue 15): a self-signed pair made for 127.0.0.1, signaling serving its HTTP API
 * over https and its WebSockets over wss — on uWebSockets.js (`SSLApp`) and on the @fastify/websocket fallback —
 * a player over wss, and a real render host that joins over https/wss trusting that certificate (`tls.caFile`'s
 * path) and serves its probe endpoint over wss. A client that does not trust the certificate is refused, and a
 * plain ws:// or http:// request to the TLS ports gets nothing: it really is TLS.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { privateKeyToAccount } from 'viem/accounts';
import WebSocket from 'ws';
import { startTestRenderHost } from '../../render-host/host/testing/startTestRenderHost.js';
import type { RenderHostHandle } from '../../render-host/index.js';
import { issuePlayerToken } from '../../signaling/auth/playerTokens.js';
import { fetchTrusting } from '../../signaling/link/trustedConnections.js';
import { PROTOCOL_VERSION } from '../../signaling/protocol/index.js';
import type { WsTransportSetting } from '../../signaling/startSignaling.js';
import { startTestSignaling, type TestSignaling } from '../../signaling/testing/startTestSignaling.js';
import { TestPeer } from '../../signaling/testing/TestPeer.js';
import { createSelfSignedCertificate } from '../../signaling/tls/createSelfSignedCertificate.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

/** Whether a WebSocket to `url` opens (with these options) — false when the handshake fails. */
function opens(url: string, options: WebSocket.ClientOptions = {}): Promise<{ open: boolean; error?: string }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, ['ath-edge.v1'], { ...options, handshakeTimeout: 5_000 });
    socket.once('open', () => {
      socket.terminate();
      resolve({ open: true });
    });
    socket.once('error', (error) => resolve({ open: false, error: error.message }));
  });
}

for (const transport of ['uws', 'fastify-ws'] as const satisfies readonly WsTransportSetting[]) {
  describe(`signaling over https and wss (${transport})`, { timeout: 120_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'ath-tls-'));
    const secret = randomBytes(32);
    let certPem: string;
    let signaling: TestSignaling;
    let host: RenderHostHandle | undefined;

    before(async () => {
      const pair = await createSelfSignedCertificate({ hosts: ['127.0.0.1', 'localhost'] });
      certPem = pair.certPem;
      writeFileSync(join(dir, 'cert.pem'), pair.certPem);
      writeFileSync(join(dir, 'key.pem'), pair.keyPem, { mode: 0o600 });
      signaling = await startTestSignaling({
        tokenSecret: secret,
        wsTransport: transport,
        tls: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') },
      });
    });

    after(async () => {
      await host?.close();
      await signaling?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test('the URLs it hands out are https and wss', () => {
      assert.match(signaling.httpUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.match(signaling.wsPlayerUrl, /^wss:\/\/127\.0\.0\.1:\d+\/ws\/player$/);
      assert.match(signaling.wsNodeUrl, /^wss:\/\/127\.0\.0\.1:\d+\/ws\/node$/);
      if (transport === 'uws') assert.equal(signaling.wsTransport.kind, 'uws', 'uWebSockets.js SSLApp, not a fallback');
    });

    test('HTTP API over https: trusted with the certificate, refused without it, nothing over plain http', async () => {
      const response = await fetchTrusting(new URL('/api/config', signaling.httpUrl), {}, certPem);
      assert.equal(response.status, 200);
      const body = (await response.json()) as { wsPlayerUrl?: string; wsNodeUrl?: string };
      assert.equal(body.wsPlayerUrl, signaling.wsPlayerUrl, '/api/config tells browsers the wss URL');
      assert.equal(body.wsNodeUrl, signaling.wsNodeUrl);
      await assert.rejects(fetch(new URL('/api/config', signaling.httpUrl)), 'the system CAs do not vouch for it');
      const plain = await fetch(signaling.httpUrl.replace('https:', 'http:')).then(
        (r) => r.status,
        () => 'no answer',
      );
      assert.notEqual(plain, 200, `plain http to the TLS port: ${plain}`);
    });

    test('a player over wss: token, hello, welcome; refused without trust; no plain ws', async () => {
      const { token } = issuePlayerToken({ secret, ttlSec: 600 });
      const player = await TestPeer.open(signaling.wsPlayerUrl, { token, ca: certPem });
      try {
        player.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' });
        const welcome = await player.next('welcome');
        assert.equal(welcome.type, 'welcome');
      } finally {
        player.terminate();
      }
      const untrusted = await opens(signaling.wsNodeUrl);
      assert.equal(untrusted.open, false, 'an untrusted certificate is refused');
      assert.match(untrusted.error ?? '', /self.signed|certificate/i);
      const plain = await opens(signaling.wsNodeUrl.replace('wss:', 'ws:'));
      assert.equal(plain.open, false, `plain ws to the TLS port: ${plain.error}`);
    });

    test('a render host joins over wss trusting the certificate, and serves its probe over wss', async () => {
      host = await startTestRenderHost({
        hostId: `tls-host-${transport}`,
        // Signaling admits only a staked provider.
        provider: privateKeyToAccount((await signaling.chain.newStakedAccount('software')).privateKey),
        signalingNodeUrl: signaling.wsNodeUrl,
        signalingCa: certPem,
        tls: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') },
        log,
      });
      assert.equal(host.host.registered, true);
      const registered = signaling.hub.hosts.get(host.host.hostId);
      assert.ok(registered, 'signaling knows the host');
      assert.match(registered.endpoints.probeUrl, /^wss:\/\/127\.0\.0\.1:\d+\/probe$/);
      assert.match(registered.endpoints.metricsUrl, /^https:\/\//);
      // The probe echoes over wss, as a player's page measures it.
      const rtt = await new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(registered.endpoints.probeUrl, { ca: certPem });
        const sentAt = performance.now();
        socket.once('open', () => socket.send('t'));
        socket.once('message', () => {
          socket.terminate();
          resolve(performance.now() - sentAt);
        });
        socket.once('error', reject);
      });
      assert.ok(Number.isFinite(rtt));
      const metrics = await fetchTrusting(registered.endpoints.metricsUrl, {}, certPem);
      assert.equal(metrics.status, 200);
    });
  });
}
