// The indexer: signaling (uWebSockets.js), the HTTP API (fastify), host registry, sessions, matchmaking.
export { issuePlayerToken, type PlayerTokenClaims, verifyPlayerToken } from './auth/playerTokens.js';
export type { RoundVerdict, SignedCheckReport } from './checkers/CheckerDesk.js';
export type { HostRecord, SlotRecord } from './hub/HostRegistry.js';
export type { PaymentGate, PlayTokenRequest, Sponsorship } from './hub/PaymentGate.js';
export type { DeliveryReport, PeerHandle, PeerIdentity, SessionRecord, SignalingHub } from './hub/SignalingHub.js';
export { DEFAULT_SIGNALING_SETTINGS, type SignalingSettings } from './SignalingSettings.js';
export { type SignalingServer, type StartSignalingParameters, startSignaling } from './startSignaling.js';
export { assertNativeUws } from './ws/startUwsServer.js';
