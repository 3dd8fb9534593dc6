/**
 * RTT to candidate render hosts, measured on the player's own path before a slot is leased: a WebSocket
 * to each host's probe endpoint (an echo), `samples` round trips one after another, the median kept. Any
 * sample that times out makes the host unreachable (null): a host that cannot answer in time is not one
 * to stream from. All candidates are measured at once, so the whole probe takes about one host's time.
 * Each sample is a fresh random nonce and only its exact echo ends the sample: a host that sends frames before
 * it is asked (to look 0 ms away and win the match) measures its real round trip all the same.
 */
import type { ServerMessageOf } from '../../signaling/protocol/index.js';

export type ProbeResult = { hostId: string; rttMs: number | null };

type SocketLike = {
  binaryType: string;
  readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onclose: ((event: unknown) => void) | null;
  send(data: string): void;
  close(): void;
};

export type ProbeHostsParameters = {
  request: ServerMessageOf<'probe-request'>;
  /** The WebSocket constructor (the browser's by default; tests may pass another). */
  createSocket?: (url: string) => SocketLike;
  now?: () => number;
};

/** 16 random bytes as hex (the browser's and Node's Web Crypto). */
function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function probeOne(
  url: string,
  samples: number,
  timeoutMs: number,
  createSocket: (url: string) => SocketLike,
  now: () => number,
): Promise<number | null> {
  return new Promise((resolve) => {
    let socket: SocketLike;
    try {
      socket = createSocket(url);
    } catch {
      resolve(null);
      return;
    }
    const rtts: number[] = [];
    let sentAt = 0;
    let nonce = '';
    let timer: ReturnType<typeof setTimeout> | undefined;
    let settled = false;
    const finish = (value: number | null) => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
      try {
        socket.close();
      } catch {
        // Already closing: nothing to release.
      }
      resolve(value);
    };
    const arm = () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(() => finish(null), timeoutMs);
    };
    const sendSample = () => {
      nonce = randomNonce();
      sentAt = now();
      socket.send(nonce);
      arm();
    };
    arm(); // the connection itself must come within the timeout too
    socket.onopen = () => sendSample();
    socket.onmessage = (event) => {
      // Anything but the echo of this sample's nonce (early frames, a replayed one) is not an answer.
      if (typeof event.data !== 'string' || event.data !== nonce) return;
      nonce = '';
      rtts.push(now() - sentAt);
      if (rtts.length >= samples) finish(median(rtts));
      else sendSample();
    };
    socket.onerror = () => finish(null);
    socket.onclose = () => finish(null);
  });
}

export async function probeHosts({
  request,
  createSocket = (url) => new WebSocket(url) as unknown as SocketLike,
  now = () => performance.now(),
}: ProbeHostsParameters): Promise<ProbeResult[]> {
  return Promise.all(
    request.candidates.map(async ({ hostId, probeUrl }) => ({
      hostId,
      rttMs: await probeOne(probeUrl, request.samples, request.timeoutMs, createSocket, now),
    })),
  );
}
