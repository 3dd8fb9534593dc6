/**
 * Studios end to end (issue 8): a studio registers with its wallet, funds its escrow on the embedded chain,
 * mints play tokens from "its backend" (this test), and a page on ANOTHER origin (a second local HTTP server)
 * embeds `<ath-play>` with the copy-paste snippet. Play streams and the DOM events arrive; an expired token, a
 * token bound to another origin and an exhausted cap each give a typed `error` event. The iframe embed posts
 * the same events to the studio page.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright';
import type { Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createChainClients, depositToEscrow } from '../../edge/chain/index.js';
import { studioRegistrationMessage } from '../../edge/economy/index.js';
import type { Stack } from '../../edge/index.js';
import { sessionAuthTypes } from '../../signaling/protocol/index.js';
import { E2E_TIMEOUT_MS } from '../support/playerPage.js';
import { sharedBrowser } from '../support/sharedBrowser.js';
import { sharedStack } from '../support/sharedStack.js';

const GAME = 'neon-drift';
type PageEvent = { type: string; code?: string; message?: string };
type Minted = { token: string; sessionId: string; expiresAt: string };

/** The studio's page: the snippet from /docs/embed.html, plus a log of the events for the test to read. */
function studioPage(signalingUrl: string, url: URL): string {
  const token = url.searchParams.get('token') ?? '';
  if (url.pathname === '/iframe') {
    return `<!doctype html><meta charset="utf-8"><title>Studio (iframe)</title>
<iframe src="${signalingUrl}/embed/${GAME}?token=${token}" allow="autoplay; fullscreen" style="width:640px;height:360px;border:0"></iframe>
<script>
  window.__events = [];
  addEventListener('message', (event) => {
    if (event.origin !== ${JSON.stringify(signalingUrl)} || event.data?.source !== 'ath-play') return;
    window.__events.push({ type: event.data.type, code: event.data.data?.code, message: event.data.data?.message });
  });
  window.__play = () => document.querySelector('iframe').contentWindow.postMessage({ source: 'ath-play', command: 'play' }, ${JSON.stringify(signalingUrl)});
</script>`;
  }
  return `<!doctype html><meta charset="utf-8"><title>Studio</title>
<script src="${signalingUrl}/sdk/ath-play.js"></script>
<ath-play game="${GAME}" token="${token}" quality="auto" muted style="display:block;width:640px;height:360px"></ath-play>
<script>
  window.__events = [];
  const player = document.querySelector('ath-play');
  for (const type of ['ready', 'queued', 'playing', 'stats', 'ended', 'error'])
    player.addEventListener(type, (event) => window.__events.push({ type, code: event.detail?.code, message: event.detail?.message }));
</script>`;
}

