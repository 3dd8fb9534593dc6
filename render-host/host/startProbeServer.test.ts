/**
 * The probe/metrics server advertises the address players reach it at: bound to every interface (a container),
 * its probe URL names `publicHost`, not 0.0.0.0 — and a real WebSocket echo works through it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import { startProbeServer } from './startProbeServer.js';

const base = {
  port: 0,
  log: pino({ level: 'silent' }),
  registry: new Registry(),
  probeDelayMs: () => 0,
  health: () => ({ registered: true, slots: 1, busySlots: 0 }),
  sessions: () => [],
};

test('bound to 0.0.0.0 with publicHost: the URLs name publicHost; without it, bindHost', async () => {
  const server = await startProbeServer({ ...base, bindHost: '0.0.0.0', publicHost: '127.0.0.1' });
  try {
    assert.match(server.probeUrl, /^ws:\/\/127\.0\.0\.1:\d+\/probe$/);
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const socket = new WebSocket(server.probeUrl);
    const echoed = await new Promise<string>((resolve, reject) => {
      socket.once('open', () => socket.send('ping-1'));
      socket.once('message', (data) => resolve(String(data)));
      socket.once('error', reject);
    });
    socket.close();
    assert.equal(echoed, 'ping-1');
  } finally {
    await server.close();
  }
  const plain = await startProbeServer({ ...base, bindHost: '127.0.0.1' });
  try {
    assert.match(plain.probeUrl, /^ws:\/\/127\.0\.0\.1:\d+\/probe$/);
  } finally {
    await plain.close();
  }
});
