import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import {
  checkerDomain,
  checkerRegistrationMessage,
  checkReportTypes,
  PROTOCOL_VERSION,
  type ServerMessageOf,
} from '../protocol/index.js';
import type { SignalingServer } from '../startSignaling.js';
import { TestPeer } from './TestPeer.js';

export type TestChecker = { peer: TestPeer; account: PrivateKeyAccount };

/** A scripted checker: registers with a real signature over the server's nonce. */
export async function connectTestChecker(server: SignalingServer): Promise<TestChecker> {
  const account = privateKeyToAccount(generatePrivateKey());
  const peer = await TestPeer.open(server.wsNodeUrl);
  peer.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'checker' });
  const { nonce } = await peer.next('welcome');
  peer.send({
    type: 'register-checker',
    checkerAddress: account.address,
    signature: await account.signMessage({ message: checkerRegistrationMessage(account.address, nonce) }),
  });
  await peer.next('checker-registered');
  return { peer, account };
}

export type SignReportParameters = {
  account: PrivateKeyAccount;
  assignment: ServerMessageOf<'check-assignment'>;
  ok: boolean;
  rttMicros?: number;
  fpsMilli?: number;
  lossPpm?: number;
  domain?: { chainId: number; verifyingContract: `0x${string}` };
  timestampSec?: number;
};

export async function signTestReport({
  account,
  assignment,
  ok,
  rttMicros = 5_000,
  fpsMilli = 60_000,
  lossPpm = 0,
  domain = { chainId: 31337, verifyingContract: '0x0000000000000000000000000000000000000000' },
  timestampSec = Math.floor(Date.now() / 1000),
}: SignReportParameters) {
  const report = {
    container: assignment.container,
    checker: account.address,
    round: assignment.round,
    rttMicros,
    fpsMilli,
    lossPpm,
    ok,
    timestamp: String(timestampSec),
  };
  const signature = await account.signTypedData({
    domain: checkerDomain(domain),
    types: checkReportTypes,
    primaryType: 'CheckReport',
    message: { ...report, checker: account.address, round: BigInt(report.round), timestamp: BigInt(report.timestamp) },
  });
  return { report, signature };
}
