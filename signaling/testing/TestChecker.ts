import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import {
  checkerDomain,
  checkerRegistrationMessage,
  checkReportTypes,
  PROTOCOL_VERSION,
  type ServerMessageOf,
} from '../protocol/index.js';
import { TestRefusal, type TestSignaling } from './startTestSignaling.js';
import { TestPeer } from './TestPeer.js';

export type TestChecker = { peer: TestPeer; account: PrivateKeyAccount };

export type TestCheckerOptions = {
  /** The checker key; a fresh one staked in the `checker` tier on the server's chain when absent. */
  privateKey?: `0x${string}`;
  /** `false`: a fresh key left unstaked. */
  stake?: boolean;
  localAddress?: string;
};

/** A scripted checker: registers with a real signature over the server's nonce. */
export async function connectTestChecker(
  server: Pick<TestSignaling, 'wsNodeUrl' | 'chain'>,
  options: TestCheckerOptions = {},
): Promise<TestChecker> {
  const privateKey =
    options.privateKey ??
    (options.stake !== false ? (await server.chain.newStakedAccount('checker')).privateKey : generatePrivateKey());
  const account = privateKeyToAccount(privateKey);
  const peer = await TestPeer.open(
    server.wsNodeUrl,
    options.localAddress ? { localAddress: options.localAddress } : {},
  );
  peer.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'checker' });
  const { nonce } = await peer.next('welcome');
  peer.send({
    type: 'register-checker',
    checkerAddress: account.address,
    signature: await account.signMessage({ message: checkerRegistrationMessage(account.address, nonce) }),
  });
  const answer = await peer.nextOf(['checker-registered', 'error']);
  if (answer.type === 'error') {
    peer.terminate();
    throw new TestRefusal(answer.code, answer.message);
  }
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
