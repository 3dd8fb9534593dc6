// The browser client: the SDK, <ath-play> and the pages, bundled by esbuild. Node-side entry: the build.
export { type BuildClientParameters, type BuildClientReturnType, buildClient, CLIENT_DIST_DIR } from './buildClient.js';
export { ClientErrorCode } from './errors.js';
export type { AthPlayerDiagnostics, DiagnosticEvent, PlayerStateName, StatsSample } from './sdk/index.js';
