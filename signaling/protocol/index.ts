// The wire protocol of ath-edge: every role imports its formats from here and nowhere else.
export { AthError, type AthErrorCode, type AthErrorParameters, isAthError, toAthError } from './AthError.js';
export { type ChainInfo, ChainInfoBody } from './chainInfo.js';
export {
  decodeInput,
  FrameMarkInput,
  GamepadInput,
  InputKind,
  type InputKindValue,
  type InputMessage,
  KeyInput,
  PingInput,
  PointerButtonInput,
  PointerDeltaInput,
  PointerMoveInput,
  PongInput,
  WheelInput,
} from './input/inputMessages.js';
export { KEY_TABLE, keyCodeFromId, keyIdFromCode, x11KeysymFromId } from './input/keyCodes.js';
export { candidateInit, EXTENSION_IDS, H264_FMTP, PLAYOUT_DELAY_URI } from './mediaWire.js';
export {
  Address,
  CheckReportFields,
  Codec,
  type CodecName,
  checkerRegistrationMessage,
  EndReason,
  type EndReasonName,
  GameId,
  GameInfo,
  type GameInfoRecord,
  HostId,
  hostRegistrationMessage,
  IceCandidate,
  type IceCandidateInit,
  MAX_MESSAGE_BYTES,
  MESSAGES_BY_ROLE,
  PaymentTerms,
  type PaymentTermsRecord,
  PEER_MESSAGES,
  type PeerMessage,
  type PeerMessageOf,
  type PeerMessageType,
  type PeerRole,
  Region,
  type RegionInfo,
  SERVER_MESSAGES,
  type ServerMessage,
  type ServerMessageOf,
  type ServerMessageType,
  SessionId,
  SessionState,
  type SessionStateName,
  type SlotStateName,
} from './messages.js';
export {
  ATH_DECIMALS,
  applyBps,
  BPS_DENOMINATOR,
  BpsString,
  WEI_PER_ATH,
  WeiString,
  weiFromString,
  weiToString,
} from './money.js';
export { encodeMessage, parsePeerMessage, parseServerMessage } from './parseMessage.js';
export {
  decodeProbePing,
  decodeProbePong,
  encodeProbePing,
  encodeProbePong,
  PROBE_MAX_DURATION_MS,
  PROBE_PING_BYTES,
  PROBE_PING_CHANNEL,
  PROBE_VIDEO_HEIGHT,
  PROBE_VIDEO_WIDTH,
  type ProbePing,
} from './probePing.js';
export { ProviderHostView, type ProviderStatus, ProviderStatusBody } from './providerStatus.js';
export {
  CHECKER_DOMAIN_NAME,
  type CheckReport,
  checkerDomain,
  checkReportTypes,
  SESSION_ESCROW_DOMAIN_NAME,
  type SessionAuth,
  sessionAuthTypes,
  sessionEscrowDomain,
  TYPED_DATA_VERSION,
  type TypedDataDomainParameters,
  type Usage,
  usageTypes,
} from './typedData.js';
export { PROTOCOL_VERSION, WS_SUBPROTOCOL } from './version.js';
export { isWireErrorCode, WIRE_ERROR_CODES, type WireErrorCode } from './wireErrorCodes.js';
