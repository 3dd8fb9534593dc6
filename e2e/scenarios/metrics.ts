/**
 * Metrics (issue 7): during a real browser session every role's `/metrics` — signaling, each render host,
 * each checker — parses with the strict text-format parser (no duplicate or malformed series), and the key
 * series move: sessions started and active, frames sent, setup / connect / pick histogram counts, bitrate,
 * encode times, then sessions ended. The e2e stack runs no checkers (their probes would load the shared
 * box), so when the stack has none this scenario starts one of its own after the session, for the scrape
 * (after: its probe streams are no part of the session's figures).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright';
import type { RoleProcess, Stack } from '../../edge/index.js';
import { type PrometheusExposition, parsePrometheusText, sampleValue } from '../../metrics/index.js';
import { closePlayer, E2E_TIMEOUT_MS, openPlayer, pressPlay, waitPlaying } from '../support/playerPage.js';
import { sharedBrowser } from '../support/sharedBrowser.js';
import { sharedStack } from '../support/sharedStack.js';

type Target = { role: 'signaling' | 'render-host' | 'checker'; name: string; url: string };
type Scrape = Map<string, PrometheusExposition>;

async function scrapeOne(target: Target): Promise<PrometheusExposition> {
  const response = await fetch(target.url);
  assert.equal(response.status, 200, `${target.name}: GET ${target.url}`);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/, target.name);
  const text = await response.text();
  try {
    return parsePrometheusText(text);
  } catch (error) {
    throw new Error(`${target.name} (${target.url}) exposes malformed metrics`, { cause: error });
  }
}

async function scrapeAll(targets: readonly Target[]): Promise<Scrape> {
  const scrapes = await Promise.all(targets.map(async (target) => [target.name, await scrapeOne(target)] as const));
  return new Map(scrapes);
}

/** Σ of a sample over the targets of one role (a missing series counts 0). */
function total(scrape: Scrape, targets: readonly Target[], role: Target['role'], name: string, labels = {}): number {
  let sum = 0;
  for (const target of targets) {
    if (target.role !== role) continue;
    const exposition = scrape.get(target.name);
    sum += (exposition && sampleValue(exposition, name, labels)) ?? 0;
  }
  return sum;
}

/** Scrapes until `done` holds (or the time is up) and returns the last scrape; the caller asserts on it. */
async function scrapeUntil(targets: readonly Target[], done: (scrape: Scrape) => boolean): Promise<Scrape> {
  const deadline = Date.now() + E2E_TIMEOUT_MS;
  let scrape = await scrapeAll(targets);
  while (!done(scrape) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    scrape = await scrapeAll(targets);
  }
  return scrape;
}

