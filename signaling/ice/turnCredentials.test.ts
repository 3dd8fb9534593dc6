import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { issueIceServers } from './issueIceServers.js';
import { issueTurnCredentials, turnCredential } from './turnCredentials.js';

const SESSION = `0x${'00'.repeat(31)}aa`;

describe('TURN REST-API credentials', () => {
  test('username = expiry:sessionId, credential = base64(HMAC-SHA1(secret, username)) — the known answer', () => {
    const issued = issueTurnCredentials({
      secret: 'north-wind-0123456789',
      sessionId: SESSION,
      ttlSec: 3_600,
      nowSec: 1_799_996_400,
    });
    assert.equal(issued.username, `1800000000:${SESSION}`);
    assert.equal(issued.expiresAtSec, 1_800_000_000);
    // `echo -n USERNAME | openssl dgst -sha1 -hmac north-wind-0123456789 -binary | base64`
    assert.equal(issued.credential, 'B+b/nZC1EHyHITrk+y4vxjrQMIs=');
  });

  test('another session, another expiry or another secret gives another credential', () => {
    const base = turnCredential('s'.repeat(20), `1800000000:${SESSION}`);
    assert.notEqual(turnCredential('s'.repeat(20), `1800000000:0x${'bb'.repeat(32)}`), base);
    assert.notEqual(turnCredential('s'.repeat(20), `1800000001:${SESSION}`), base);
    assert.notEqual(turnCredential('t'.repeat(20), `1800000000:${SESSION}`), base);
  });

  test('issueIceServers: STUN as configured, TURN with this session’s credentials, nothing when unconfigured', () => {
    assert.deepEqual(
      issueIceServers({ ice: { stunUrls: [], turn: undefined, playerTransportPolicy: 'all' }, sessionId: SESSION }),
      [],
    );
    const servers = issueIceServers({
      ice: {
        stunUrls: ['stun:stun.example.org:3478'],
        turn: { urls: ['turn:relay.example.org:3478?transport=udp'], secret: 'x'.repeat(32), ttlSec: 4_200 },
        playerTransportPolicy: 'all',
      },
      sessionId: SESSION,
      nowSec: 1_000,
    });
    assert.deepEqual(servers[0], { urls: ['stun:stun.example.org:3478'] });
    assert.equal(servers[1]?.username, `5200:${SESSION}`);
    assert.equal(servers[1]?.credential, turnCredential('x'.repeat(32), `5200:${SESSION}`));
  });
});
