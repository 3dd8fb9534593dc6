// The indexer: signaling (uWebSockets.js), the HTTP API (fastify), host registry, sessions, matchmaking.
export { type AdmissionSettings, DEFAULT_ADMISSION_SETTINGS } from './admission/AdmissionSettings.js';
export { issuePlayerToken, type PlayerTokenClaims, verifyPlayerToken } from './auth/playerTokens.js';
export {
  type CheckSettings,
  DEFAULT_CHECK_SETTINGS,
  type RoundVerdict,
  type SignedCheckReport,
} from './checkers/CheckerDesk.js';
export type { DeliveryContradiction, DeliveryDispute, DeliveryReport } from './hub/HubEvents.js';
export type { PaymentGate, PlayTokenRequest } from './hub/PaymentGate.js';
export type { PeerHandle, PeerIdentity } from './hub/PeerDirectory.js';
export type { SessionRecord } from './hub/SessionRecord.js';
export type { SignalingHub } from './hub/SignalingHub.js';
export type { Sponsorship } from './hub/Sponsorship.js';
export {
  DEFAULT_ICE_SETTINGS,
  type IceSettings,
  type IssueIceServersParameters,
  issueIceServers,
} from './ice/issueIceServers.js';
export {
  type IssueTurnCredentialsParameters,
  issueTurnCredentials,
  type TurnCredentials,
  turnCredential,
} from './ice/turnCredentials.js';
export { DEFAULT_SIGNALING_SETTINGS, type SignalingSettings } from './SignalingSettings.js';
export {
  type SignalingServer,
  type StartSignalingParameters,
  startSignaling,
  type WsTransport,
  type WsTransportSetting,
} from './startSignaling.js';
export type { HostRecord, SlotRecord } from './store/HostRegistry.js';
export { RedisSignalingStore } from './store/redis/RedisSignalingStore.js';
export { type RedisServer, startRedisServer } from './store/redis/startRedisServer.js';
export type { SignalingStore } from './store/SignalingStore.js';
export {
  type CreateSelfSignedCertificateParameters,
  createSelfSignedCertificate,
  type SelfSignedCertificate,
} from './tls/createSelfSignedCertificate.js';
export { readTlsFiles, type TlsFiles, tlsServerOptions } from './tls/tlsServerFactory.js';
export { type DrainStore, MemoryDrainStore, type ProviderDrain } from './trust/DrainStore.js';
export type { StakeGate, StakePosition } from './trust/StakeGate.js';
export { DEFAULT_STAKE_SETTINGS, type StakeSettings } from './trust/stakePolicy.js';
export { loadUws, UWS_BUILDS, type UwsLoad } from './ws/loadUws.js';
