/**
 * The credentials signaling issues, against a real coturn (Debian's `turnserver`, started on loopback with a
 * random port and secret): a werift agent with `iceTransportPolicy: 'relay'` gets a relayed candidate over
 * UDP and over TCP with a session's credentials, and none with expired ones, with a credential re-labelled
 * for another session or a later expiry, or with credentials made with another secret.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RTCPeerConnection } from 'werift';
import { startTestTurnServer, type TestTurnServer, turnServerMissingReason } from './testing/startTestTurnServer.js';
import { issueTurnCredentials } from './turnCredentials.js';

const skip = turnServerMissingReason();
if (skip) console.log(`# skipped: ${skip}`);

const SESSION_A = `0x${'a1'.repeat(32)}`;
const SESSION_B = `0x${'b2'.repeat(32)}`;

/** The relayed candidates a relay-only werift agent gathers with these credentials. */
async function relayCandidates(url: string, username: string, credential: string): Promise<string[]> {
  const pc = new RTCPeerConnection({
    iceServers: [{ urls: url, username, credential }],
    iceTransportPolicy: 'relay',
    iceTurnConnectTimeout: 3,
  });
  try {
    pc.createDataChannel('probe');
    await pc.setLocalDescription(await pc.createOffer());
    return (pc.localDescription?.sdp ?? '').split('\r\n').filter((line) => / typ relay /.test(line));
  } finally {
    await pc.close();
  }
}

describe('coturn accepts exactly the credentials signaling issued', { skip }, () => {
  let turn: TestTurnServer;
  before(async () => {
    turn = await startTestTurnServer();
  });
  after(async () => {
    await turn?.close();
  });

  test('a session’s credentials allocate a relay over UDP and over TCP', async () => {
    const issued = issueTurnCredentials({ secret: turn.secret, sessionId: SESSION_A, ttlSec: 3_900 });
    for (const url of [turn.urls.udp, turn.urls.tcp]) {
      const relayed = await relayCandidates(url, issued.username, issued.credential);
      assert.equal(relayed.length, 1, `${url}: ${relayed.join(' | ')}`);
      assert.match(relayed[0] ?? '', / 127\.0\.0\.1 \d+ typ relay /);
    }
  });

  test('expired credentials are refused', async () => {
    const expired = issueTurnCredentials({
      secret: turn.secret,
      sessionId: SESSION_A,
      ttlSec: 3_900,
      nowSec: Math.floor(Date.now() / 1000) - 4_000,
    });
    assert.deepEqual(await relayCandidates(turn.urls.tcp, expired.username, expired.credential), []);
    assert.match(turn.log(), /401|Unauthorized|check_stun_auth|cannot find credentials/i);
  });

  test('session A’s credential does not work for session B, nor with a later expiry, nor from another secret', async () => {
    const a = issueTurnCredentials({ secret: turn.secret, sessionId: SESSION_A, ttlSec: 3_900 });
    const [expiry] = a.username.split(':');
    const forgedSession = `${expiry}:${SESSION_B}`;
    const forgedExpiry = `${Number(expiry) + 86_400}:${SESSION_A}`;
    assert.deepEqual(await relayCandidates(turn.urls.tcp, forgedSession, a.credential), []);
    assert.deepEqual(await relayCandidates(turn.urls.tcp, forgedExpiry, a.credential), []);
    const otherSecret = issueTurnCredentials({
      secret: 'not-the-turn-secret-0000',
      sessionId: SESSION_A,
      ttlSec: 3_900,
    });
    assert.deepEqual(await relayCandidates(turn.urls.udp, otherSecret.username, otherSecret.credential), []);
    // The genuine pair still works: the refusals were about the credentials, not the server.
    assert.equal((await relayCandidates(turn.urls.tcp, a.username, a.credential)).length, 1);
  });
});
