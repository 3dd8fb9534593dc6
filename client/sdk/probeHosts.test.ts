import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { median, type ProbeHostsParameters, probeHosts } from './probeHosts.js';

/** An in-process echo socket: each echo takes `rttMs` of real time; `null` never answers. */
function fakeSockets(rttByUrl: Record<string, number | null>) {
  return (url: string) => {
    const socket = {
      binaryType: 'blob',
      readyState: 1,
      onopen: null as ((e: unknown) => void) | null,
      onmessage: null as ((e: { data: unknown }) => void) | null,
      onerror: null as ((e: unknown) => void) | null,
      onclose: null as ((e: unknown) => void) | null,
      send(data: string) {
        const rtt = rttByUrl[url];
        if (rtt === null || rtt === undefined) return;
        setTimeout(() => socket.onmessage?.({ data }), rtt);
      },
      close() {},
    };
    setTimeout(() => socket.onopen?.({}), 1);
    return socket;
  };
}

test('median of samples per host; a host that never answers is unreachable', async () => {
  const results = await probeHosts({
    request: {
      type: 'probe-request',
      sessionId: `0x${'1'.repeat(64)}`,
      samples: 5,
      timeoutMs: 200,
      candidates: [
        { hostId: 'near', probeUrl: 'ws://near' },
        { hostId: 'far', probeUrl: 'ws://far' },
        { hostId: 'dead', probeUrl: 'ws://dead' },
      ],
    },
    createSocket: fakeSockets({ 'ws://near': 2, 'ws://far': 40, 'ws://dead': null }),
  });
  const byId = Object.fromEntries(results.map((r) => [r.hostId, r.rttMs]));
  assert.equal(byId['dead'], null);
  assert.ok(typeof byId['near'] === 'number' && typeof byId['far'] === 'number');
  assert.ok((byId['near'] ?? 0) < (byId['far'] ?? 0));
});

test('median', () => {
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

test('a host that answers before it is asked does not look 0 ms away: only the echo of the probe’s nonce counts', async () => {
  // The attack (issue 13): a probe endpoint that streams frames at the player from the moment it connects and
  // echoes each real probe 60 ms late. A probe that takes any frame as its echo measures ~0 ms.
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const timers = new Set<NodeJS.Timeout>();
  server.on('connection', (socket) => {
    const spam = setInterval(() => socket.send('0'), 1);
    timers.add(spam);
    socket.on('message', (data, isBinary) => {
      const late = setTimeout(() => socket.send(data, { binary: isBinary }), 60);
      timers.add(late);
    });
    socket.on('close', () => clearInterval(spam));
  });
  try {
    const { port } = server.address() as AddressInfo;
    const [result] = await probeHosts({
      request: {
        type: 'probe-request',
        sessionId: `0x${'2'.repeat(64)}`,
        samples: 3,
        timeoutMs: 2_000,
        candidates: [{ hostId: 'eager', probeUrl: `ws://127.0.0.1:${port}/probe` }],
      },
      // A real WebSocket client (the `ws` package has the browser's on* properties).
      createSocket: (url) =>
        new WebSocket(url) as unknown as ReturnType<NonNullable<ProbeHostsParameters['createSocket']>>,
    });
    // A lower bound only: no echo can come back sooner than the host sends it.
    assert.ok(result && result.rttMs !== null && result.rttMs >= 55, `measured ${result?.rttMs} ms`);
  } finally {
    for (const timer of timers) clearTimeout(timer);
    for (const client of server.clients) client.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
