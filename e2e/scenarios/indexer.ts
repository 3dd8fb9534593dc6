/**
 * The indexer with real render hosts and a real browser (issue 3): the player's own RTT decides, a reload
 * resumes the same session on the same host with the same game, a host that dies tells its player and
 * frees the lease.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright';
import type { RenderHostInfo, RoleProcess, Stack } from '../../edge/index.js';
import { closePlayer, openPlayer, pressPlay, sessionId, waitPlaying, waitStatus } from '../support/playerPage.js';
import { sharedBrowser } from '../support/sharedBrowser.js';
import { sharedStack } from '../support/sharedStack.js';

type SessionView = {
  hostId: string | null;
  state: string;
  decision: { chosenHostId: string; candidates: Array<{ hostId: string; rttMs: number | null; score: number }> } | null;
};

describe('indexer', () => {
  let stack: Stack;
  let browser: Browser;
  const extra: RoleProcess<RenderHostInfo>[] = [];

  const api = async <T>(path: string): Promise<T> =>
    (await (await fetch(`${stack.signaling.info.httpUrl}${path}`)).json()) as T;

  before(async () => {
    stack = await sharedStack();
    browser = await sharedBrowser();
  });
  after(async () => {
    await Promise.all(extra.map((host) => host.stop()));
  });

  test('the player lands on the host with the lowest RTT on its own path', async () => {
    // Both start at once (each is its own process; their stakes are separate wallets).
    const [far, farther] = await Promise.all([
      stack.addRenderHost('far-host', { slots: 1, probeDelayMs: 150 }),
      stack.addRenderHost('farther-host', { slots: 1, probeDelayMs: 250 }),
    ]);
    extra.push(far, farther);
    const [farId, fartherId] = [far.info.hostId, farther.info.hostId];
    const page = await openPlayer({ browser, baseUrl: stack.signaling.info.httpUrl, game: 'neon-drift' });
    try {
      await pressPlay(page);
      await waitPlaying(page);
      const id = await sessionId(page);
      const view = await api<SessionView>(`/api/sessions/${id}`);
      const decision = view.decision;
      assert.ok(decision, 'the decision is explained');
      const rtt = new Map(decision.candidates.map((c) => [c.hostId, c.rttMs]));
      assert.ok(![farId, fartherId].includes(view.hostId ?? ''), `landed on ${view.hostId}`);
      assert.ok((rtt.get(farId) ?? 0) >= 150, `far-host measured ${rtt.get(farId)} ms`);
      assert.ok(!rtt.has(fartherId) || (rtt.get(fartherId) ?? 0) >= 250);
      const chosen = decision.candidates.find((c) => c.hostId === decision.chosenHostId);
      assert.ok(chosen && chosen.rttMs !== null && chosen.rttMs < 100, `chosen RTT ${chosen?.rttMs}`);
      assert.ok(decision.candidates.every((c) => c.score >= (chosen?.score ?? 0)));
    } finally {
      await closePlayer(page);
      await Promise.all(extra.splice(0).map((host) => host.stop()));
    }
  });

  test('a reload resumes the same session on the same host, game state kept', async () => {
    const page = await openPlayer({ browser, baseUrl: stack.signaling.info.httpUrl, game: 'neon-drift' });
    try {
      await pressPlay(page);
      await waitPlaying(page);
      const id = await sessionId(page);
      const hostBefore = (await api<SessionView>(`/api/sessions/${id}`)).hostId;
      await page.waitForFunction(() => (window.__athPlayer?.lastFrameMark?.frame ?? 0) > 120, null, {
        timeout: 15_000,
      });
      const frameBefore = await page.evaluate(() => window.__athPlayer?.lastFrameMark?.frame ?? 0);
      await page.reload();
      await waitPlaying(page);
      assert.equal(await sessionId(page), id, 'same session');
      assert.equal((await api<SessionView>(`/api/sessions/${id}`)).hostId, hostBefore, 'same host');
      // The game kept running on the host: its frame counter went on, it did not restart from 0.
      await page.waitForFunction(() => window.__athPlayer?.lastFrameMark !== undefined, null, { timeout: 15_000 });
      const frameAfter = await page.evaluate(() => window.__athPlayer?.lastFrameMark?.frame ?? 0);
      assert.ok(frameAfter > frameBefore, `frame ${frameBefore} → ${frameAfter}`);
    } finally {
      await closePlayer(page);
    }
  });

  test('a render host killed mid-session: its player is told, the lease freed', async () => {
    // The cheapest host (the network's minimum price) wins among equals on loopback, so this player lands on the
    // one we kill.
    const victim = await stack.addRenderHost('victim-host', { slots: 1, priceWeiPerSec: '1000000000000' });
    extra.push(victim);
    const page = await openPlayer({ browser, baseUrl: stack.signaling.info.httpUrl, game: 'neon-drift' });
    try {
      await pressPlay(page);
      await waitPlaying(page);
      const id = await sessionId(page);
      assert.equal((await api<SessionView>(`/api/sessions/${id}`)).hostId, victim.info.hostId);
      victim.kill();
      await waitStatus(page, 'render host was lost');
      const view = await api<SessionView & { endReason: string }>(`/api/sessions/${id}`);
      assert.equal(view.state, 'ended');
      assert.equal(view.endReason, 'host-lost');
      const hosts = await api<{ hosts: Array<{ hostId: string; state: string; freeSlots: number }> }>('/api/hosts');
      const dead = hosts.hosts.find((h) => h.hostId === victim.info.hostId);
      assert.equal(dead?.state, 'down');
      assert.equal(dead?.freeSlots, 1, 'the lease is released');
    } finally {
      await closePlayer(page);
    }
  });
});
