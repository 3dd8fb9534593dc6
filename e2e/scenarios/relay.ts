/**
 * Players behind firewalls (issue 15): the shared stack runs beside a real coturn, and its signaling issues
 * every session TURN credentials for it. A player that insists on the relay (`relay=1`: Chromium's
 * `iceTransportPolicy: 'relay'`) plays through coturn; Chromium's own TURN client is refused credentials that
 * expired or that were re-labelled for another session.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Browser } from 'playwright';
import type { Stack } from '../../edge/index.js';
import { turnServerMissingReason } from '../../signaling/ice/testing/startTestTurnServer.js';
import { issueTurnCredentials } from '../../signaling/index.js';
import { closePlayer, openPlayer, pressPlay, sessionId, waitPlaying } from '../support/playerPage.js';
import { sharedBrowser } from '../support/sharedBrowser.js';
import { sharedStack, sharedTurn } from '../support/sharedStack.js';
import { assertStreamFlows, watchStream } from '../support/streamLiveness.js';

const skip = turnServerMissingReason();
if (skip) console.log(`# relay scenario skipped: ${skip}`);

describe('players behind firewalls: the TURN relay', { skip }, () => {
  let stack: Stack;
  let browser: Browser;

  before(async () => {
    stack = await sharedStack();
    browser = await sharedBrowser();
  });

  test('relay only: the game plays through coturn (frames decode in every second), and the selected path is relayed', async () => {
    const page = await openPlayer({
      browser,
      baseUrl: stack.signaling.info.httpUrl,
      game: 'neon-drift',
      query: 'relay=1',
    });
    try {
      await pressPlay(page);
      await waitPlaying(page);
      const window = await watchStream(page, 5);
      const last = window.samples.at(-1);
      assert.equal(last?.route?.localCandidateType, 'relay', JSON.stringify(last?.route));
      assertStreamFlows({ window, codec: 'H264', width: 1280, height: 720, label: 'through the relay' });
      // coturn's own log names the session whose credentials allocated the relay.
      const id = await sessionId(page);
      assert.ok(id && sharedTurn()?.log().includes(id), 'coturn served this session’s username');
    } finally {
      await closePlayer(page);
    }
  });

  test('Chromium’s TURN client: fresh credentials relay; expired or re-labelled ones get 401', async () => {
    const turn = sharedTurn();
    if (!turn) throw new Error('no coturn');
    const page = await browser.newPage();
    try {
      await page.goto(`${stack.signaling.info.httpUrl}/docs/embed.html`);
      const sessionA = `0x${'a5'.repeat(32)}`;
      const sessionB = `0x${'b6'.repeat(32)}`;
      const fresh = issueTurnCredentials({ secret: turn.secret, sessionId: sessionA, ttlSec: 3_900 });
      const expired = issueTurnCredentials({
        secret: turn.secret,
        sessionId: sessionA,
        ttlSec: 3_900,
        nowSec: Math.floor(Date.now() / 1000) - 4_000,
      });
      const [expiry] = fresh.username.split(':');
      const gather = (username: string, credential: string) =>
        page.evaluate(
          async ({ urls, username, credential }) => {
            const pc = new RTCPeerConnection({
              iceServers: [{ urls, username, credential }],
              iceTransportPolicy: 'relay',
            });
            const relayed: string[] = [];
            const errors: number[] = [];
            pc.onicecandidate = (event) => {
              if (event.candidate?.candidate.includes(' typ relay')) relayed.push(event.candidate.candidate);
            };
            pc.onicecandidateerror = (event) => errors.push((event as RTCPeerConnectionIceErrorEvent).errorCode);
            pc.createDataChannel('probe');
            await pc.setLocalDescription(await pc.createOffer());
            const started = performance.now();
            while (pc.iceGatheringState !== 'complete' && performance.now() - started < 10_000) {
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
            pc.close();
            return { relayed: relayed.length, errors };
          },
          { urls: [turn.urls.udp, turn.urls.tcp], username, credential },
        );
      const ok = await gather(fresh.username, fresh.credential);
      assert.ok(ok.relayed >= 1, JSON.stringify(ok));
      for (const [what, username, credential] of [
        ['expired', expired.username, expired.credential],
        ['another session', `${expiry}:${sessionB}`, fresh.credential],
        ['a later expiry', `${Number(expiry) + 86_400}:${sessionA}`, fresh.credential],
      ] as const) {
        const refused = await gather(username, credential);
        assert.equal(refused.relayed, 0, `${what}: ${JSON.stringify(refused)}`);
        assert.ok(refused.errors.includes(401), `${what}: coturn answered ${JSON.stringify(refused.errors)}`);
      }
    } finally {
      await page.close();
    }
  });
});
