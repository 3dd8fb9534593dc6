/**
 * RTT pings on a checker's probe stream. A probe is a player's session to the host, so a checker measures the
 * path players get: it pings on the same `input` data channel with the same 13-byte binary ping the player's
 * page uses (PingInput / PongInput of the input format), and the render host echoes it:
 *
 *   byte 0      kind: 16 = ping (checker → host), 17 = pong (host → checker)
 *   bytes 1..4  u32 LE id, chosen by the pinger
 *   bytes 5..12 f64 LE sentAtMs, the pinger's own clock; echoed
 *
 * A checker does not trust the echoed time (a host could forge it to look closer): it picks unpredictable ids
 * and measures RTT from its own record of when it sent each id.
 *
 * One format, one decoder: these helpers only name the probe's use of it.
 */
import { AthError } from './AthError.js';
import { decodeInput, PingInput, PongInput } from './input/inputMessages.js';

/** The data channel (label) a checker pings on: the ordered, reliable `input` channel. */
export const PROBE_PING_CHANNEL = 'input';

/** Size of a ping and of a pong, in bytes. */
export const PROBE_PING_BYTES = PingInput.size;

export type ProbePing = { id: number; sentAtMs: number };

export function encodeProbePing(id: number, sentAtMs: number): Uint8Array {
  return new PingInput(id >>> 0, sentAtMs).serialize();
}

export function encodeProbePong(id: number, sentAtMs: number): Uint8Array {
  return new PongInput(id >>> 0, sentAtMs).serialize();
}

/** The pong in `bytes`, or undefined when they are anything else (a malformed or foreign message). */
export function decodeProbePong(bytes: Uint8Array): ProbePing | undefined {
  try {
    const message = decodeInput(bytes);
    return message instanceof PongInput ? { id: message.id, sentAtMs: message.sentAtMs } : undefined;
  } catch (error) {
    if (error instanceof AthError) return undefined;
    throw error;
  }
}

/** The ping in `bytes`, or undefined (the host's side; the session pipeline answers pings the same way). */
export function decodeProbePing(bytes: Uint8Array): ProbePing | undefined {
  try {
    const message = decodeInput(bytes);
    return message instanceof PingInput ? { id: message.id, sentAtMs: message.sentAtMs } : undefined;
  } catch (error) {
    if (error instanceof AthError) return undefined;
    throw error;
  }
}
