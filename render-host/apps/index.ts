// External games as render-host workloads: catalogue (manifests), per-session isolation (Xvfb, PulseAudio,
// HOME, process group), capture (x11grab, null-sink monitor), input (xdotool), lifecycle, provider setup.
export {
  type AppManifest,
  AppManifestSchema,
  appGameInfo,
  type GamepadMap,
  parseAppManifest,
  type Readiness,
} from './AppManifest.js';
export { AppSession, type AppSessionEvents, type StartAppSessionParameters } from './AppSession.js';
export {
  AppWorkload,
  type AppWorkloadEvents,
  DEFAULT_APP_WORK_ROOT,
  DEFAULT_KILL_GRACE_MS,
  type GameExit,
  type StartAppWorkloadParameters,
} from './AppWorkload.js';
export { BUILTIN_APP_MANIFESTS } from './builtinApps.js';
export { type CaptureSourceSpec, CaptureSourceSpecSchema, parseCaptureSourceSpec } from './CaptureSourceSpec.js';
export {
  type AppAvailability,
  type CheckAppAvailabilityParameters,
  checkAppAvailability,
  resolveExecutable,
} from './checkAppAvailability.js';
export { AppsErrorCode } from './errors.js';
export {
  type FrameView,
  type HorizontalShiftParameters,
  type HorizontalShiftReturnType,
  horizontalShift,
  litFraction,
  meanAbsDifference,
} from './frameMetrics.js';
export { type GameSpec, knownGameSpecs } from './knownGameSpecs.js';
export { findAppManifest, type LoadAppCatalogueParameters, loadAppCatalogue } from './loadAppCatalogue.js';
export {
  DEFAULT_DISPLAY_RANGE,
  type DisplayRange,
  findSessionProcesses,
  type ReapStaleAppSessionsParameters,
  type ReapStaleAppSessionsReturnType,
  reapStaleAppSessions,
  SESSION_MARKER_ENV,
  type SessionProcess,
} from './reapStaleAppSessions.js';
export { type OpenScreenCaptureParameters, ScreenCapture, type ScreenCaptureStats } from './ScreenCapture.js';
export { type SelectServedAppsParameters, selectServedApps } from './selectServedApps.js';
export {
  PROVIDER_BASE_PACKAGES,
  type SetupProviderHostParameters,
  type SetupProviderHostReturnType,
  setupProviderHost,
} from './setupProviderHost.js';
export { type OpenX11MediaSourceParameters, X11MediaSource, type X11MediaSourceStats } from './X11MediaSource.js';
