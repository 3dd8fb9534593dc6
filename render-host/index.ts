// The render container: slots, one worker per session (game → encoder → WebRTC), probe and metrics endpoint.
export {
  type AppManifest,
  appGameInfo,
  findSessionProcesses,
  type GameSpec,
  horizontalShift,
  knownGameSpecs,
  loadAppCatalogue,
  meanAbsDifference,
  PROVIDER_BASE_PACKAGES,
  ScreenCapture,
  type SetupProviderHostParameters,
  selectServedApps,
  setupProviderHost,
} from './apps/index.js';
export { BUILTIN_GAMES } from './games/index.js';
export {
  type CreateBuiltinSessionDriverParameters,
  createBuiltinSessionDriver,
} from './host/createBuiltinSessionDriver.js';
export type { RenderHost } from './host/RenderHost.js';
export type {
  SessionDriver,
  SessionDriverEvents,
  SessionDriverFactory,
  SessionDriverFactoryParameters,
} from './host/SessionDriver.js';
export {
  type ApplySchedulingPriorityReturnType,
  applySchedulingPriority,
} from './host/schedulingPriority.js';
export { type RenderHostHandle, type StartRenderHostParameters, startRenderHost } from './host/startRenderHost.js';
export {
  CANDIDATE_KINDS,
  type CandidateKind,
  detectH264Encoder,
  type EncoderSettings,
  type IceOptions,
  iceServersForWerift,
  SessionWorkerPool,
  STUN_GATHER_TIMEOUT_SEC,
  StreamReceiver,
  StreamSession,
  type StreamStats,
  TestHookSwitch,
  type TestHooks,
  TestHooksSchema,
} from './session/index.js';
