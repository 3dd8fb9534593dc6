/**
 * `ath-edge provider join|status`: one command turns this machine into a paid render node; another says how
 * it is doing. Console output is for people; the roles' structured logs go to pino (--log-file).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Address, isAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { loadAppCatalogue, setupProviderHost } from '../../render-host/index.js';
import { AthError } from '../../signaling/protocol/index.js';
import { loadEdgeConfig } from '../config/loadEdgeConfig.js';
import { loadOrCreateKey } from '../keys/loadOrCreateKey.js';
import { createLogger } from '../logging/createLogger.js';
import { stopOnSignals } from '../roles/stopOnSignals.js';
import { formatAth, formatProviderStatus } from './formatProviderStatus.js';
import { defaultProviderKeyFile, joinProvider } from './joinProvider.js';
import { fetchProviderStatus } from './signalingApi.js';

export const PROVIDER_USAGE = `ath-edge provider <join|status|setup> [flags]

  join     create or load the provider key, stake the minimum for this machine's GPU tier, start a render
           host registered with signaling under the provider's address, and serve until Ctrl-C
  status   slots, sessions, quality score, earnings, stake and slashes of the provider
  setup    install (apt-get, through sudo) what external games need: Xvfb, xdotool, PulseAudio and the
           games of the catalogue (built-in manifests + renderHost.appsDir); then serve them with
           --set renderHost.apps=auto (or a list of ids)

Flags:
  --signaling URL   the signaling server (default http://127.0.0.1:8080, what \`ath-edge all\` runs)
  --key FILE        the provider key (default <data dir>/keys/provider.key; created 0600 on first join)
  --tier TIER       GPU tier to stake in: software | nvidia-consumer | nvidia-datacenter (default: guessed)
  --json            status: print the JSON of GET /api/providers/:address
  --address 0x…     status: of this provider instead of the key's
  --rpc-url URL     the chain's RPC when signaling does not serve the embedded chain
  --games a,b       setup: only these games (default: every catalogue game that needs no GPU)
  --gpu-games       setup: the GPU games too (SuperTuxKart, OpenArena)
  --dry-run         setup: print the commands instead of running them
  and every ath-edge flag (--slots, --price, --set renderHost.region=…, --data-dir, --log-file, …)`;

const DEFAULT_SIGNALING_URL = 'http://127.0.0.1:8080';

/** Removes a flag (and its value) from argv and returns its value; `true` for a bare boolean flag. */
function takeFlag(args: string[], name: string, { boolean = false } = {}): string | undefined {
  const index = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (index < 0) return undefined;
  const [flag = ''] = args.splice(index, 1);
  if (flag.includes('=')) return flag.slice(name.length + 1);
  if (boolean) return 'true';
  const value = args.splice(index, 1)[0];
  if (value === undefined) throw new AthError({ code: 'ATH_ERR_USAGE', shortMessage: `${name} needs a value` });
  return value;
}

/** The provider's address from its key file; status never creates a key. */
function providerAddressOf(keyFile: string): Address {
  if (!existsSync(keyFile)) {
    throw new AthError({
      code: 'ATH_ERR_USAGE',
      shortMessage: `no provider key at ${keyFile}`,
      details: 'run `ath-edge provider join` first, or pass --key FILE or --address 0x…',
    });
  }
  return privateKeyToAccount(loadOrCreateKey(keyFile)).address;
}

export async function runProviderCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const args = [...rest];
  if (!sub || sub === 'help' || sub === '--help') {
    console.log(PROVIDER_USAGE);
    return;
  }
  const keyFlag = takeFlag(args, '--key');
  const tier = takeFlag(args, '--tier');
  const json = takeFlag(args, '--json', { boolean: true }) === 'true';
  const addressFlag = takeFlag(args, '--address');
  if (addressFlag !== undefined && !isAddress(addressFlag)) {
    throw new AthError({ code: 'ATH_ERR_USAGE', shortMessage: '--address takes a 0x… wallet address' });
  }
  const gamesFlag = takeFlag(args, '--games');
  const gpuGames = takeFlag(args, '--gpu-games', { boolean: true }) === 'true';
  const dryRun = takeFlag(args, '--dry-run', { boolean: true }) === 'true';
  const logFlag = takeFlag(args, '--log-file');
  const config = loadEdgeConfig({ flags: args, env: process.env });
  // The console is for people: the structured log goes to a file unless asked otherwise.
  const logFile = logFlag ?? join(config.dataDir, 'logs', 'provider.log');
  const signalingUrl = config.signaling.url ?? DEFAULT_SIGNALING_URL;
  const keyFile = keyFlag ?? defaultProviderKeyFile(config);

  if (sub === 'status') {
    const address = addressFlag ?? providerAddressOf(keyFile);
    const status = await fetchProviderStatus(signalingUrl, address);
    console.log(json ? JSON.stringify(status, null, 2) : formatProviderStatus(status));
    return;
  }
  if (sub === 'setup') {
    const catalogue = await loadAppCatalogue({ directory: config.renderHost.appsDir });
    await setupProviderHost({
      catalogue,
      ...(gamesFlag ? { games: gamesFlag.split(',').filter(Boolean) } : {}),
      includeGpuGames: gpuGames,
      dryRun,
      print: (line) => console.log(line),
    });
    return;
  }
  if (sub !== 'join') {
    throw new AthError({
      code: 'ATH_ERR_USAGE',
      shortMessage: `unknown provider command \`${sub}\``,
      details: PROVIDER_USAGE,
    });
  }

  const log = createLogger({ level: config.logLevel, role: 'provider', file: logFile });
  console.log(`ath-edge provider: joining ${signalingUrl}`);
  let pending = '';
  const handle = await joinProvider({
    config,
    log,
    signalingUrl,
    keyFile,
    ...(tier ? { tier } : {}),
    onStep: (step) => {
      if (pending) console.log('ok');
      pending = step;
      process.stdout.write(`  ▸ ${step} … `);
    },
  });
  console.log('ok');
  const { info } = handle;
  const { stake } = info;
  console.log(`\nProvider ${info.providerAddress}  (key ${keyFile})`);
  console.log(
    `  Chain:     ${info.chain.network} (chain ${info.chain.chainId}), staking registry ${info.chain.stakingAddress}`,
  );
  console.log(
    `  Stake:     ${formatAth(stake.stakeWei)} in tier ${stake.tier} (minimum ${formatAth(stake.minStakeWei)})${
      stake.stakedNowWei > 0n ? `, ${formatAth(stake.stakedNowWei)} staked now` : ', already staked'
    }${stake.faucetWei > 0n ? `; ${formatAth(stake.faucetWei)} from the test faucet` : ''}`,
  );
  console.log(`  Host:      ${info.host.hostId}, ${info.host.slots} slot(s), registered with ${signalingUrl}`);
  console.log(`  Metrics:   ${info.host.metricsUrl}`);
  console.log(`  Sessions:  ${info.host.httpUrl}/sessions`);
  console.log(`  Status:    ath-edge provider status --signaling ${signalingUrl} --key ${keyFile}`);
  console.log(`             ${info.statusUrl}`);
  console.log(`  Dashboard: ${info.dashboardUrl}`);
  console.log(`  Log:       ${logFile}`);
  console.log('\nServing. Press Ctrl-C to stop.');

  stopOnSignals({ handle, log, what: 'provider' });
}
