import assert from 'node:assert/strict';
import { test } from 'node:test';
import { median, probeHosts } from './probeHosts.js';

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
