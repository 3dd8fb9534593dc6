/**
 * The e2e scenario `scripts/nodeVersions.mjs` runs under each Node version (not a `*.test.ts`: `npm test` runs
 * every scenario through e2e.test.ts already): the streaming slice in a real Chromium against a stack whose role
 * processes run on that Node, plus which WebSocket server the stack's signaling chose there.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { loadUws } from '../signaling/index.js';
import { closeSharedBrowser } from './support/sharedBrowser.js';
import { closeSharedStack, sharedStack } from './support/sharedStack.js';
import './scenarios/streaming.js';

describe(`signaling on Node ${process.versions.node}`, () => {
  test('uses the native uWebSockets.js build that loads here, or says it fell back', async () => {
    const stack = await sharedStack();
    const loaded = loadUws();
    const expected = loaded.ok ? `uws ${loaded.build}` : 'fastify-ws';
    assert.equal(stack.signaling.info.wsTransport, expected);
    const health = (await (await fetch(`${stack.signaling.info.httpUrl}/healthz`)).json()) as { wsTransport: string };
    assert.equal(health.wsTransport, expected);
    console.log(`# Node ${process.versions.node}: signaling WebSockets on ${expected}`);
  });
});

after(async () => {
  await closeSharedBrowser();
  await closeSharedStack();
});
