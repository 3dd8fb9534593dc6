import type { TObject } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { AthError } from './AthError.js';
import { MAX_MESSAGE_BYTES, PEER_MESSAGES, type PeerMessage, SERVER_MESSAGES, type ServerMessage } from './messages.js';

type Registry = Record<string, TObject>;

function compileRegistry(registry: Registry): Map<string, TypeCheck<TObject>> {
  return new Map(Object.entries(registry).map(([type, schema]) => [type, TypeCompiler.Compile(schema)]));
}

const peerChecks = compileRegistry(PEER_MESSAGES);
const serverChecks = compileRegistry(SERVER_MESSAGES);

/** UTF-16 units for strings (never more than the UTF-8 bytes), bytes otherwise; the transport caps bytes. */
function sizeOf(raw: string | ArrayBuffer | Uint8Array): number {
  return typeof raw === 'string' ? raw.length : raw.byteLength;
}

function decodeText(raw: string | ArrayBuffer | Uint8Array): string {
  if (typeof raw === 'string') return raw;
  return new TextDecoder('utf-8', { fatal: true }).decode(raw);
}

function parseWith(checks: Map<string, TypeCheck<TObject>>, raw: string | ArrayBuffer | Uint8Array): unknown {
  if (sizeOf(raw) > MAX_MESSAGE_BYTES) {
    throw new AthError({
      code: 'ATH_ERR_MESSAGE_TOO_LARGE',
      shortMessage: `message exceeds ${MAX_MESSAGE_BYTES} bytes`,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(decodeText(raw));
  } catch (error) {
    throw new AthError({ code: 'ATH_ERR_BAD_MESSAGE', shortMessage: 'message is not valid UTF-8 JSON', cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AthError({ code: 'ATH_ERR_BAD_MESSAGE', shortMessage: 'message must be a JSON object' });
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') {
    throw new AthError({ code: 'ATH_ERR_BAD_MESSAGE', shortMessage: 'message has no string `type`' });
  }
  const check = checks.get(type);
  if (!check) {
    throw new AthError({
      code: 'ATH_ERR_UNKNOWN_TYPE',
      shortMessage: `unknown message type`,
      details: type.slice(0, 64),
    });
  }
  if (!check.Check(value)) {
    const first = check.Errors(value).First();
    throw new AthError({
      code: 'ATH_ERR_BAD_MESSAGE',
      shortMessage: `invalid \`${type}\` message`,
      details: first ? `${first.path || '/'}: ${first.message}` : undefined,
    });
  }
  return value;
}

/** Validates a frame a peer (player, host, checker) sent to signaling. Throws AthError with a wire code. */
export function parsePeerMessage(raw: string | ArrayBuffer | Uint8Array): PeerMessage {
  return parseWith(peerChecks, raw) as PeerMessage;
}

/** Validates a frame signaling sent to a peer. Throws AthError with a wire code. */
export function parseServerMessage(raw: string | ArrayBuffer | Uint8Array): ServerMessage {
  return parseWith(serverChecks, raw) as ServerMessage;
}

export function encodeMessage(message: PeerMessage | ServerMessage): string {
  return JSON.stringify(message);
}
