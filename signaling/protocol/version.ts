/** Bumped on every incompatible wire change; exchanged in the first message (`hello` → `welcome`). */
export const PROTOCOL_VERSION = 1;
