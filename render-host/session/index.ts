// The per-session media pipeline of a render host: one worker thread per session (game, encoders, WebRTC).
export type { MediaSource, SourceVideoFrame } from './MediaSource.js';
export { SessionWorkerPool, type SessionWorkerPoolParameters } from './SessionWorkerPool.js';
export { StreamSession, type StreamSessionEvents, type StreamSessionParameters } from './StreamSession.js';
export { NO_TEST_HOOKS, TestHookSwitch, type TestHooks, TestHooksSchema } from './TestHooks.js';
export {
  type AudioCounters,
  type ConnectStreamReceiverParameters,
  type DecodedVideoFrame,
  type ReceivedVideoFrame,
  StreamReceiver,
  type StreamReceiverEvents,
  type VideoCounters,
} from './testing/receiveStream.js';
export {
  type DetectH264EncoderReturnType,
  detectH264Encoder,
  type EncoderPreference,
  type VideoEncoderName,
} from './VideoEncoder.js';
export {
  CANDIDATE_KINDS,
  type CandidateKind,
  type IceOptions,
  iceServersForWerift,
  STUN_GATHER_TIMEOUT_SEC,
} from './webrtcConfig.js';
export { type EncoderSettings, EncoderSettingsSchema, type StreamStats, StreamStatsSchema } from './workerMessages.js';
