import { mnemonicToAccount } from 'viem/accounts';

/** anvil's well-known development mnemonic: its accounts are funded with ETH on every anvil. Local only. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';

export function anvilAccount(index: number) {
  return mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: index });
}

/** Which dev account plays which part on the embedded chain (`checkerPool` is the rewards pool and pays rewards). */
export const DEV_ACCOUNT = { admin: 0, meter: 1, treasury: 2, checkerPool: 3, faucet: 4, slasher: 5 } as const;
