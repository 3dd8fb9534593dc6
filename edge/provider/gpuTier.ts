/**
 * The GPU tier a provider stakes in. The StakingRegistry's minimum stake differs per tier, and a machine's
 * tier is what it can render: no NVIDIA GPU → `software`; a data-centre part → `nvidia-datacenter`; any
 * other NVIDIA GPU → `nvidia-consumer`. `--tier` overrides the guess.
 */
import { execFileSync } from 'node:child_process';
import { AthError } from '../../signaling/protocol/index.js';
import { DEFAULT_MIN_STAKES_WEI } from '../chain/index.js';

/** Provider tiers (the registry also has `checker`, which is not a provider's). */
export const PROVIDER_TIERS = Object.keys(DEFAULT_MIN_STAKES_WEI).filter((tier) => tier !== 'checker');

const DATACENTER_GPU = /\b(A100|H100|H200|B100|B200|L4|L40S?|A10G?|A30|A40|T4|V100|A16|A2|RTX A\d{4}|RTX \d{4} Ada)\b/i;

export type DetectedGpu = { tier: string; gpu: string };

/** Asks `nvidia-smi` for the GPU's name; no NVIDIA driver means a software (CPU-encoding) host. */
export function detectGpu(): DetectedGpu {
  let name: string | undefined;
  try {
    name = execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], {
      encoding: 'utf8',
      timeout: 5_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split('\n')[0]
      ?.trim();
  } catch {
    name = undefined;
  }
  if (!name) return { tier: 'software', gpu: 'software (no GPU)' };
  return { tier: DATACENTER_GPU.test(name) ? 'nvidia-datacenter' : 'nvidia-consumer', gpu: name };
}

export function assertProviderTier(tier: string): string {
  if (!PROVIDER_TIERS.includes(tier)) {
    throw new AthError({
      code: 'ATH_ERR_USAGE',
      shortMessage: `unknown GPU tier \`${tier}\``,
      details: `one of: ${PROVIDER_TIERS.join(', ')}`,
    });
  }
  return tier;
}
