/**
 * `ath-edge deploy` against a local anvil, through the real CLI in a child process: the printed configuration
 * names contracts that exist on the chain and are wired to the token, the meter and the roles it says.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Address, getAddress } from 'viem';
import { nodeEntry } from '../stack/nodeEntry.js';
import { sessionEscrowAbi, stakingRegistryAbi } from './abis.js';
import { createChainClients } from './chainClients.js';
import { anvilAccount } from './devAccounts.js';
import { type Anvil, startAnvil } from './startAnvil.js';

const CLI = nodeEntry(import.meta.url, '../cli.ts');
const deployer = anvilAccount(5);

let anvil: Anvil;
let dir: string;
let keyFile: string;

before(async () => {
  anvil = await startAnvil();
  dir = mkdtempSync(join(tmpdir(), 'ath-deploy-'));
  keyFile = join(dir, 'deployer.key');
  writeFileSync(keyFile, `0x${Buffer.from(deployer.getHdKey().privateKey ?? []).toString('hex')}\n`, { mode: 0o600 });
});
after(async () => {
  await anvil?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...CLI.execArgv, CLI.path, ...args],
      { timeout: 120_000, env: { ...process.env, LOG_LEVEL: 'silent' } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

type Printed = { env: Map<string, string>; json: { chain: Record<string, string | number> } };

function parse(stdout: string): Printed {
  const lines = stdout.trim().split('\n');
  const env = new Map<string, string>();
  for (const line of lines) {
    const match = /^(ATH_EDGE_CHAIN__[A-Z_]+)=(.*)$/.exec(line);
    if (match?.[1] && match[2] !== undefined) env.set(match[1], match[2]);
  }
  return { env, json: JSON.parse(lines.at(-1) ?? '') };
}

describe('ath-edge deploy', () => {
  test('--network anvil deploys the token, escrow and staking registry and prints them as config', async () => {
    const slasher = anvilAccount(7).address;
    const run = await cli([
      'deploy',
      '--network',
      'anvil',
      '--rpc',
      anvil.rpcUrl,
      '--key',
      keyFile,
      '--slasher',
      slasher,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const { env, json } = parse(run.stdout);
    assert.equal(env.get('ATH_EDGE_CHAIN__NETWORK'), 'anvil');
    assert.equal(env.get('ATH_EDGE_CHAIN__CHAIN_ID'), String(anvil.chainId));
    assert.equal(env.get('ATH_EDGE_CHAIN__RPC_URL'), anvil.rpcUrl);
    for (const name of ['TOKEN', 'ESCROW', 'STAKING']) {
      assert.equal(env.get(`ATH_EDGE_CHAIN__${name}_ADDRESS`), json.chain[`${name.toLowerCase()}Address`]);
    }
    const token = json.chain.tokenAddress as Address;
    const escrow = json.chain.escrowAddress as Address;
    const staking = json.chain.stakingAddress as Address;
    assert.equal(new Set([token, escrow, staking]).size, 3);

    const { publicClient } = createChainClients({ network: 'anvil', chainId: anvil.chainId, rpcUrl: anvil.rpcUrl });
    for (const address of [token, escrow, staking]) {
      const code = await publicClient.getCode({ address });
      assert.ok(code && code.length > 2, `contract code at ${address}`);
    }
    const read = <T>(address: Address, abi: typeof sessionEscrowAbi | typeof stakingRegistryAbi, name: string) =>
      publicClient.readContract({ address, abi, functionName: name } as never) as Promise<T>;
    assert.equal(getAddress(await read<Address>(escrow, sessionEscrowAbi, 'token')), getAddress(token));
    assert.equal(getAddress(await read<Address>(staking, stakingRegistryAbi, 'token')), getAddress(token));
    // Roles default to the deployer.
    assert.equal(getAddress(await read<Address>(escrow, sessionEscrowAbi, 'meter')), deployer.address);
    assert.equal(getAddress(await read<Address>(escrow, sessionEscrowAbi, 'treasury')), deployer.address);
    assert.equal(await read<number>(escrow, sessionEscrowAbi, 'feeBps'), 2000);
    // The slasher is its own key; the rewards pool (the escrow's checker share) holds the rewards role.
    const hasRole = async (role: 'SLASHER_ROLE' | 'REWARDS_ROLE', who: Address) =>
      publicClient.readContract({
        address: staking,
        abi: stakingRegistryAbi,
        functionName: 'hasRole',
        args: [await read<`0x${string}`>(staking, stakingRegistryAbi, role), who],
      });
    assert.equal(await hasRole('SLASHER_ROLE', slasher), true);
    assert.equal(await hasRole('SLASHER_ROLE', deployer.address), false, 'the meter (the deployer here) cannot slash');
    assert.equal(await hasRole('REWARDS_ROLE', deployer.address), true, 'the checker pool (the deployer) pays rewards');
    assert.match(run.stdout, new RegExp(`the slasher is ${slasher}`));

    // --token: an existing ATH is used, no new token deployed (as on Arbitrum).
    const meter = anvilAccount(6).address;
    const again = await cli([
      'deploy',
      '--network=anvil',
      `--rpc=${anvil.rpcUrl}`,
      `--key=${keyFile}`,
      '--token',
      token,
      '--meter',
      meter,
    ]);
    assert.equal(again.code, 0, again.stderr);
    const second = parse(again.stdout).json.chain;
    assert.equal(second.tokenAddress, token);
    assert.notEqual(second.escrowAddress, escrow);
    assert.equal(getAddress(await read<Address>(second.escrowAddress as Address, sessionEscrowAbi, 'token')), token);
    assert.equal(getAddress(await read<Address>(second.escrowAddress as Address, sessionEscrowAbi, 'meter')), meter);
  });

  test('refuses what cannot be right: a network that is not this chain, a missing key, no token on Sepolia', async () => {
    const wrongChain = await cli(['deploy', '--network', 'arbitrum-one', '--rpc', anvil.rpcUrl, '--key', keyFile]);
    assert.equal(wrongChain.code, 1);
    assert.match(wrongChain.stderr, /network arbitrum-one is chain 42161, not 31337/);
    const noKey = await cli(['deploy', '--network', 'anvil', '--rpc', anvil.rpcUrl, '--key', join(dir, 'none')]);
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /cannot read the key file/);
    const sepolia = await cli(['deploy', '--network', 'arbitrum-sepolia', '--rpc', anvil.rpcUrl, '--key', keyFile]);
    assert.equal(sepolia.code, 2, 'a usage error: the command line lacks --token');
    assert.match(sepolia.stderr, /--token/);
    // The meter and the slasher default to the deployer: one key must not do both.
    const oneKey = await cli(['deploy', '--network', 'anvil', '--rpc', anvil.rpcUrl, '--key', keyFile]);
    assert.notEqual(oneKey.code, 0);
    assert.match(oneKey.stderr, /slasher must be another key than the meter/);
  });
});
