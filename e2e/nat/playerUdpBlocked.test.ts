/**
 * Players behind a firewall that blocks UDP (issue 15), for real: Chromium runs inside a network namespace whose
 * iptables drop every UDP datagram in and out (e2e/nat/netns.ts `createUdpBlockedPlayer`); signaling, the render
 * host and coturn run outside it. WebRTC's media is UDP, so the only way through is the TURN server over TCP or over
 * TLS (`turns:`), which signaling hands the player with the session's credentials. The test checks that UDP really is
 * blocked (no STUN answer, no UDP relay), that the game plays through TURN/TCP or TURN/TLS, and that with TCP to
 * the plain TURN port dropped as well the game plays through `turns:` alone. coturn's TLS certificate is
 * self-signed: Chromium is launched with `--ignore-certificate-errors` so that its TURN client accepts it (a real
 * deployment uses a certificate browsers trust, README "Players behind firewalls").
 * Skipped, with the reason printed, where namespaces are not permitted or coturn is missing.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright';
import { buildClient } from '../../client/index.js';
import { type Stack, startStack } from '../../edge/index.js';
import {
  startTestTurnServer,
  type TestTurnServer,
  turnServerMissingReason,
} from '../../signaling/ice/testing/startTestTurnServer.js';
import { issueTurnCredentials } from '../../signaling/ice/turnCredentials.js';
import { e2eConfig } from '../support/e2eConfig.js';
import { CHROMIUM_ARGS, resolveChromiumPath } from '../support/launchChromium.js';
import { closePlayer, nextStats, openPlayer, pressPlay, sessionId, waitPlaying } from '../support/playerPage.js';
import { createUdpBlockedPlayer, netnsUnavailableReason, type UdpBlockedPlayer } from './netns.js';

const skip = (await netnsUnavailableReason()) ?? turnServerMissingReason();
if (skip) console.log(`# UDP-blocked player test skipped: ${skip}`);

type Gathered = { types: string[]; relayProtocols: string[]; errors: Array<{ code: number; url: string }> };

/**
 * Gathers in the page, at once: `blocked` (servers only UDP reaches, policy `all`) and `control` (a server the
 * player's network lets through, relay-only). Once the control has its relayed candidate, coturn is known to be up
 * and answering this player; `graceMs` later (an answer over UDP on this link takes well under a millisecond, and
 * Chromium sends its first STUN requests as gathering starts) both are read — no waiting for Chromium's STUN
 * timeouts (≈15 s each) to end the gathering.
 */
function gatherBeside(
  page: Page,
  { blocked, control, graceMs }: { blocked: RTCIceServer[]; control: RTCIceServer[]; graceMs: number },
): Promise<{ blocked: Gathered; control: Gathered }> {
  return page.evaluate(
    async ({ blocked, control, graceMs }) => {
      // No named inner functions: tsx would wrap them in a helper (__name) the page does not have.
      const peers = await Promise.all(
        [
          { iceServers: blocked, policy: 'all' as RTCIceTransportPolicy },
          { iceServers: control, policy: 'relay' as RTCIceTransportPolicy },
        ].map(async ({ iceServers, policy }) => {
          const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: policy });
          const gathered = { types: [] as string[], relayProtocols: [] as string[], errors: [] as Gathered['errors'] };
          pc.onicecandidate = (event) => {
            if (event.candidate?.type) gathered.types.push(event.candidate.type);
          };
          pc.onicecandidateerror = (event) => {
            const e = event as RTCPeerConnectionIceErrorEvent;
            gathered.errors.push({ code: e.errorCode, url: e.url });
          };
          pc.createDataChannel('probe');
          await pc.setLocalDescription(await pc.createOffer());
          return { pc, gathered };
        }),
      );
      const controlTypes = peers[1]?.gathered.types ?? [];
      const began = performance.now();
      while (!controlTypes.includes('relay') && performance.now() - began < 15_000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await new Promise((resolve) => setTimeout(resolve, graceMs));
      const results: Gathered[] = [];
      for (const { pc, gathered } of peers) {
        (await pc.getStats()).forEach((stat) => {
          const s = stat as { type: string; candidateType?: string; relayProtocol?: string };
          if (s.type === 'local-candidate' && s.candidateType === 'relay' && s.relayProtocol) {
            gathered.relayProtocols.push(s.relayProtocol);
          }
        });
        pc.close();
        results.push(gathered);
      }
      const [blockedResult, controlResult] = results as [Gathered, Gathered];
      return { blocked: blockedResult, control: controlResult };
    },
    { blocked, control, graceMs },
  );
}

