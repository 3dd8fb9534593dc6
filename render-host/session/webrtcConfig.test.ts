/**
 * A render host's NAT settings, on a real werift peer: a 1:1 NAT's public address is announced on the ports
 * of the sockets werift opened in the configured range, and candidate kinds the host withholds (its internal
 * addresses) never appear in the offer it sends.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { SessionPeer } from './SessionPeer.js';
import { announces, candidateKind, iceServersForWerift, withAnnouncedCandidates } from './webrtcConfig.js';

const log = pino({ level: 'silent' });
const PUBLIC = '203.0.113.7';
const FORMAT = { width: 1280, height: 720, fps: 60 };

function candidates(sdp: string): string[] {
  return [...new Set(sdp.split('\r\n').filter((line) => line.startsWith('a=candidate:')))];
}

describe('ICE settings of a render host', () => {
  test('candidate kinds: interface address, public (1:1 NAT) address, STUN and TURN', () => {
    const line = (address: string, type: string) => `a=candidate:1 1 udp 1 ${address} 5000 typ ${type}`;
    assert.equal(candidateKind(line('10.1.2.3', 'host'), [PUBLIC]), 'host');
    assert.equal(candidateKind(line(PUBLIC, 'host'), [PUBLIC]), 'public');
    assert.equal(candidateKind(line(PUBLIC, 'srflx'), [PUBLIC]), 'srflx');
    assert.equal(candidateKind(line('198.51.100.1', 'relay'), []), 'relay');
    assert.equal(
      announces(line('10.1.2.3', 'host'), { publicAddresses: [PUBLIC], announce: ['public', 'relay'] }),
      false,
    );
    assert.equal(announces(line(PUBLIC, 'host'), { publicAddresses: [PUBLIC], announce: ['public', 'relay'] }), true);
    assert.equal(announces(line('10.1.2.3', 'host'), {}), true, 'no filter: everything is announced');
    const sdp = ['v=0', line('10.1.2.3', 'host'), line('198.51.100.1', 'relay'), 'a=end-of-candidates', ''].join(
      '\r\n',
    );
    assert.equal(
      withAnnouncedCandidates(sdp, { announce: ['relay'] }),
      ['v=0', line('198.51.100.1', 'relay'), 'a=end-of-candidates', ''].join('\r\n'),
    );
  });

  test('werift is given a UDP TURN URL first (it uses the first TURN URL only), STUN kept', () => {
    const servers = iceServersForWerift([
      { urls: ['stun:198.51.100.7:3478'] },
      {
        urls: [
          'turns:relay.example:443?transport=tcp',
          'turn:relay.example:3478?transport=tcp',
          'turn:relay.example:3478',
        ],
        username: 'u',
        credential: 'c',
      },
    ]);
    assert.deepEqual(servers[1], {
      urls: [
        'turn:relay.example:3478',
        'turn:relay.example:3478?transport=tcp',
        'turns:relay.example:443?transport=tcp',
      ],
      username: 'u',
      credential: 'c',
    });
  });

  test('behind a 1:1 NAT: the offer names the public address, on ports in the range, and not the internal ones', async () => {
    const peer = await SessionPeer.create({
      codecs: ['H264'],
      format: FORMAT,
      avSync: true,
      ice: { publicAddresses: [PUBLIC], portRange: [47_000, 47_099], announce: ['public'] },
      log,
    });
    try {
      const offered = candidates(peer.takeOffer());
      assert.ok(offered.length >= 1, 'at least the public candidate');
      for (const line of offered) {
        const [, , , , address, port, , type] = line.split(' ');
        assert.equal(address, PUBLIC, line);
        assert.equal(type, 'host', line);
        assert.ok(Number(port) >= 47_000 && Number(port) <= 47_099, `port in range: ${line}`);
      }
    } finally {
      await peer.close();
    }
  });

  test('by default every gathered candidate is offered (nothing withheld)', async () => {
    const peer = await SessionPeer.create({
      codecs: ['H264'],
      format: FORMAT,
      avSync: true,
      ice: { publicAddresses: [PUBLIC] },
      log,
    });
    try {
      const offered = candidates(peer.takeOffer());
      assert.ok(offered.some((line) => line.includes(` ${PUBLIC} `)));
      assert.ok(
        offered.some((line) => !line.includes(` ${PUBLIC} `)),
        'the interface addresses too',
      );
    } finally {
      await peer.close();
    }
  });
});
