/**
 * `ath-edge provider join|status|setup`: one command turns this machine into a paid render node, one says how
 * it is doing, one installs what external games need. Console output is for people; the roles' structured
 * logs go to pino (--log-file).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Address, isAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { loadAppCatalogue, setupProviderHost } from '../../render-host/index.js';
import { AthError, formatAth } from '../../signaling/protocol/index.js';
import { defineCommand } from '../cli/defineCommand.js';
import { trustedSignalingCa } from '../config/tlsSettings.js';
import { EdgeErrorCode } from '../errors.js';
import { loadOrCreateKey } from '../keys/loadOrCreateKey.js';
import { createLogger } from '../logging/createLogger.js';
import { stopOnSignals } from '../roles/stopOnSignals.js';
import { formatProviderStatus } from './formatProviderStatus.js';
import { defaultProviderKeyFile, joinProvider } from './joinProvider.js';
import { fetchProviderStatus } from './signalingApi.js';

const DEFAULT_SIGNALING_URL = 'http://127.0.0.1:8080';

/** The provider's address from its key file; status never creates a key. */
function providerAddressOf(keyFile: string): Address {
  if (!existsSync(keyFile)) {
    throw new AthError({
      code: EdgeErrorCode.usage,
      shortMessage: `no provider key at ${keyFile}`,
      details: 'run `ath-edge provider join` first, or pass --key FILE or --address 0x…',
    });
  }
  return privateKeyToAccount(loadOrCreateKey(keyFile)).address;
}

const KEY_FLAG = {
  type: 'string',
  value: 'FILE',
  help: 'the provider key (default <data dir>/keys/provider.key; created 0600 on first join)',
} as const;

const joinCommand = defineCommand({
  path: ['provider', 'join'],
  summary: 'become a paid provider: key, stake, a render host serving (--signaling URL)',
  description: `Creates or loads the provider key, stakes the minimum for this machine's GPU tier (on the embedded
chain the test faucet pays), starts a render host registered with signaling under the provider's address, and
serves until Ctrl-C. Signaling defaults to ${DEFAULT_SIGNALING_URL} (what \`ath-edge all\` runs).`,
  flags: {
    key: KEY_FLAG,
    tier: { type: 'string', value: 'TIER', help: 'software | nvidia-consumer | nvidia-datacenter (default: guessed)' },
    'log-file': { type: 'string', value: 'FILE', help: 'the JSON log (default <data dir>/logs/provider.log)' },
  },
  config: true,
  run: async ({ flags, loadConfig, print }) => {
    const config = loadConfig();
    // The console is for people: the structured log goes to a file unless asked otherwise.
    const logFile = flags['log-file'] ?? join(config.dataDir, 'logs', 'provider.log');
    const signalingUrl = config.signaling.url ?? DEFAULT_SIGNALING_URL;
    const keyFile = flags.key ?? defaultProviderKeyFile(config);
    const log = createLogger({ level: config.logLevel, role: 'provider', file: logFile });
    print(`ath-edge provider: joining ${signalingUrl}`);
    let pending = '';
    const signalingCa = trustedSignalingCa(config);
    const handle = await joinProvider({
      config,
      log,
      signalingUrl,
      ...(signalingCa ? { signalingCa } : {}),
      keyFile,
      ...(flags.tier ? { tier: flags.tier } : {}),
      onStep: (step) => {
        if (pending) print('ok');
        pending = step;
        process.stdout.write(`  ▸ ${step} … `);
      },
    });
    print('ok');
    const { info } = handle;
    const { stake } = info;
    print(`\nProvider ${info.providerAddress}  (key ${keyFile})`);
    print(
      `  Chain:     ${info.chain.network} (chain ${info.chain.chainId}), staking registry ${info.chain.stakingAddress}`,
    );
    print(
      `  Stake:     ${formatAth(stake.stakeWei)} in tier ${stake.tier} (minimum ${formatAth(stake.minStakeWei)})${
        stake.stakedNowWei > 0n ? `, ${formatAth(stake.stakedNowWei)} staked now` : ', already staked'
      }${stake.faucetWei > 0n ? `; ${formatAth(stake.faucetWei)} from the test faucet` : ''}`,
    );
    print(`  Host:      ${info.host.hostId}, ${info.host.slots} slot(s), registered with ${signalingUrl}`);
    print(`  Metrics:   ${info.host.metricsUrl}`);
    print(`  Sessions:  ${info.host.httpUrl}/sessions`);
    print(`  Status:    ath-edge provider status --signaling ${signalingUrl} --key ${keyFile}`);
    print(`             ${info.statusUrl}`);
    print(`  Dashboard: ${info.dashboardUrl}`);
    print(`  Log:       ${logFile}`);
    print('\nServing. Press Ctrl-C to stop.');

    stopOnSignals({ handle, log, what: 'provider' });
  },
});

const statusCommand = defineCommand({
  path: ['provider', 'status'],
  summary: 'slots, sessions, quality score, earnings, stake and slashes of a provider',
  description: `Prints the provider's slots (busy / total), live and paid sessions, quality score, earnings, stake,
tier and slashes, from signaling's GET /api/providers/:address (default ${DEFAULT_SIGNALING_URL}).`,
  flags: {
    key: KEY_FLAG,
    address: { type: 'string', value: '0x…', help: "of this provider instead of the key's" },
    json: { type: 'boolean', help: 'print the JSON of GET /api/providers/:address' },
  },
  config: true,
  run: async ({ flags, loadConfig, print }) => {
    if (flags.address !== undefined && !isAddress(flags.address)) {
      throw new AthError({ code: EdgeErrorCode.usage, shortMessage: '--address takes a 0x… wallet address' });
    }
    const config = loadConfig();
    const signalingUrl = config.signaling.url ?? DEFAULT_SIGNALING_URL;
    const address = flags.address ?? providerAddressOf(flags.key ?? defaultProviderKeyFile(config));
    const providerStatus = await fetchProviderStatus({ url: signalingUrl, ca: trustedSignalingCa(config) }, address);
    print(flags.json ? JSON.stringify(providerStatus, null, 2) : formatProviderStatus(providerStatus));
  },
});

const setupCommand = defineCommand({
  path: ['provider', 'setup'],
  summary: 'install (apt-get) what external games need: Xvfb, xdotool, PulseAudio and the games',
  description: `Installs (apt-get, through sudo) what external games need: Xvfb, xdotool, PulseAudio and the games of
the catalogue (built-in manifests + renderHost.appsDir). Then serve them with --set renderHost.apps=auto
(or a list of ids).`,
  flags: {
    games: { type: 'string', value: 'a,b', help: 'only these games (default: every catalogue game needing no GPU)' },
    'gpu-games': { type: 'boolean', help: 'the GPU games too (SuperTuxKart, OpenArena)' },
    'dry-run': { type: 'boolean', help: 'print the commands instead of running them' },
  },
  config: true,
  run: async ({ flags, loadConfig, print }) => {
    const config = loadConfig();
    const catalogue = await loadAppCatalogue({ directory: config.renderHost.appsDir });
    await setupProviderHost({
      catalogue,
      ...(flags.games ? { games: flags.games.split(',').filter(Boolean) } : {}),
      includeGpuGames: flags['gpu-games'] === true,
      dryRun: flags['dry-run'] === true,
      print,
    });
  },
});

/** `ath-edge provider join|status|setup`. */
export const PROVIDER_COMMANDS = [joinCommand, statusCommand, setupCommand] as const;