describe('a player whose network blocks UDP', { skip, timeout: 300_000 }, () => {
  let player: UdpBlockedPlayer;
  let turn: TestTurnServer;
  let stack: Stack;
  let browser: Browser;
  let closeRpcRelay: (() => Promise<void>) | undefined;

  before(async () => {
    // The client bundle builds while the namespace, coturn and the chain come up.
    const clientDir = buildClient({}).then(({ outDir }) => outDir);
    clientDir.catch(() => undefined);
    player = await createUdpBlockedPlayer();
    try {
      turn = await startTestTurnServer({ listenIp: player.rootIp });
      const dataDir = mkdtempSync(join(tmpdir(), 'ath-udp-blocked-'));
      const base = e2eConfig(dataDir, {
        turn: { urls: [turn.urls.udp, turn.urls.tcp, turn.urls.tls], secret: turn.secret },
      });
      stack = await startStack({
        config: {
          ...base,
          bindHost: player.rootIp,
          renderHost: { ...base.renderHost, apps: [] },
          stack: { ...base.stack, renderHosts: 1, checkers: 0 },
        },
        clientDir,
      });
      // The page's wallet deposits through the embedded chain's RPC, which listens on 127.0.0.1 only.
      const rpcPort = Number(new URL(stack.config.chain.rpcUrl ?? 'http://127.0.0.1:0').port);
      closeRpcRelay = await player.reachRootLoopback(rpcPort);
      // Chromium itself runs in the player's namespace: Playwright starts it through `ip netns exec`.
      const wrapper = join(dataDir, 'chromium-in-netns');
      writeFileSync(wrapper, `#!/bin/sh\nexec ${player.launcher.join(' ')} ${resolveChromiumPath()} "$@"\n`);
      chmodSync(wrapper, 0o755);
      browser = await chromium.launch({
        executablePath: wrapper,
        args: [
          ...CHROMIUM_ARGS,
          '--autoplay-policy=no-user-gesture-required',
          // The page comes from the link's address, not 127.0.0.1: let it be a secure context all the same.
          `--unsafely-treat-insecure-origin-as-secure=${stack.signaling.info.httpUrl}`,
          // coturn's TLS certificate here is self-signed; Chromium's TURN client checks it like any TLS peer.
          '--ignore-certificate-errors',
        ],
      });
    } catch (error) {
      await player.close();
      throw error;
    }
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
    await turn?.close();
    await closeRpcRelay?.();
    await player?.close();
  });

  test('UDP really is blocked: no STUN answer, no relay over UDP, while TURN over TCP answers', async () => {
    const page = await openPlayer({ browser, baseUrl: stack.signaling.info.httpUrl, game: 'neon-drift' });
    try {
      // Credentials coturn accepts (signaling's kind): a relayed candidate over UDP could only be missing because
      // UDP is blocked, not because they were refused.
      const { username, credential } = issueTurnCredentials({
        secret: turn.secret,
        sessionId: `0x${'c3'.repeat(32)}`,
        ttlSec: 600,
      });
      const { blocked, control } = await gatherBeside(page, {
        blocked: [{ urls: `stun:${turn.listenIp}:${turn.port}` }, { urls: turn.urls.udp, username, credential }],
        control: [{ urls: turn.urls.tcp, username, credential }],
        graceMs: 2_000,
      });
      assert.ok(
        control.types.includes('relay'),
        `the control (TURN over TCP) got its relay: ${JSON.stringify(control)}`,
      );
      assert.ok(!blocked.types.includes('srflx'), `no server-reflexive candidate: ${JSON.stringify(blocked)}`);
      assert.ok(!blocked.types.includes('relay'), `no relayed candidate over UDP: ${JSON.stringify(blocked)}`);
    } finally {
      await closePlayer(page);
    }
  });

  /** Presses Play, waits until 60 more frames have decoded, and returns the selected route and the session. */
  async function play(page: Page, label: string) {
    await pressPlay(page);
    await waitPlaying(page);
    // It plays: frames keep decoding (no rate asserted here: the streaming scenarios hold the fps floors).
    const first = await nextStats(page, 0);
    await page.waitForFunction(
      (from) => (window.__athPlayer?.stats?.framesDecoded ?? 0) >= from + 60,
      first.framesDecoded,
      { timeout: 30_000 },
    );
    const last = await nextStats(page, first.atMs);
    const fps = (last.framesDecoded - first.framesDecoded) / ((last.atMs - first.atMs) / 1000);
    console.log(`# ${fps.toFixed(1)} fps decoded ${label}, via ${JSON.stringify(last.route)}`);
    return { route: last.route, id: await sessionId(page) };
  }

  test('the game plays through TURN over TCP or TLS', async () => {
    const page = await openPlayer({ browser, baseUrl: stack.signaling.info.httpUrl, game: 'neon-drift' });
    try {
      const { route, id } = await play(page, 'with UDP blocked');
      assert.equal(route?.localCandidateType, 'relay', JSON.stringify(route));
      assert.ok(['tcp', 'tls'].includes(route?.relayProtocol ?? ''), `relayed over ${route?.relayProtocol}`);
      assert.ok(id && turn.log().includes(id), 'coturn served this session’s credentials');
    } finally {
      await closePlayer(page);
    }
  });

  test('with TURN over plain TCP blocked too, the game plays through turns: (TLS)', async () => {
    // The firewall now also drops TCP to coturn's plain port: only its TLS port (443 in production) is open.
    const lift = await player.blockTcpTo(turn.listenIp, turn.port);
    const page = await openPlayer({ browser, baseUrl: stack.signaling.info.httpUrl, game: 'neon-drift' });
    try {
      const { route, id } = await play(page, 'with UDP and TURN/TCP blocked');
      assert.equal(route?.localCandidateType, 'relay', JSON.stringify(route));
      assert.equal(route?.relayProtocol, 'tls', JSON.stringify(route));
      assert.ok(id && turn.log().includes(id), 'coturn served this session’s credentials');
    } finally {
      await closePlayer(page);
      await lift();
    }
  });
});
