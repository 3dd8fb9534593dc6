/**
 * `ath-edge provider join` against the embedded chain (issue 8): a real signaling process with anvil and the
 * deployed contracts, no render host; the provider joins in-process (key → faucet → approve + stake →
 * render host) → the host appears in /api/hosts under the provider's address with its stake, a player
 * (werift receiver, its own funded wallet, a signed SessionAuth) gets a real paid stream from it, and
 * `ath-edge provider status` (the CLI, as a child process) reports the slot, the session and the stake,
 * and so does the dashboard page (`/providers/?address=…`) in Chromium, refreshing as the session ends.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import type { Browser, Page } from 'playwright';
import type { Address, Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import WebSocket from 'ws';
import { buildClient } from '../../client/index.js';
import { launchChromium } from '../../e2e/support/launchChromium.js';
import { StreamReceiver } from '../../render-host/index.js';
import type { ProviderStatus } from '../../signaling/protocol/index.js';
import {
  type PeerMessage,
  PROTOCOL_VERSION,
  parseServerMessage,
  type ServerMessage,
  sessionAuthTypes,
  sessionEscrowDomain,
  WS_SUBPROTOCOL,
} from '../../signaling/protocol/index.js';
import { createChainClients, DEFAULT_MIN_STAKES_WEI, depositToEscrow } from '../chain/index.js';
import { DEFAULT_EDGE_CONFIG, type EdgeConfig } from '../config/EdgeConfig.js';
import type { RoleHandle } from '../roles/RoleHandle.js';
import { nodeEntry } from '../stack/nodeEntry.js';
import { type Stack, startStack } from '../stack/startStack.js';
import { ensureProviderStake } from './ensureProviderStake.js';
import { joinProvider, type ProviderInfo } from './joinProvider.js';
import { fetchChainInfo, fetchProviderStatus } from './signalingApi.js';

const REPO_DIR = join(fileURLToPath(import.meta.url), '..', '..', '..');
const CLI = nodeEntry(import.meta.url, '../cli.ts');
const SOFTWARE_MIN_STAKE_WEI = DEFAULT_MIN_STAKES_WEI.software ?? 0n;
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

async function until<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function waitForText(page: Page, id: string, expected: string, timeoutMs = 20_000): Promise<void> {
  await page.waitForFunction(
    ([elementId, text]) => document.getElementById(elementId ?? '')?.textContent === text,
    [id, expected],
    { timeout: timeoutMs },
  );
}

describe('provider join against the embedded chain', { timeout: 360_000 }, () => {
  let dataDir: string;
  let stack: Stack;
  let config: EdgeConfig;
  let provider: RoleHandle<ProviderInfo> | undefined;
  let signalingUrl: string;
  let browser: Browser | undefined;
  const api = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const response = await fetch(`${signalingUrl}${path}`, init);
    assert.ok(response.ok, `${path}: ${response.status} ${await response.clone().text()}`);
    return (await response.json()) as T;
  };

  before(async () => {
    const startedMs = Date.now();
    dataDir = mkdtempSync(join(tmpdir(), 'ath-provider-'));
    config = {
      ...DEFAULT_EDGE_CONFIG,
      logLevel: 'info',
      dataDir,
      signaling: { ...DEFAULT_EDGE_CONFIG.signaling, httpPort: 0, wsPort: 0, heartbeatIntervalMs: 1000 },
      renderHost: { ...DEFAULT_EDGE_CONFIG.renderHost, slots: 1, heartbeatIntervalMs: 1000 },
      economy: { ...DEFAULT_EDGE_CONFIG.economy, settleIntervalMs: 2_000 },
      // Signaling and the chain only: the render host is the provider's.
      stack: { ...DEFAULT_EDGE_CONFIG.stack, renderHosts: 0 },
    };
    // The client bundle builds while the chain comes up (startStack awaits it), and Chromium (for the dashboard,
    // in the second test) starts beside both.
    const clientDir = buildClient({}).then(({ outDir }) => outDir);
    const [started, launched] = await Promise.allSettled([startStack({ config, clientDir }), launchChromium()]);
    // Whatever started is kept for `after` to stop, then the first failure is thrown.
    if (started.status === 'fulfilled') stack = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    for (const result of [started, launched]) if (result.status === 'rejected') throw result.reason;
    signalingUrl = stack.signaling.info.httpUrl;
    process.stderr.write(`provider test: stack up in ${Date.now() - startedMs} ms\n`);
  });

  after(async () => {
    const startedMs = Date.now();
    await browser?.close();
    await provider?.close();
    process.stderr.write(`provider test: provider closed in ${Date.now() - startedMs} ms\n`);
    await stack?.close();
    process.stderr.write(`provider test: stack closed in ${Date.now() - startedMs} ms\n`);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test('join stakes the tier minimum, registers the host with its stake; a second stake is a no-op', async () => {
    const providerConfig: EdgeConfig = { ...config, dataDir: join(dataDir, 'provider') };
    provider = await joinProvider({ config: providerConfig, log, signalingUrl, tier: 'software' });
    const { info } = provider;
    assert.equal(statSync(info.keyFile).mode & 0o777, 0o600, 'the key is readable by its owner only');
    assert.equal(info.stake.tier, 'software');
    assert.equal(info.stake.minStakeWei, SOFTWARE_MIN_STAKE_WEI);
    assert.equal(info.stake.stakedNowWei, SOFTWARE_MIN_STAKE_WEI, 'a fresh provider stakes the minimum');
    assert.equal(info.stake.stakeWei, SOFTWARE_MIN_STAKE_WEI);
    assert.ok(info.stake.faucetWei > 0n, 'the embedded chain’s faucet paid for it');
    assert.equal(info.host.providerAddress, info.providerAddress);

    type Hosts = { hosts: Array<{ hostId: string; providerAddress: string; stakeWei: string; state: string }> };
    const listed = await until('the host in /api/hosts with its stake', async () => {
      const host = (await api<Hosts>('/api/hosts')).hosts.find((h) => h.hostId === info.host.hostId);
      return host && BigInt(host.stakeWei) === SOFTWARE_MIN_STAKE_WEI ? host : undefined;
    });
    assert.equal(listed.providerAddress, info.providerAddress);
    assert.equal(listed.state, 'up');

    // Idempotent: joining again (same key) sends no transaction.
    const chain = await fetchChainInfo(signalingUrl);
    const again = await ensureProviderStake({
      signalingUrl,
      chain,
      rpcUrl: chain.rpcUrl ?? '',
      account: privateKeyToAccount(readFileSync(info.keyFile, 'utf8').trim() as Hex),
      tier: 'software',
      log,
    });
    assert.equal(again.stakedNowWei, 0n);
    assert.deepEqual(again.transactions, []);
    assert.equal(again.stakeWei, SOFTWARE_MIN_STAKE_WEI);
    // A wrong tier is refused before anything is sent (an operator stays in one tier).
    await assert.rejects(
      ensureProviderStake({
        signalingUrl,
        chain,
        rpcUrl: chain.rpcUrl ?? '',
        account: privateKeyToAccount(readFileSync(info.keyFile, 'utf8').trim() as Hex),
        tier: 'nvidia-consumer',
        log,
      }),
      /staked in tier software/,
    );
  });

  test('the provider’s host serves a paid session, and `provider status` reports it', async () => {
    assert.ok(provider, 'joined in the test before');
    const { info } = provider;
    const chain = await fetchChainInfo(signalingUrl);

    // A player with its own wallet: test ATH from the faucet, 10 ATH deposited in the escrow.
    const player = privateKeyToAccount(generatePrivateKey());
    await api('/api/faucet', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ address: player.address }),
    });
    const { publicClient, walletClient } = createChainClients({
      network: chain.network,
      chainId: chain.chainId,
      rpcUrl: chain.rpcUrl ?? '',
      account: player,
    });
    assert.ok(walletClient);
    await depositToEscrow({
      publicClient,
      walletClient,
      tokenAddress: chain.tokenAddress as Address,
      escrowAddress: chain.escrowAddress as Address,
      amountWei: 10n * 10n ** 18n,
    });

    const { token } = await api<{ token: string }>('/api/session', { method: 'POST' });
    const { games } = await api<{ games: Array<{ id: string }> }>('/api/games');
    const game = games[0]?.id;
    assert.ok(game, 'the provider’s host serves a game');
    const socket = new WebSocket(stack.signaling.info.wsPlayerUrl, [WS_SUBPROTOCOL, `token.${token}`]);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const send = (message: PeerMessage) => socket.send(JSON.stringify(message));
    let receiver: StreamReceiver | undefined;
    try {
      // Play it out as a browser would: probes, the payment authorization, the offer and ICE.
      let sessionId: Hex | undefined;
      const paid = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no stream and payment in time')), 60_000);
        const pending: ServerMessage[] = [];
        let accepted = false;
        const handle = async (message: ServerMessage): Promise<void> => {
          switch (message.type) {
            case 'probe-request':
              send({
                type: 'probe-results',
                sessionId: message.sessionId,
                results: message.candidates.map((c) => ({ hostId: c.hostId, rttMs: 1 })),
              });
              return;
            case 'session': {
              sessionId = message.sessionId as Hex;
              assert.equal(message.hostId, info.host.hostId);
              const terms = message.payment;
              assert.ok(terms, 'the network bills this session');
              assert.equal(terms.providerAddress.toLowerCase(), info.providerAddress.toLowerCase());
              const auth = {
                sessionId: message.sessionId as Hex,
                player: player.address,
                provider: terms.providerAddress as Address,
                maxAmount: BigInt(terms.maxAmountWei),
                pricePerSecond: BigInt(terms.pricePerSecondWei),
                expiry: BigInt(terms.expirySec),
              };
              const signature = await player.signTypedData({
                domain: sessionEscrowDomain({
                  chainId: terms.chainId,
                  verifyingContract: terms.escrowAddress as Address,
                }),
                types: sessionAuthTypes,
                primaryType: 'SessionAuth',
                message: auth,
              });
              send({
                type: 'session-auth',
                sessionId: message.sessionId,
                auth: {
                  sessionId: auth.sessionId,
                  player: auth.player,
                  provider: auth.provider,
                  maxAmount: terms.maxAmountWei,
                  pricePerSecond: terms.pricePerSecondWei,
                  expiry: terms.expirySec,
                },
                signature,
              });
              return;
            }
            case 'offer': {
              const connected = await StreamReceiver.connect({ offerSdp: message.sdp, codecs: ['H264'] });
              receiver = connected.receiver;
              send({ type: 'answer', sessionId: message.sessionId, sdp: connected.answerSdp });
              for (const ice of pending.splice(0)) await handle(ice);
              return;
            }
            case 'ice':
              if (!receiver) pending.push(message);
              else await receiver.addIceCandidate(message.candidate);
              return;
            case 'payment-accepted':
              accepted = true;
              return;
            case 'session-ended':
              clearTimeout(timer);
              if (!receiver) reject(new Error(`session-ended: ${JSON.stringify(message)}`));
              return;
            case 'error':
              clearTimeout(timer);
              reject(new Error(`${message.type}: ${JSON.stringify(message)}`));
              return;
            default:
              return;
          }
        };
        // One message at a time, in order (the offer must be answered before its ICE is added).
        let queue = Promise.resolve();
        socket.on('message', (data, isBinary) => {
          const message = parseServerMessage(isBinary ? new Uint8Array(data as Buffer) : data.toString());
          queue = queue
            .then(() => handle(message))
            .then(() => {
              // Paid and offered, in whichever order they came.
              if (accepted && receiver) {
                clearTimeout(timer);
                resolve();
              }
            })
            .catch(reject);
        });
      });
      send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'player' });
      send({ type: 'play', game, codecs: ['H264'] });
      await paid;
      const stream = receiver;
      assert.ok(stream, 'the host offered a stream');
      await stream.waitFor('30 complete video frames', () => stream.video.framesComplete >= 30, 30_000);
      assert.ok(sessionId);

      // While it plays: one busy slot, one live session, the stake, the paid session in the ledger.
      const live = await until('the live paid session in the provider status', async () => {
        const status = await fetchProviderStatus(signalingUrl, info.providerAddress);
        return status.sessions.live === 1 && status.sessions.total >= 1 ? status : undefined;
      });
      assert.deepEqual(live.slots, { total: 1, free: 0, busy: 1 });
      assert.equal(live.hosts.length, 1);
      assert.equal(live.hosts[0]?.hostId, info.host.hostId);
      assert.equal(live.stake.stakeWei, String(SOFTWARE_MIN_STAKE_WEI));
      assert.equal(live.stake.tier, 'software');
      assert.equal(live.slashes.count, 0);
      // The checkers' score of its one host (what it is depends on the checkers' rounds, not on this test).
      assert.equal(live.qualityScore, live.hosts[0]?.qualityScore);
      assert.ok(live.qualityScore !== null && live.qualityScore >= 0 && live.qualityScore <= 1);
      assert.ok(live.sessions.recent.some((s) => s.sessionId.toLowerCase() === sessionId?.toLowerCase()));

      // The CLI, as a provider runs it: JSON and the text for people.
      const cli = (extra: string[]) =>
        promisify(execFile)(
          process.execPath,
          [
            ...CLI.execArgv,
            CLI.path,
            'provider',
            'status',
            '--signaling',
            signalingUrl,
            '--key',
            info.keyFile,
            ...extra,
          ],
          { cwd: REPO_DIR, timeout: 60_000 },
        );
      const json = JSON.parse((await cli(['--json'])).stdout) as ProviderStatus;
      assert.equal(json.address, info.providerAddress);
      assert.equal(json.slots.total, 1);
      assert.equal(json.stake.stakeWei, String(SOFTWARE_MIN_STAKE_WEI));
      assert.ok(json.sessions.total >= 1);
      const text = (await cli([])).stdout;
      assert.match(text, /Stake: +2,000 ATH \(tier software, minimum 2,000 ATH\)/);
      assert.match(text, new RegExp(`${info.host.hostId} +up`));
      assert.match(text, /Slashes: +0/);

      // The dashboard page shows the same, from the same API.
      assert.ok(browser, 'Chromium started in before');
      const page = await browser.newPage();
      await page.goto(`${signalingUrl}/providers/?address=${info.providerAddress}`);
      await page.locator('#provider').waitFor({ state: 'visible', timeout: 20_000 });
      // biome-ignore lint/performance/useDomNodeTextContent: the rendered text (table cells apart) is what a provider reads
      const shown = (id: string) => page.locator(`#${id}`).innerText();
      assert.equal(await shown('stake'), '2,000 ATH');
      assert.match(await shown('stake-detail'), /tier software, minimum 2,000 ATH/);
      assert.equal(await shown('slots'), '1 / 1');
      assert.equal(await shown('sessions'), '1');
      assert.equal(await shown('slashes'), '0');
      assert.match(await shown('hosts'), new RegExp(`${info.host.hostId}\\s+up`));
      assert.match(await shown('recent'), new RegExp(game));

      send({ type: 'quit', sessionId });
      await until('the slot free again', async () => {
        const status = await fetchProviderStatus(signalingUrl, info.providerAddress);
        return status.slots.free === 1 && status.sessions.live === 0 ? status : undefined;
      });
      // The page refreshes on its own (every 5 s).
      await waitForText(page, 'slots', '0 / 1');
      assert.equal(await shown('sessions'), '0');

      // A malformed address is refused in the page, before any request.
      await page.locator('#address').fill('0x1234');
      await page.locator('#address-form button').click();
      assert.match(await shown('status-message'), /0x followed by 40 hex digits/);
      assert.equal(await page.locator('#status-message').getAttribute('data-kind'), 'error');
    } finally {
      await receiver?.close();
      socket.close(1000);
    }
  });
});
