import { readFileSync } from 'node:fs';
import { type TSchema, TypeGuard } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { AthError } from '../../signaling/protocol/index.js';
import { DEFAULT_EDGE_CONFIG, type EdgeConfig, EdgeConfigSchema } from './EdgeConfig.js';

/** One setting from the command line: `--set renderHost.slots=4`, or a shorthand flag (`edge/cli/configFlags.ts`). */
export type ConfigSetting = {
  /** Dotted EdgeConfig path: `renderHost.slots`. */
  path: string;
  /** As typed; the setting's schema converts it (a number, JSON, a word). */
  value: string;
  /** The flag it came from, for error messages. */
  source: string;
};

export type LoadEdgeConfigParameters = {
  /** A JSON config file (`--config FILE`); ATH_EDGE_CONFIG in `env` when absent. */
  configFile?: string;
  /** Settings from the command line, in order: a later one wins. */
  settings?: readonly ConfigSetting[];
  env?: Readonly<Record<string, string | undefined>>;
};

/** Env vars: `ATH_EDGE_SIGNALING__HTTP_PORT=9000` sets signaling.httpPort; plus the conventional ones below. */
const CONVENTIONAL_ENV: Record<string, string> = {
  ATH_EDGE_LOG_LEVEL: 'logLevel',
  DATABASE_URL: 'ledger.databaseUrl',
  // `npm start --tls`: npm keeps an unknown flag before `--` for itself and hands it to the script as this.
  npm_config_tls: 'tls.selfSigned',
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
export function loadEdgeConfig({
  configFile: fileFlag,
  settings = [],
  env = {},
}: LoadEdgeConfigParameters = {}): EdgeConfig {
  const layers: JsonObject[] = [];
  const configFile = fileFlag ?? env.ATH_EDGE_CONFIG;
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
  for (const { path, value, source } of settings) {
    const keys = path.split('.');
    if (!schemaAt(keys)) throw configError(`unknown setting \`${path}\``, `from ${source}`);
    setPath(fromFlags, keys, coerce(keys, value));
  }
  layers.push(fromFlags);

  const merged = layers.reduce(deepMerge, DEFAULT_EDGE_CONFIG as unknown as JsonObject);
  if (!Value.Check(EdgeConfigSchema, merged)) {
    const first = Value.Errors(EdgeConfigSchema, merged).First();
    throw configError('invalid configuration', first ? `${first.path || '/'}: ${first.message}` : undefined);
  }
  return deepFreeze(merged as EdgeConfig);
}
