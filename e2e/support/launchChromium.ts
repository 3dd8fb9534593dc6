/**
 * Debian's Chromium under Playwright (Playwright's own browser download does not work here). The path comes
 * from CHROMIUM_PATH, else /usr/bin/chromium; without either, a clear error says how to install it.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium, type LaunchOptions } from 'playwright';

export const DEFAULT_CHROMIUM_PATH = '/usr/bin/chromium';

/** Flags measured to work on this machine (no sandbox as root, no GPU, nothing phoning home). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

export function resolveChromiumPath(env: Record<string, string | undefined> = process.env): string {
  const fromEnv = env['CHROMIUM_PATH'];
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROMIUM_PATH=${fromEnv} does not exist`);
    return fromEnv;
  }
  if (existsSync(DEFAULT_CHROMIUM_PATH)) return DEFAULT_CHROMIUM_PATH;
  throw new Error(
    `Chromium not found at ${DEFAULT_CHROMIUM_PATH}. Install it with \`apt-get install chromium\` ` +
      '(Debian), or set CHROMIUM_PATH to a Chromium binary.',
  );
}

export type LaunchChromiumParameters = { args?: readonly string[] } & Omit<LaunchOptions, 'executablePath' | 'args'>;

/** Launches headless Chromium with the house flags plus `args`. Close it in the test's `after`. */
export function launchChromium({ args = [], ...options }: LaunchChromiumParameters = {}): Promise<Browser> {
  return chromium.launch({ ...options, executablePath: resolveChromiumPath(), args: [...CHROMIUM_ARGS, ...args] });
}
