/**
 * The SDK's WebRTC side in real Chromium: a werift peer plays the render host (offer with sendonly H.264/VP8
 * video and Opus audio, the two data channels), relayed through real signaling. No frames are sent — media
 * is the render host's test — but everything around it is checked: answer and ICE, codec preference in the
 * answer, the data channels, ping/pong RTT, key edges with auto-repeat dropped and release on blur.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright';
import {
  MediaStreamTrack,
  useH264,
  useOPUS,
  useVP8,
  type RTCDataChannel as WeriftDataChannel,
  RTCPeerConnection as WeriftPeerConnection,
} from 'werift';
import { launchChromium } from '../../e2e/support/launchChromium.js';
import type { SignalingServer } from '../../signaling/index.js';
import {
  decodeInput,
  type InputMessage,
  KeyInput,
  keyIdFromCode,
  PingInput,
  PongInput,
} from '../../signaling/protocol/index.js';
import { connectTestHost, startTestSignaling } from '../../signaling/testing/startTestSignaling.js';
import type { TestPeer } from '../../signaling/testing/TestPeer.js';
import { buildClient } from '../index.js';

const TIMEOUT_MS = 15_000;

let browser: Browser;
let clientDir: string;
const cleanups: Array<() => Promise<void> | void> = [];

before(async () => {
  clientDir = await mkdtemp(join(tmpdir(), 'ath-client-rtc-'));
  await buildClient({ outDir: clientDir });
  browser = await launchChromium();
});

after(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await browser?.close();
  await rm(clientDir, { recursive: true, force: true });
});

/** The render host's side of one session, scripted with werift. */
class ScriptedStream {
  readonly pc = new WeriftPeerConnection({
    iceServers: [],
    // Like the render host's SessionPeer: with werift's default (max-compat) an offerer gathers one ICE
    // transport per m-line, and a BUNDLE answer orphans all but one without closing them — their UDP
    // sockets outlive pc.close() and keep this process alive.
    bundlePolicy: 'max-bundle',
    codecs: { video: [useH264(), useVP8()], audio: [useOPUS()] },
  });
  readonly input: WeriftDataChannel;
  readonly inputState: WeriftDataChannel;
  readonly received: InputMessage[] = [];
  answerSdp = '';
  #waiters: Array<() => void> = [];
  #closed = false;

  constructor(
    readonly host: TestPeer,
    readonly sessionId: string,
  ) {
    this.pc.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' });
    this.pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
    this.input = this.pc.createDataChannel('input', { ordered: true });
    this.inputState = this.pc.createDataChannel('input-state', { ordered: false, maxRetransmits: 0 });
    this.pc.onIceCandidate.subscribe((candidate) => {
      const json = candidate?.toJSON();
      host.send({
        type: 'ice',
        sessionId,
        candidate: json?.candidate
          ? { candidate: json.candidate, sdpMid: json.sdpMid ?? null, sdpMLineIndex: json.sdpMLineIndex ?? null }
          : null,
      });
    });
    for (const channel of [this.input, this.inputState]) {
      channel.onMessage.subscribe((data) => {
        if (typeof data === 'string') return;
        const message = decodeInput(new Uint8Array(data));
        if (message instanceof PingInput) {
          this.input.send(Buffer.from(new PongInput(message.id, message.sentAtMs).serialize()));
          return;
        }
        this.received.push(message);
        for (const wake of this.#waiters.splice(0)) wake();
      });
    }
  }

  async offer(): Promise<void> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    this.host.send({ type: 'offer', sessionId: this.sessionId, sdp: this.pc.localDescription?.sdp ?? '' });
    const answer = await this.host.next('answer', TIMEOUT_MS);
    this.answerSdp = answer.sdp;
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    void this.#relayIce();
  }

  /** Until close: a `next` begun after the host's socket is gone would hold its 60 s timer (and the process). */
  async #relayIce(): Promise<void> {
    while (!this.#closed) {
      const ice = await this.host.next('ice', 60_000).catch(() => undefined);
      if (!ice || this.#closed) return;
      if (ice.candidate) await this.pc.addIceCandidate(ice.candidate).catch(() => undefined);
    }
  }

