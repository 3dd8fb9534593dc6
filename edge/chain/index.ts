// The chain: contracts (solc-js build, typed ABIs), the embedded anvil, deployment and viem clients.
export { athTokenAbi, sessionEscrowAbi, stakingRegistryAbi } from './abis.js';
export {
  CONTRACT_NAMES,
  type ContractArtifacts,
  type ContractName,
  compileContracts,
} from './build/compileContracts.js';
export { ChainClock, type ChainClockParameters, EPOCH_SEC, epochOf, epochStartSec } from './ChainClock.js';
export {
  ARBITRUM_ONE_ATH_ADDRESS,
  type ChainClients,
  type ChainSettings,
  chainFor,
  createChainClients,
  type NetworkName,
} from './chainClients.js';
export {
  DEFAULT_MIN_STAKES_WEI,
  type DeployContractsParameters,
  type DeployedContracts,
  deployContracts,
  type SlashParameters,
  tierId,
} from './deployContracts.js';
export { type DepositToEscrowParameters, depositToEscrow } from './depositToEscrow.js';
export { ANVIL_MNEMONIC, anvilAccount, DEV_ACCOUNT } from './devAccounts.js';
export { ChainErrorCode } from './errors.js';
export { gasWithHeadroom } from './gasWithHeadroom.js';
export { type OperatorStake, readOperatorStake, tierName } from './readOperatorStake.js';
export {
  PACKED_HEAD_BYTES,
  PACKED_ITEM_BYTES,
  type PackableItem,
  packable,
  packRedemptions,
  type Redemption,
  type ToRedemptionParameters,
  toRedemption,
  type UsageAmounts,
} from './redemption.js';
export { type Anvil, anvilBinaryPath, type StartAnvilParameters, startAnvil } from './startAnvil.js';
