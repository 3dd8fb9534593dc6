/**
 * One TURN Allocate exchange with a real server (RFC 8656 long-term credentials), for tests: the request without
 * credentials (the server answers 401 with its realm and nonce), then with USERNAME, REALM, NONCE and
 * MESSAGE-INTEGRITY. It returns what the server answered at once — the relayed address, or the error code
 * (401 for credentials it refuses) — where a WebRTC agent would retry a refused allocation for seconds before
 * giving up without saying why. A granted allocation is released (Refresh, lifetime 0) before it returns.
 * Messages are built and parsed with werift's STUN codec; over TCP, STUN messages are framed by their own length.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { classes, Message, makeIntegrityKey, methods, parseMessage } from 'werift';
import { AthError } from '../../protocol/index.js';

export type TurnAllocateParameters = {
  host: string;
  port: number;
  transport: 'udp' | 'tcp';
  username: string;
  credential: string;
  /** Per answer (default 3 s): a server that does not answer at all is an error, not a refusal. */
  timeoutMs?: number;
};

export type TurnAllocateReturnType =
  | { granted: true; relayed: [string, number] }
  | { granted: false; errorCode: number; reason: string };

/** REQUESTED-TRANSPORT: UDP (17) in the attribute's first byte. */
const REQUESTED_TRANSPORT_UDP = 0x11000000;
const STUN_HEADER_BYTES = 20;

type Exchange = { ask(message: Message): Promise<Message>; close(): void };

function udpExchange(host: string, port: number, timeoutMs: number): Exchange {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  return {
    ask: (message) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          socket.off('message', onMessage);
          reject(new AthError({ code: 'ATH_ERR_TEST_TURN', shortMessage: `no answer over UDP from ${host}:${port}` }));
        }, timeoutMs);
        const onMessage = (data: Buffer) => {
          const answer = parseMessage(data);
          if (!answer?.transactionId.equals(message.transactionId)) return;
          clearTimeout(timer);
          socket.off('message', onMessage);
          resolve(answer);
        };
        socket.on('message', onMessage);
        socket.send(message.bytes, port, host);
      }),
    close: () => socket.close(),
  };
}

async function tcpExchange(host: string, port: number, timeoutMs: number): Promise<Exchange> {
  const socket = connect({ host, port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buffered = Buffer.alloc(0);
  const waiting: Array<(message: Message) => void> = [];
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= STUN_HEADER_BYTES) {
      const length = STUN_HEADER_BYTES + buffered.readUInt16BE(2);
      if (buffered.length < length) break;
      const answer = parseMessage(buffered.subarray(0, length));
      buffered = buffered.subarray(length);
      if (answer) waiting.shift()?.(answer);
    }
  });
  socket.on('error', () => undefined);
  return {
    ask: (message) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new AthError({ code: 'ATH_ERR_TEST_TURN', shortMessage: `no answer over TCP from ${host}:${port}` }),
            ),
          timeoutMs,
        );
        waiting.push((answer) => {
          clearTimeout(timer);
          resolve(answer);
        });
        socket.write(message.bytes);
      }),
    close: () => socket.destroy(),
  };
}

function errorOf(answer: Message): { errorCode: number; reason: string } {
  const [errorCode, reason] = (answer.getAttributeValue('ERROR-CODE') ?? [0, '']) as [number, string];
  return { errorCode, reason };
}

/** Asks the server for a relayed UDP address with these credentials: granted, or refused with its error code. */
export async function turnAllocate({
  host,
  port,
  transport,
  username,
  credential,
  timeoutMs = 3_000,
}: TurnAllocateParameters): Promise<TurnAllocateReturnType> {
  const exchange = transport === 'udp' ? udpExchange(host, port, timeoutMs) : await tcpExchange(host, port, timeoutMs);
  try {
    const challenge = await exchange.ask(
      new Message(methods.ALLOCATE, classes.REQUEST).setAttribute('REQUESTED-TRANSPORT', REQUESTED_TRANSPORT_UDP),
    );
    const realm = challenge.getAttributeValue('REALM') as string | undefined;
    const nonce = challenge.getAttributeValue('NONCE') as Buffer | undefined;
    if (challenge.messageClass !== classes.ERROR || !realm || !nonce) {
      throw new AthError({
        code: 'ATH_ERR_TEST_TURN',
        shortMessage: 'the server did not challenge an unauthenticated Allocate',
        details: JSON.stringify(challenge.json),
      });
    }
    const key = makeIntegrityKey(username, realm, credential);
    const signed = (method: methods) =>
      new Message(method, classes.REQUEST)
        .setAttribute('USERNAME', username)
        .setAttribute('REALM', realm)
        .setAttribute('NONCE', nonce);
    const answer = await exchange.ask(
      signed(methods.ALLOCATE).setAttribute('REQUESTED-TRANSPORT', REQUESTED_TRANSPORT_UDP).addMessageIntegrity(key),
    );
    if (answer.messageClass !== classes.RESPONSE) return { granted: false, ...errorOf(answer) };
    const relayed = answer.getAttributeValue('XOR-RELAYED-ADDRESS') as [string, number];
    await exchange.ask(signed(methods.REFRESH).setAttribute('LIFETIME', 0).addMessageIntegrity(key));
    return { granted: true, relayed };
  } finally {
    exchange.close();
  }
}
