/**
 * Compiles the contracts in-process with solc-js and the installed OpenZeppelin sources (no compiler
 * download), caching the output in `.cache/contracts/` keyed by the sources, the compiler and the settings.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Abi, Hex } from 'viem';
import { AthError } from '../../../signaling/protocol/index.js';
import { ChainErrorCode } from '../errors.js';

const require = createRequire(import.meta.url);
const CHAIN_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
const CONTRACTS_DIR = join(CHAIN_DIR, 'contracts');
const REPO_DIR = dirname(dirname(CHAIN_DIR));
const CACHE_DIR = join(REPO_DIR, '.cache', 'contracts');

export const CONTRACT_NAMES = ['AthToken', 'SessionEscrow', 'StakingRegistry', 'TestSmartWallet'] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];
export type ContractArtifact = { abi: Abi; bytecode: Hex };
export type ContractArtifacts = Record<ContractName, ContractArtifact>;

type SolcOutput = {
  errors?: Array<{ severity: string; formattedMessage: string }>;
  contracts: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>;
};

const SETTINGS = {
  optimizer: { enabled: true, runs: 10_000 },
  viaIR: true,
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
} as const;

function sources(): Record<string, { content: string }> {
  const out: Record<string, { content: string }> = {};
  for (const dir of ['', 'testing']) {
    for (const file of readdirSync(join(CONTRACTS_DIR, dir))
      .filter((f) => f.endsWith('.sol'))
      .sort()) {
      out[dir ? `${dir}/${file}` : file] = { content: readFileSync(join(CONTRACTS_DIR, dir, file), 'utf8') };
    }
  }
  return out;
}

function findImport(path: string): { contents: string } | { error: string } {
  try {
    return { contents: readFileSync(require.resolve(path), 'utf8') };
  } catch {
    return { error: `not found: ${path}` };
  }
}

/** The compiled contracts, from the cache when the sources have not changed. */
export function compileContracts(): ContractArtifacts {
  const solc = require('solc') as { version(): string; compile(input: string, options: object): string };
  const input = { language: 'Solidity', sources: sources(), settings: SETTINGS };
  const key = createHash('sha256').update(solc.version()).update(JSON.stringify(input)).digest('hex').slice(0, 16);
  const cacheFile = join(CACHE_DIR, `${key}.json`);
  if (existsSync(cacheFile)) return JSON.parse(readFileSync(cacheFile, 'utf8')) as ContractArtifacts;

  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport })) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) {
    throw new AthError({
      code: ChainErrorCode.compile,
      shortMessage: 'the contracts do not compile',
      details: errors.map((e) => e.formattedMessage).join('\n'),
    });
  }
  const artifacts = {} as ContractArtifacts;
  for (const name of CONTRACT_NAMES) {
    const compiled = output.contracts[`${name}.sol`]?.[name] ?? output.contracts[`testing/${name}.sol`]?.[name];
    if (!compiled) throw new AthError({ code: ChainErrorCode.compile, shortMessage: `no output for ${name}` });
    artifacts[name] = { abi: compiled.abi, bytecode: `0x${compiled.evm.bytecode.object}` };
  }
  mkdirSync(CACHE_DIR, { recursive: true });
  writeFileSync(cacheFile, JSON.stringify(artifacts));
  return artifacts;
}
