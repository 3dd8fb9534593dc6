// The node you run: CLI roles, config, the dev stack; the economy lives in edge/chain, edge/ledger, edge/metering.
export { DEFAULT_EDGE_CONFIG, type EdgeConfig, EdgeConfigSchema } from './config/EdgeConfig.js';
export { type LoadEdgeConfigParameters, loadEdgeConfig } from './config/loadEdgeConfig.js';
export { EdgeErrorCode } from './errors.js';
export { loadOrCreateKey } from './keys/loadOrCreateKey.js';
export { createLogger } from './logging/createLogger.js';
export type { RenderHostInfo } from './roles/runRenderHost.js';
export type { SignalingInfo } from './roles/runSignaling.js';
export { RoleProcess } from './stack/RoleProcess.js';
export { type Stack, type StackProgress, startStack } from './stack/startStack.js';
