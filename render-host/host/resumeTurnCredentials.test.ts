/**
 * A resumed session renegotiates with the TURN credentials of its new `start-session`, not the ones its worker
 * started with (issue 15): signaling issues fresh credentials on every resume (they expire; a long session may
 * outlive the first ones), and the host's new peer must allocate its relay with those. Real parts throughout:
 * Debian's coturn on loopback, real signaling issuing credentials for it, a real render host (session worker,
 * werift) and a scripted player that plays, drops its connection and comes back. coturn's own log says which
 * username each allocation used.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { privateKeyToAccount } from 'viem/accounts';
import { issuePlayerToken } from '../../signaling/auth/playerTokens.js';
import {
  startTestTurnServer,
  type TestTurnServer,
  turnServerMissingReason,
} from '../../signaling/ice/testing/startTestTurnServer.js';
import { issueTurnCredentials } from '../../signaling/ice/turnCredentials.js';
import {
  connectTestPlayer,
  startTestSignaling,
  type TestSignaling,
} from '../../signaling/testing/startTestSignaling.js';
import type { TestPeer } from '../../signaling/testing/TestPeer.js';
import { waitFind } from '../../signaling/testing/waitFor.js';
import type { RenderHostHandle } from './startRenderHost.js';
import { startTestRenderHost } from './testing/startTestRenderHost.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const skip = turnServerMissingReason();
if (skip) console.log(`# skipped: ${skip}`);

/** The expiry (unix seconds) of every relay coturn allocated for this session, in the order of its log. */
function allocationExpiries(turn: TestTurnServer, sessionId: string): number[] {
  const pattern = /user <(\d+):(0x[0-9a-f]+)>: incoming packet ALLOCATE processed, success/g;
  return [...turn.log().matchAll(pattern)].filter((m) => m[2] === sessionId).map((m) => Number(m[1]));
}

describe('a resumed session uses the TURN credentials of its new start-session', { skip }, () => {
  let turn: TestTurnServer;
  let signaling: TestSignaling;
  let handle: RenderHostHandle;
  const secret = randomBytes(32);
  const players: TestPeer[] = [];

  before(async () => {
    turn = await startTestTurnServer();
    signaling = await startTestSignaling({
      tokenSecret: secret,
      probe: { samples: 0, timeoutMs: 1_000, maxCandidates: 8, maxPlausibleRttMs: 250 },
      ice: {
        stunUrls: [],
        turn: { urls: [turn.urls.udp], secret: turn.secret, ttlSec: 3_900 },
        playerTransportPolicy: 'all',
      },
    });
    handle = await startTestRenderHost({
      hostId: 'resume-host',
      provider: privateKeyToAccount((await signaling.chain.newStakedAccount('software')).privateKey),
      signalingNodeUrl: signaling.wsNodeUrl,
      log,
    });
  });

  after(async () => {
    for (const player of players) player.terminate();
    await handle?.close();
    await signaling?.close();
    await turn?.close();
  });

  test('play, drop the connection, resume: the new offer’s relay is allocated with the fresh credentials', async () => {
    // One player (one token) on two connections.
    const { token } = issuePlayerToken({ secret, ttlSec: 600 });
    const first = await connectTestPlayer(signaling, secret, token);
    players.push(first);
    first.send({ type: 'play', game: 'neon-drift', codecs: ['H264'] });
    const session = await first.next('session', 20_000);
    const firstOffer = await first.next('offer', 30_000);
    assert.match(firstOffer.sdp, / typ relay /, 'the host offers a relayed candidate');
    const [firstExpiry] = await waitFind(
      () => {
        const expiries = allocationExpiries(turn, session.sessionId);
        return expiries.length > 0 ? expiries : undefined;
      },
      { what: 'the host’s first allocation', timeoutMs: 10_000, intervalMs: 100 },
    );
    assert.ok(firstExpiry !== undefined);
    const firstServers = session.iceServers?.find((server) => server.username !== undefined);
    assert.equal(firstServers?.username, `${firstExpiry}:${session.sessionId}`, 'the host used the session’s');

    // A network blip: the player is gone without a close frame, and comes back after the clock moved on.
    first.terminate();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const again = await connectTestPlayer(signaling, secret, token);
    players.push(again);
    again.send({ type: 'play', game: 'neon-drift', codecs: ['H264'], resumeSessionId: session.sessionId });
    const resumed = await again.next('session', 20_000);
    assert.equal(resumed.resumed, true);
    const fresh = resumed.iceServers?.find((server) => server.username !== undefined);
    const freshExpiry = Number(fresh?.username?.split(':')[0]);
    assert.ok(freshExpiry > firstExpiry, `signaling issued fresh credentials (${fresh?.username})`);
    // They are real credentials for coturn (issued with its secret), not just a new label.
    assert.equal(
      fresh?.credential,
      issueTurnCredentials({
        secret: turn.secret,
        sessionId: session.sessionId,
        ttlSec: 3_900,
        nowSec: freshExpiry - 3_900,
      }).credential,
    );

    const secondOffer = await again.next('offer', 30_000);
    assert.match(secondOffer.sdp, / typ relay /, 'the renegotiated peer offers a relayed candidate');
    const expiries = await waitFind(
      () => {
        const all = allocationExpiries(turn, session.sessionId);
        return all.length > 1 ? all : undefined;
      },
      { what: 'the resumed peer’s allocation', timeoutMs: 10_000, intervalMs: 100 },
    );
    const latest = expiries.at(-1) ?? 0;
    assert.ok(
      latest >= freshExpiry,
      `the resumed peer allocated with ${latest}:… — the credentials of the new start-session expire at ` +
        `${freshExpiry} or later, the first ones at ${firstExpiry} (all allocations: ${expiries.join(', ')})`,
    );
  });
});