  async waitFor<T extends InputMessage>(predicate: (m: InputMessage) => m is T): Promise<T> {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const index = this.received.findIndex(predicate);
      if (index >= 0) return this.received.splice(index, 1)[0] as T;
      if (Date.now() > deadline) throw new Error(`timed out; received ${this.received.map((m) => m.constructor.name)}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.pc.close();
  }
}

async function session(query: string): Promise<{ page: Page; stream: ScriptedStream; server: SignalingServer }> {
  const server = await startTestSignaling({ clientDir, leaseTtlMs: 60_000 });
  const host = await connectTestHost(server, { slots: 1 });
  // Heartbeats, as a real render host sends them: signaling marks a host that misses 3 (6 s) down and ends its
  // sessions — a slow box (CI) can take that long from here to the last key edge.
  const beat = setInterval(() => host.send({ type: 'heartbeat', load: 0, slots: [] }), 1_000);
  const context = await browser.newContext();
  cleanups.push(async () => {
    clearInterval(beat);
    await context.close();
    host.terminate();
    await server.close();
  });
  const page = await context.newPage();
  await page.goto(`${server.httpUrl}/?game=neon-drift${query}`);
  await page.locator('ath-play .play').click({ timeout: TIMEOUT_MS });
  const start = await host.next('start-session', TIMEOUT_MS);
  const stream = new ScriptedStream(host, start.sessionId);
  cleanups.push(() => stream.close());
  await stream.offer();
  return { page, stream, server };
}

const isKey = (m: InputMessage): m is KeyInput => m instanceof KeyInput;

describe('WebRTC with a scripted render host', () => {
  test('answer, ICE, data channels, ping RTT and key edges', async () => {
    const { page, stream } = await session('');
    assert.match(stream.answerSdp, /m=video \d+ [A-Z/]+ (\d+)/);
    assert.match(stream.answerSdp, /a=recvonly/);
    // The data channels open over ICE + DTLS + SCTP negotiated through signaling.
    await page.waitForFunction(() => (window.__athPlayer?.stats?.rttMs ?? -1) >= 0, undefined, { timeout: TIMEOUT_MS });
    const rttMs = await page.evaluate(() => window.__athPlayer?.stats?.rttMs);
    assert.ok(rttMs !== undefined && rttMs < 1_000, `rtt ${rttMs}`);

    await page.keyboard.down('ArrowLeft');
    await page.keyboard.down('ArrowLeft'); // auto-repeat: not sent
    await page.keyboard.up('ArrowLeft');
    const down = await stream.waitFor(isKey);
    const up = await stream.waitFor(isKey);
    assert.deepEqual(
      [down.key, down.down, up.key, up.down],
      [keyIdFromCode('ArrowLeft'), true, keyIdFromCode('ArrowLeft'), false],
    );
    assert.ok(up.seq > down.seq, 'seq increases');
    assert.equal(stream.received.filter(isKey).length, 0, 'no repeat sent');

    // Losing focus releases what is held.
    await page.keyboard.down('KeyW');
    const w = await stream.waitFor(isKey);
    assert.equal(w.down, true);
    await page.evaluate(() => window.dispatchEvent(new Event('blur')));
    const released = await stream.waitFor(isKey);
    assert.deepEqual([released.key, released.down], [keyIdFromCode('KeyW'), false]);
    assert.equal(await page.evaluate(() => window.__athPlayer?.inputSeq), released.seq);
  });

  test('`codec=vp8` answers with VP8 first', async () => {
    const { stream } = await session('&codec=vp8');
    const videoSection = stream.answerSdp.split(/\r?\nm=/).find((section) => section.startsWith('video'));
    const firstPayload = /^video \d+ \S+ (\d+)/.exec(videoSection ?? '')?.[1];
    assert.ok(firstPayload);
    assert.match(videoSection ?? '', new RegExp(`a=rtpmap:${firstPayload} VP8/90000`));
  });
});
