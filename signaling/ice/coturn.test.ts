/**
 * The credentials signaling issues, against a real coturn (Debian's `turnserver`, started on loopback with a
 * random port and secret): a werift agent with `iceTransportPolicy: 'relay'` gets a relayed candidate over
 * UDP and over TCP with a session's credentials; coturn answers 401 to an Allocate with expired ones, with a
 * credential re-labelled for another session or a later expiry, or with credentials made with another secret
 * (asked directly, turnAllocate.ts: a WebRTC agent retries a refused allocation for ≈6 s before giving up, and
 * does not say why), and grants the genuine pair on the same server meanwhile.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RTCPeerConnection } from 'werift';
import { startTestTurnServer, type TestTurnServer, turnServerMissingReason } from './testing/startTestTurnServer.js';
import { turnAllocate } from './testing/turnAllocate.js';
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

  /** coturn's answer to an Allocate with these credentials over `transport`. */
  const allocate = (transport: 'udp' | 'tcp', username: string, credential: string) =>
    turnAllocate({ host: turn.listenIp, port: turn.port, transport, username, credential });

  test('expired credentials are refused', async () => {
    const expired = issueTurnCredentials({
      secret: turn.secret,
      sessionId: SESSION_A,
      ttlSec: 3_900,
      nowSec: Math.floor(Date.now() / 1000) - 4_000,
    });
    for (const transport of ['udp', 'tcp'] as const) {
      const answer = await allocate(transport, expired.username, expired.credential);
      assert.deepEqual(answer.granted ? answer : { granted: false, errorCode: answer.errorCode }, {
        granted: false,
        errorCode: 401,
      });
    }
  });

  test('session A’s credential does not work for session B, nor with a later expiry, nor from another secret', async () => {
    const a = issueTurnCredentials({ secret: turn.secret, sessionId: SESSION_A, ttlSec: 3_900 });
    const [expiry] = a.username.split(':');
    const otherSecret = issueTurnCredentials({
      secret: 'not-the-turn-secret-0000',
      sessionId: SESSION_A,
      ttlSec: 3_900,
    });
    const attempts = {
      forgedSession: await allocate('tcp', `${expiry}:${SESSION_B}`, a.credential),
      forgedExpiry: await allocate('tcp', `${Number(expiry) + 86_400}:${SESSION_A}`, a.credential),
      otherSecret: await allocate('udp', otherSecret.username, otherSecret.credential),
    };
    for (const [name, answer] of Object.entries(attempts)) {
      assert.equal(answer.granted, false, `${name}: ${JSON.stringify(answer)}`);
      assert.equal(answer.granted ? 0 : answer.errorCode, 401, `${name}: ${JSON.stringify(answer)}`);
    }
    // The genuine pair is granted, over both transports: the refusals were about the credentials, not the server.
    for (const transport of ['udp', 'tcp'] as const) {
      const genuine = await allocate(transport, a.username, a.credential);
      assert.ok(genuine.granted, `${transport}: ${JSON.stringify(genuine)}`);
      assert.equal(genuine.relayed[0], '127.0.0.1');
    }
  });
});
