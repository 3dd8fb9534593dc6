/**
 * The providers page in real Chromium against real signaling with two scripted render hosts: before any
 * address is typed it shows the network — each host with its region, state, free slots, quality score, price
 * per hour and stake, and the totals above — and a host's provider opens that provider's dashboard.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright';
import { launchChromium } from '../../../e2e/support/launchChromium.js';
import {
  connectTestHost,
  startTestSignaling,
  type TestHost,
  type TestSignaling,
} from '../../../signaling/testing/startTestSignaling.js';
import { buildClient } from '../../index.js';

const TIMEOUT_MS = 15_000;
const ATH = 10n ** 18n;

let browser: Browser;
let clientDir: string;
let server: TestSignaling;
/** The two hosts; signaling knows each by its name bound to its provider's address. */
const hosts: TestHost[] = [];
const idOf = (name: string): string => hosts.find((host) => host.hostId.startsWith(`${name}-`))?.hostId ?? name;

before(async () => {
  clientDir = await mkdtemp(join(tmpdir(), 'ath-providers-page-'));
  await buildClient({ outDir: clientDir });
  server = await startTestSignaling({ clientDir });
  hosts.push(
    await connectTestHost(server, {
      hostId: 'frankfurt-1',
      slots: 2,
      region: { country: 'DE', lat: 50.1, lon: 8.7 },
      priceWeiPerSec: (ATH / 3600n).toString(),
    }),
    await connectTestHost(server, {
      hostId: 'tokyo-1',
      slots: 4,
      region: { country: 'JP', lat: 35.7, lon: 139.7 },
      priceWeiPerSec: ((2n * ATH) / 3600n).toString(),
    }),
  );
  browser = await launchChromium();
});

after(async () => {
  for (const host of hosts) host.terminate();
  await browser?.close();
  await server?.close();
  if (clientDir) await rm(clientDir, { recursive: true, force: true });
});

describe('providers page', () => {
  test('shows the network before any address is typed; a provider opens its dashboard', async () => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'en-US' });
    const page = await context.newPage();
    try {
      await page.goto(`${server.httpUrl}/providers/`);
      const row = (name: string) => page.locator(`#network-hosts tr[data-host="${idOf(name)}"] td`);
      await row('tokyo-1').first().waitFor({ timeout: TIMEOUT_MS });
      await row('frankfurt-1').first().waitFor({ timeout: TIMEOUT_MS });
      const cells = async (hostId: string) => (await row(hostId).allTextContents()).map((text) => text.trim());
      const frankfurt = await cells('frankfurt-1');
      const tokyo = await cells('tokyo-1');
      // Host, region, state, slots free, quality, price per hour, stake, GPU, provider.
      assert.equal(frankfurt[0], idOf('frankfurt-1'));
      assert.equal(frankfurt[1], 'Germany (DE)');
      assert.equal(frankfurt[2], 'up');
      assert.equal(frankfurt[3], '2 / 2');
      assert.match(frankfurt[4] ?? '', /^[01]\.\d\d$/);
      assert.match(frankfurt[5] ?? '', /^1(\.0+)? ATH$|^0\.99999\d* ATH$/);
      // Each provider is staked (signaling admits no other): the software tier's minimum on the test chain.
      assert.equal(frankfurt[6], '2,000 ATH');
      assert.match(frankfurt[8] ?? '', /^0x[0-9a-fA-F]{4}…[0-9a-fA-F]{4}$/);
      assert.equal(tokyo[1], 'Japan (JP)');
      assert.equal(tokyo[3], '4 / 4');
      assert.match(tokyo[5] ?? '', /^(2|1\.99999\d*) ATH$/);
      assert.equal(tokyo[6], '2,000 ATH');
      // The totals above the table.
      assert.equal(await page.locator('#net-hosts').textContent(), '2');
      assert.equal(await page.locator('#net-slots').textContent(), '6 / 6');
      assert.equal(await page.locator('#net-providers').textContent(), '2');
      // Stake is per provider: the two providers' 2,000 ATH each, counted once each.
      assert.equal(await page.locator('#net-providers-detail').textContent(), '4,000 ATH staked');
      // All of it on the first screen, before the address form.
      const table = await page.locator('#network-hosts').boundingBox();
      const form = await page.locator('#address-form').boundingBox();
      assert.ok(table && form && table.y + table.height <= 768 && table.y < form.y, JSON.stringify({ table, form }));

      // A provider's address opens its dashboard (the address form, filled and sent).
      await row('tokyo-1').nth(8).locator('button').click();
      await page.waitForURL(/\?address=0x[0-9a-fA-F]{40}$/, { timeout: TIMEOUT_MS });
      assert.match(await page.locator('#address').inputValue(), /^0x[0-9a-fA-F]{40}$/);
      assert.ok(
        page
          .url()
          .toLowerCase()
          .endsWith((await page.locator('#address').inputValue()).toLowerCase()),
      );
    } finally {
      await context.close();
    }
  });
});
