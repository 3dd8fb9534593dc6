import { readFileSync } from 'node:fs';
import { type TSchema, TypeGuard } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { AthError } from '../../signaling/protocol/index.js';
import { DEFAULT_EDGE_CONFIG, type EdgeConfig, EdgeConfigSchema } from './EdgeConfig.js';

export type LoadEdgeConfigParameters = {
  /** Flags after the command: `--config FILE`, `--set a.b=v`, and the shorthands below. */
  flags?: readonly string[];
  env?: Readonly<Record<string, string | undefined>>;
};

const SHORTHAND_FLAGS: Record<string, string> = {
  '--port': 'signaling.httpPort',
  '--slots': 'renderHost.slots',
  '--log-level': 'logLevel',
  '--data-dir': 'dataDir',
  '--signaling': 'signaling.url',
  '--host-id': 'renderHost.hostId',
  '--price': 'renderHost.priceWeiPerSec',
  '--render-hosts': 'stack.renderHosts',
  '--network': 'chain.network',
  '--rpc-url': 'chain.rpcUrl',
};

/** Env vars: `ATH_EDGE_SIGNALING__HTTP_PORT=9000` sets signaling.httpPort; plus the conventional ones below. */
const CONVENTIONAL_ENV: Record<string, string> = {
  ATH_EDGE_LOG_LEVEL: 'logLevel',
  DATABASE_URL: 'ledger.databaseUrl',
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function configError(shortMessage: string, details?: string): AthError {
  return new AthError({ code: 'ATH_ERR_CONFIG', shortMessage, details });
}

function camel(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The sub-schema at a dotted path, to coerce a string from env or flags to the right JSON type. */
function schemaAt(path: string[]): TSchema | undefined {
  let schema: TSchema | undefined = EdgeConfigSchema;
  for (const key of path) {
    schema = schema && TypeGuard.IsObject(schema) ? schema.properties[key] : undefined;
  }
  return schema;
}

function coerce(path: string[], raw: string): Json {
  const schema = schemaAt(path);
  if (!schema) throw configError('unknown setting', path.join('.'));
  const isString =
    TypeGuard.IsString(schema) ||
    (TypeGuard.IsUnion(schema) && schema.anyOf.every((s) => TypeGuard.IsLiteralString(s)));
  if (isString) return raw;
  // A union of a word and something else (`renderHost.apps`: `auto` or a list): the word as it is.
  if (TypeGuard.IsUnion(schema) && schema.anyOf.some((s) => TypeGuard.IsLiteralString(s) && s.const === raw)) {
    return raw;
  }
  try {
    return JSON.parse(raw) as Json;
  } catch {
    throw configError(`\`${path.join('.')}\` expects JSON (a number, true/false, an object)`, raw);
  }
}

function setPath(target: JsonObject, path: string[], value: Json): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as JsonObject;
  }
  const last = path.at(-1);
  if (last) node[last] = value;
}

function deepMerge(base: JsonObject, over: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] =
      typeof value === 'object' &&
      value &&
      !Array.isArray(value) &&
      typeof current === 'object' &&
      current &&
      !Array.isArray(current)
        ? deepMerge(current, value)
        : value;
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Parses the node's configuration; throws `ATH_ERR_CONFIG` saying which setting is wrong and why. */
export function loadEdgeConfig({ flags = [], env = {} }: LoadEdgeConfigParameters = {}): EdgeConfig {
  const layers: JsonObject[] = [];
  const configFile = flagValue(flags, '--config') ?? env.ATH_EDGE_CONFIG;
  if (configFile) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(configFile, 'utf8'));
    } catch (cause) {
      throw new AthError({ code: 'ATH_ERR_CONFIG', shortMessage: `cannot read config file ${configFile}`, cause });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw configError('config file must hold a JSON object', configFile);
    }
    layers.push(parsed as JsonObject);
  }

  const fromEnv: JsonObject = {};
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined) continue;
    const conventional = CONVENTIONAL_ENV[name];
    if (conventional) {
      setPath(fromEnv, conventional.split('.'), coerce(conventional.split('.'), raw));
    } else if (name.startsWith('ATH_EDGE_') && name !== 'ATH_EDGE_CONFIG' && name.includes('__')) {
      const path = name.slice('ATH_EDGE_'.length).split('__').map(camel);
      setPath(fromEnv, path, coerce(path, raw));
    }
  }
  layers.push(fromEnv);

  const fromFlags: JsonObject = {};
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i] ?? '';
    const [name, inline] =
      flag.includes('=') && flag.startsWith('--')
        ? [flag.slice(0, flag.indexOf('=')), flag.slice(flag.indexOf('=') + 1)]
        : [flag, undefined];
    const value = () => inline ?? flags[++i] ?? '';
    if (name === '--config') {
      value();
    } else if (name === '--set') {
      const assignment = value();
      const eq = assignment.indexOf('=');
      if (eq <= 0) throw configError('`--set` takes path=value', assignment);
      const path = assignment.slice(0, eq).split('.');
      setPath(fromFlags, path, coerce(path, assignment.slice(eq + 1)));
    } else if (SHORTHAND_FLAGS[name]) {
      const path = SHORTHAND_FLAGS[name].split('.');
      setPath(fromFlags, path, coerce(path, value()));
    } else {
      throw configError(`unknown flag ${name}`, `known: --config, --set, ${Object.keys(SHORTHAND_FLAGS).join(', ')}`);
    }
  }
  layers.push(fromFlags);

  const merged = layers.reduce(deepMerge, DEFAULT_EDGE_CONFIG as unknown as JsonObject);
  if (!Value.Check(EdgeConfigSchema, merged)) {
    const first = Value.Errors(EdgeConfigSchema, merged).First();
    throw configError('invalid configuration', first ? `${first.path || '/'}: ${first.message}` : undefined);
  }
  return deepFreeze(merged as EdgeConfig);
}

function flagValue(flags: readonly string[], name: string): string | undefined {
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i] ?? '';
    if (flag === name) return flags[i + 1];
    if (flag.startsWith(`${name}=`)) return flag.slice(name.length + 1);
  }
  return undefined;
}