describe('studios', () => {
  let stack: Stack;
  let browser: Browser;
  let server: Server;
  let studioOrigin: string;
  let apiKey: string;
  const studio = privateKeyToAccount(generatePrivateKey());
  const signaling = () => stack.signaling.info.httpUrl;

  const post = async (path: string, body: unknown, key?: string) => {
    const response = await fetch(`${signaling()}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify(body),
    });
    const json = (await response.json()) as Record<string, unknown>;
    assert.ok(response.ok, `${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };

  /** What the studio's backend does per visitor: terms → sign with the studio wallet → token. */
  const mint = async ({ origin = studioOrigin, capWei = 10n ** 18n, ttlSec = 600 } = {}): Promise<Minted> => {
    const wanted = { game: GAME, capWei: capWei.toString(), ttlSec };
    const { typedData } = (await post('/api/play-tokens/terms', wanted, apiKey)) as {
      typedData: { domain: never; message: Record<string, string> };
    };
    const m = typedData.message;
    const signature = await studio.signTypedData({
      domain: typedData.domain,
      types: sessionAuthTypes,
      primaryType: 'SessionAuth',
      message: {
        sessionId: m['sessionId'] as Hex,
        player: m['player'] as Hex,
        provider: m['provider'] as Hex,
        maxAmount: BigInt(m['maxAmount'] ?? ''),
        pricePerSecond: BigInt(m['pricePerSecond'] ?? ''),
        expiry: BigInt(m['expiry'] ?? ''),
      },
    });
    return (await post('/api/play-tokens', { ...wanted, origin, auth: m, signature }, apiKey)) as Minted;
  };

  const openStudioPage = async (path: string, token: string): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 900, height: 600 } });
    const page = await context.newPage();
    await page.goto(`${studioOrigin}${path}?token=${encodeURIComponent(token)}`);
    return page;
  };
  const events = (page: Page): Promise<PageEvent[]> =>
    page.evaluate(() => (window as unknown as { __events: PageEvent[] }).__events);
  const waitEvent = async (page: Page, type: string, code?: string): Promise<PageEvent> => {
    await page.waitForFunction(
      ([t, c]) =>
        (window as unknown as { __events: PageEvent[] }).__events.some(
          (e) => e.type === t && (c === undefined || e.code === c),
        ),
      [type, code] as const,
      { timeout: E2E_TIMEOUT_MS },
    );
    const found = (await events(page)).find((e) => e.type === type && (code === undefined || e.code === code));
    if (!found) throw new Error(`no ${type} event`);
    return found;
  };
  const pressPlay = async (page: Page) => {
    await waitEvent(page, 'ready');
    await page.locator('ath-play button.play').click();
  };

  before(async () => {
    stack = await sharedStack();
    browser = await sharedBrowser();
    server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(studioPage(signaling(), url));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    studioOrigin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    assert.notEqual(new URL(studioOrigin).origin, new URL(signaling()).origin, 'the studio page is another origin');

    // The studio's wallet: test ATH and gas from the faucet, 100 ATH into the escrow.
    const chainInfo = (await (await fetch(`${signaling()}/api/chain`)).json()) as {
      chainId: number;
      rpcUrl: string;
      tokenAddress: Hex;
      escrowAddress: Hex;
    };
    await post('/api/faucet', { address: studio.address });
    const { publicClient, walletClient } = createChainClients({
      network: 'anvil',
      chainId: chainInfo.chainId,
      rpcUrl: chainInfo.rpcUrl,
      account: studio,
    });
    if (!walletClient) throw new Error('no wallet client');
    await depositToEscrow({
      publicClient,
      walletClient,
      tokenAddress: chainInfo.tokenAddress,
      escrowAddress: chainInfo.escrowAddress,
      amountWei: 100n * 10n ** 18n,
    });
    const issuedAtSec = Math.floor(Date.now() / 1000);
    const registered = await post('/api/studios', {
      address: studio.address,
      name: 'E2E Studio',
      issuedAtSec,
      signature: await studio.signMessage({
        message: studioRegistrationMessage({ address: studio.address, name: 'E2E Studio', issuedAtSec }),
      }),
    });
    apiKey = String(registered['apiKey']);
  });

  after(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  // None of these streams (each is refused before a session, or reads a page): they run at once.
  describe('refusals and the docs page', { concurrency: true }, () => {
    test('the docs page shows the snippets', async () => {
      const html = await (await fetch(`${signaling()}/docs/embed.html`)).text();
      assert.match(html, /sdk\/ath-play\.js/);
      assert.match(html, /\/embed\/supertux\?token=/);
    });

    test('a token bound to another origin gives ATH_ERR_ORIGIN_NOT_ALLOWED', async () => {
      const { token } = await mint({ origin: 'https://someone-else.example' });
      const page = await openStudioPage('/', token);
      try {
        await pressPlay(page);
        const error = await waitEvent(page, 'error', 'ATH_ERR_ORIGIN_NOT_ALLOWED');
        assert.ok(error.message);
      } finally {
        await page.context().close();
      }
    });

    test('a token opened on signaling’s own embed page outside its studio’s frame does not play (the origin binding holds)', async () => {
      const { token } = await mint();
      // Another site sends its visitors to the embed page in a window of their own (CSP forbids it to frame it):
      // the page's origin is signaling's own, which the origin check of a play token lets through.
      const context = await browser.newContext({ viewport: { width: 900, height: 600 } });
      const page = await context.newPage();
      try {
        await page.goto(`${signaling()}/embed/${GAME}?token=${encodeURIComponent(token)}`);
        const outcome = await Promise.race([
          page
            .locator('.embed-refused')
            .waitFor({ timeout: E2E_TIMEOUT_MS })
            .then(() => 'refused'),
          (async () => {
            await page.locator('ath-play button.play').click({ timeout: E2E_TIMEOUT_MS });
            await page.waitForFunction(() => window.__athPlayer?.state === 'playing', null, {
              timeout: E2E_TIMEOUT_MS,
            });
            return 'played on the studio’s money';
          })(),
        ]);
        assert.equal(outcome, 'refused');
        assert.match((await page.locator('.embed-refused').textContent()) ?? '', new RegExp(studioOrigin));
      } finally {
        await context.close();
      }
    });

    test('an expired token gives ATH_ERR_TOKEN_EXPIRED', async () => {
      const minted = await mint({ ttlSec: 1 });
      const page = await openStudioPage('/', minted.token);
      try {
        await waitEvent(page, 'ready');
        // The token's lifetime is one second: wait until the server's clock has passed it.
        const waitMs = new Date(minted.expiresAt).getTime() - Date.now() + 1_000;
        if (waitMs > 0) await page.waitForTimeout(waitMs);
        await pressPlay(page);
        await waitEvent(page, 'error', 'ATH_ERR_TOKEN_EXPIRED');
      } finally {
        await page.context().close();
      }
    });
  });

  test('a studio page on another origin plays with a play token: ready, playing and stats arrive', async () => {
    const { token } = await mint();
    const page = await openStudioPage('/', token);
    try {
      await pressPlay(page);
      await waitEvent(page, 'playing');
      await waitEvent(page, 'stats');
      const errors = (await events(page)).filter((e) => e.type === 'error');
      assert.deepEqual(errors, [], 'no error while playing');
      await page.locator('ath-play button.quit').click();
      await waitEvent(page, 'ended');
    } finally {
      await page.context().close();
    }
  });

  test('the iframe embed plays and posts the events to the token’s origin', async () => {
    const { token } = await mint();
    const page = await openStudioPage('/iframe', token);
    try {
      await waitEvent(page, 'ready');
      await page.evaluate(() => (window as unknown as { __play: () => void }).__play());
      await waitEvent(page, 'playing');
      await waitEvent(page, 'stats');
    } finally {
      await page.context().close();
    }
  });

  test('a token whose cap is spent ends the session with ATH_ERR_CAP_EXHAUSTED', async () => {
    const { hosts } = (await (await fetch(`${signaling()}/api/hosts`)).json()) as {
      hosts: Array<{ priceWeiPerSec: string; state: string; games: string[] }>;
    };
    // The terms name the cheapest up host serving the game.
    let price: bigint | undefined;
    for (const host of hosts.filter((h) => h.state === 'up' && h.games.includes(GAME)))
      if (price === undefined || BigInt(host.priceWeiPerSec) < price) price = BigInt(host.priceWeiPerSec);
    assert.ok(price !== undefined, 'a render host is up');
    // Seven seconds at the cheapest host's price: one 5 s metering tick fits, the next would not.
    const capWei = price * 7n;
    const { token, sessionId } = await mint({ capWei });
    const page = await openStudioPage('/', token);
    try {
      await pressPlay(page);
      const error = await waitEvent(page, 'error', 'ATH_ERR_CAP_EXHAUSTED');
      assert.match(error.message ?? '', /budget|cap/i);
      await waitEvent(page, 'ended');
    } finally {
      await page.context().close();
    }
    // The studio paid: the chain redeemed the studio wallet's own SessionAuth, up to the cap and no further.
    type Charges = {
      chargedWei: string;
      settledWei: string;
      session: { payerAddress: string; studioId: string | null; state: string };
      settlements: Array<{ state: string; txHash: string | null }>;
    };
    let charges: Charges | undefined;
    const deadline = Date.now() + 45_000;
    for (;;) {
      const response = await fetch(`${signaling()}/api/sessions/${sessionId}/charges`);
      charges = response.ok ? ((await response.json()) as Charges) : undefined;
      const confirmed = charges?.settlements.some((s) => s.state === 'confirmed');
      if (charges?.session.state === 'ended' && confirmed && charges.settledWei === charges.chargedWei) break;
      if (Date.now() > deadline)
        assert.fail(
          `not settled in time: ${JSON.stringify({ ...charges, session: charges?.session.state }).slice(0, 900)}`,
        );
      // One ledger read a poll: a quarter second between them finds the confirmation without a second's lag.
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(charges.session.payerAddress, studio.address.toLowerCase());
    assert.ok(charges.session.studioId);
    assert.ok(BigInt(charges.chargedWei) > 0n && BigInt(charges.chargedWei) <= capWei, charges.chargedWei);
  });
});
