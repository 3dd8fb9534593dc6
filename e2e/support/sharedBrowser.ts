import type { Browser } from 'playwright';
import { launchChromium } from './launchChromium.js';

let browser: Promise<Browser> | undefined;

/** One Chromium for every scenario in the e2e process (contexts keep the pages apart). */
export function sharedBrowser(): Promise<Browser> {
  browser ??= launchChromium({ args: ['--autoplay-policy=no-user-gesture-required'] });
  return browser;
}

export async function closeSharedBrowser(): Promise<void> {
  const running = browser;
  browser = undefined;
  await (await running)?.close();
}
