/** Bumped on every incompatible wire change; exchanged in the first message (`hello` → `welcome`). */
export const PROTOCOL_VERSION = 2;

/** The WebSocket subprotocol every signaling connection must offer (players add `token.<token>`). */
export const WS_SUBPROTOCOL = 'ath-edge.v1';