describe('metrics', () => {
  let stack: Stack;
  let browser: Browser;
  let ownChecker: RoleProcess<{ metricsUrl: string }> | undefined;
  let targets: Target[] = [];

  const checkerTargets = (checkers: ReadonlyArray<RoleProcess<{ metricsUrl: string }>>): Target[] =>
    checkers.map((checker, i) => ({ role: 'checker', name: `checker-${i + 1}`, url: checker.info.metricsUrl }));

  before(async () => {
    stack = await sharedStack();
    browser = await sharedBrowser();
    targets = [
      { role: 'signaling', name: 'signaling', url: stack.signaling.info.metricsUrl },
      ...stack.renderHosts.map((host) => ({
        role: 'render-host' as const,
        name: host.info.hostId,
        url: host.info.metricsUrl,
      })),
      ...checkerTargets(stack.checkers),
    ];
  });
  after(async () => {
    await ownChecker?.stop();
  });

  test('every role parses strictly; sessions, frames, setup, pick and bitrate series move during a session', async () => {
    const baseline = await scrapeAll(targets);
    const at = (scrape: Scrape, role: Target['role'], name: string, labels = {}) =>
      total(scrape, targets, role, name, labels);
    const moved = (scrape: Scrape, role: Target['role'], name: string) =>
      at(scrape, role, name) > at(baseline, role, name);
    // What each role declares is there even before any traffic (HELP and TYPE of every catalogue metric).
    for (const target of targets) {
      const exposition = baseline.get(target.name);
      assert.ok(exposition?.byName.get('process_cpu_seconds_total'), `${target.name}: default metrics`);
    }

    const page = await openPlayer({ browser, baseUrl: stack.signaling.info.httpUrl, game: 'neon-drift' });
    try {
      await pressPlay(page);
      await waitPlaying(page);
      // The browser's first-frame time reaches signaling with its next stats sample; frames with the host's.
      const during = await scrapeUntil(
        targets,
        (scrape) =>
          moved(scrape, 'signaling', 'ath_edge_session_setup_seconds_count') &&
          moved(scrape, 'render-host', 'ath_edge_encoder_frame_seconds_count') &&
          at(scrape, 'render-host', 'ath_edge_stream_sent_bytes_per_second') > 0,
      );
      const delta = (role: Target['role'], name: string) => at(during, role, name) - at(baseline, role, name);
      assert.ok(delta('signaling', 'ath_edge_sessions_started_total') >= 1, 'sessions started');
      assert.ok(at(during, 'signaling', 'ath_edge_sessions_active', { state: 'streaming' }) >= 1, 'sessions active');
      assert.ok(delta('signaling', 'ath_edge_session_setup_seconds_count') >= 1, 'setup seconds observed');
      assert.ok(delta('signaling', 'ath_edge_session_connect_seconds_count') >= 1, 'connect seconds observed');
      assert.ok(delta('signaling', 'ath_edge_match_pick_seconds_count') >= 1, 'pick seconds observed');
      // Players measure RTT only when there is a choice to make (two or more candidate hosts).
      if (stack.renderHosts.length > 1) {
        assert.ok(delta('signaling', 'ath_edge_player_rtt_seconds_count') >= 1, 'player RTT observed');
      } else {
        assert.equal(during.get('signaling')?.byName.get('ath_edge_player_rtt_seconds')?.type, 'histogram');
      }
      const setupSum = delta('signaling', 'ath_edge_session_setup_seconds_sum');
      assert.ok(setupSum > 0 && setupSum < E2E_TIMEOUT_MS / 1000, `setup took ${setupSum} s`);
      assert.ok(delta('render-host', 'ath_edge_stream_frames_sent_total') > 0, 'frames sent');
      assert.ok(delta('render-host', 'ath_edge_encoder_frame_seconds_count') > 0, 'encode times observed');
      assert.ok(at(during, 'render-host', 'ath_edge_stream_frames_per_second') > 0, 'frames per second');
      assert.ok(at(during, 'render-host', 'ath_edge_stream_sent_bytes_per_second') > 0, 'sent bitrate');
      assert.ok(at(during, 'render-host', 'ath_edge_host_slots', { state: 'busy' }) >= 1, 'a busy slot');
      // Encoder label is one of the three the catalogue promises.
      for (const target of targets.filter((t) => t.role === 'render-host')) {
        const family = during.get(target.name)?.byName.get('ath_edge_encoder_frame_seconds');
        for (const sample of family?.samples ?? []) assert.match(sample.labels['encoder'] ?? '', /^(nvenc|x264|vp8)$/);
      }
    } finally {
      await closePlayer(page);
    }
    const ended = await scrapeUntil(targets, (scrape) => moved(scrape, 'signaling', 'ath_edge_sessions_ended_total'));
    assert.ok(moved(ended, 'signaling', 'ath_edge_sessions_ended_total'), 'sessions ended, by reason');
  });

  test('a checker exposes its metrics too (one of our own when the stack runs none)', async () => {
    if (stack.checkers.length === 0) {
      // Signaling admits staked checkers only: the stack stakes its wallet first.
      ownChecker = await stack.addChecker('metrics-checker');
    }
    const checkers = ownChecker ? [ownChecker] : stack.checkers;
    for (const target of checkerTargets(checkers)) {
      const exposition = await scrapeOne(target);
      assert.equal(exposition.byName.get('ath_edge_checker_reports_total')?.type, 'counter', target.name);
      assert.ok(exposition.byName.get('process_cpu_seconds_total'), `${target.name}: default metrics`);
    }
    await ownChecker?.stop();
    ownChecker = undefined;
  });
});
