/**
 * The configuration flags every node command takes. Each shorthand names one EdgeConfig setting; the
 * setting's schema converts and checks the value (`loadEdgeConfig`). Adding one is one line here (and the
 * setting in `edge/config/EdgeConfig.ts` if it is new).
 */
import { AthError } from '../../signaling/protocol/index.js';
import type { ConfigSetting } from '../config/loadEdgeConfig.js';
import { EdgeErrorCode } from '../errors.js';
import type { FlagSpec, FlagTable } from './defineCommand.js';

/** A string flag passes its value; a switch (`type: 'boolean'`) sets its setting to `true`. */
export type ConfigFlagSpec = FlagSpec & { /** The EdgeConfig path it sets. */ setting: string };

export const CONFIG_FLAGS = {
  port: { type: 'string', setting: 'signaling.httpPort', value: 'N', help: 'signaling HTTP port (default 8080)' },
  slots: { type: 'string', setting: 'renderHost.slots', value: 'N', help: 'render host slots (default 2)' },
  signaling: { type: 'string', setting: 'signaling.url', value: 'URL', help: 'the signaling server to join' },
  'host-id': { type: 'string', setting: 'renderHost.hostId', value: 'ID', help: "this render host's id" },
  price: { type: 'string', setting: 'renderHost.priceWeiPerSec', value: 'WEI', help: 'price, ATH wei per second' },
  'render-hosts': { type: 'string', setting: 'stack.renderHosts', value: 'N', help: 'render hosts `all` runs' },
  redis: { type: 'string', setting: 'signaling.redisUrl', value: 'URL', help: 'share signaling state through Redis' },
  'signaling-instances': {
    type: 'string',
    setting: 'stack.signalingInstances',
    value: 'N',
    help: 'signaling servers `all` runs (>1: behind Redis)',
  },
  network: {
    type: 'string',
    setting: 'chain.network',
    value: 'NAME',
    help: 'none | anvil | arbitrum-sepolia | arbitrum-one',
  },
  'rpc-url': { type: 'string', setting: 'chain.rpcUrl', value: 'URL', help: "the chain's JSON-RPC endpoint" },
  'anvil-host': {
    type: 'string',
    setting: 'chain.anvilHost',
    value: 'HOST',
    help: 'address the embedded anvil listens on (default 127.0.0.1)',
  },
  'log-level': {
    type: 'string',
    setting: 'logLevel',
    value: 'LEVEL',
    help: 'fatal|error|warn|info|debug|trace|silent',
  },
  'data-dir': {
    type: 'string',
    setting: 'dataDir',
    value: 'DIR',
    help: 'keys, logs, embedded ledger (default .ath-edge)',
  },
  tls: { type: 'boolean', setting: 'tls.selfSigned', help: 'https/wss with a self-signed pair made in DATA_DIR/tls' },
  'tls-cert': {
    type: 'string',
    setting: 'tls.certFile',
    value: 'FILE',
    help: 'PEM certificate chain: serve https/wss',
  },
  'tls-key': { type: 'string', setting: 'tls.keyFile', value: 'FILE', help: 'the PEM private key of --tls-cert' },
  'tls-ca': {
    type: 'string',
    setting: 'tls.caFile',
    value: 'FILE',
    help: 'trust this PEM certificate (private CA, self-signed) joining signaling',
  },
} as const satisfies Record<string, ConfigFlagSpec>;

/** `--config` and `--set`, the two configuration flags that are not shorthands for one setting. */
export const CONFIG_FILE_FLAGS = {
  config: { type: 'string', value: 'FILE', help: 'a JSON config file (env ATH_EDGE_CONFIG)' },
  set: { type: 'string', value: 'PATH=VALUE', multiple: true, help: 'any setting, e.g. --set renderHost.slots=4' },
} as const satisfies FlagTable;

const SHORTHANDS: Readonly<Record<string, ConfigFlagSpec>> = CONFIG_FLAGS;

/** One option token of `parseArgs({ tokens: true })`. */
export type OptionToken = { kind: 'option'; name: string; rawName: string; value: string | undefined };

/**
 * The configuration flags' settings in command-line order (a later one wins), ready for `loadEdgeConfig`.
 * A malformed `--set` is a usage error (ATH_ERR_USAGE).
 */
export function configSettingsFrom(tokens: readonly OptionToken[]): ConfigSetting[] {
  const settings: ConfigSetting[] = [];
  for (const token of tokens) {
    const shorthand = SHORTHANDS[token.name];
    if (shorthand?.type === 'boolean') {
      settings.push({ path: shorthand.setting, value: 'true', source: token.rawName });
      continue;
    }
    if (token.value === undefined) continue;
    if (token.name === 'set') {
      const eq = token.value.indexOf('=');
      if (eq <= 0) {
        throw new AthError({
          code: EdgeErrorCode.usage,
          shortMessage: `--set takes PATH=VALUE, got \`${token.value}\``,
        });
      }
      settings.push({ path: token.value.slice(0, eq), value: token.value.slice(eq + 1), source: '--set' });
      continue;
    }
    if (shorthand) settings.push({ path: shorthand.setting, value: token.value, source: token.rawName });
  }
  return settings;
}
