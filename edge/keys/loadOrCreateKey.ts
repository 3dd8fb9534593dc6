import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Hex } from 'viem';
import { generatePrivateKey } from 'viem/accounts';
import { AthError } from '../../signaling/protocol/index.js';

/**
 * A private key kept in a file readable only by its owner: created on first use, the same ever after.
 * Used for provider, checker and meter keys when the config does not give one.
 */
export function loadOrCreateKey(path: string): Hex {
  if (existsSync(path)) {
    const key = readFileSync(path, 'utf8').trim();
    if (!/^0x[0-9a-fA-F]{64}$/.test(key)) {
      throw new AthError({
        code: 'ATH_ERR_CONFIG',
        shortMessage: 'key file does not hold a 32-byte hex key',
        details: path,
      });
    }
    return key as Hex;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const key = generatePrivateKey();
  writeFileSync(path, `${key}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return key;
}
