/**
 * `npm run bench:metering` — how fast vouchers are signed and verified on one core, and what settling them
 * costs on a real EVM (anvil): one redeem, and per session in batches of 10 and 50 first vouchers, each
 * session from a different player (cold storage everywhere: the worst case), 5 providers per batch; then, for
 * the same 50 sessions, a batch of later vouchers (registered: the stored authorization tag binds them, no
 * signature) and a batch of final vouchers (which also close the session and release the rest of its cap).
 * The last line printed is one JSON object.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { type Account, bytesToHex, type Hex, hexToBytes } from 'viem';
import { machineInfo, round } from '../../signaling/bench/machine.js';
import { SignatureVerifier, signDigest, typedDigests } from '../../signaling/crypto/fastTypedData.js';
import { type SessionAuth, sessionEscrowDomain, type Usage } from '../../signaling/protocol/index.js';
import { sessionEscrowAbi } from '../chain/abis.js';
import { packRedemptions, type Redemption, toRedemption } from '../chain/redemption.js';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import { createVoucherSigner } from './signVoucher.js';

const ATH = 10n ** 18n;
const progress = (line: string) => process.stderr.write(`bench:metering ${line}\n`);

function throughput(count: number, run: (i: number) => void): number {
  const started = performance.now();
  for (let i = 0; i < count; i++) run(i);
  return count / ((performance.now() - started) / 1000);
}

// ---- signing and verifying (in-process, one core) --------------------------------------------------------
const meterKey: Hex = `0x${randomBytes(32).toString('hex')}`;
const domain = sessionEscrowDomain({ chainId: 31337, verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });
const signer = createVoucherSigner({ privateKey: meterKey, domain });
const N = 5_000;
const usages: Usage[] = Array.from({ length: N }, (_, i) => ({
  sessionId: `0x${randomBytes(32).toString('hex')}`,
  authHash: `0x${randomBytes(32).toString('hex')}`,
  cumulativeAmount: BigInt(i + 1) * 277_777_777_777_777n * 5n,
  deliveredSeconds: BigInt((i + 1) * 5),
}));
progress(`signing and verifying ${N} distinct vouchers`);
signer.sign(usages[0] as Usage); // warm the WASM module
const signatures: Hex[] = [];
const vouchersSignedPerSec = throughput(N, (i) => signatures.push(signer.sign(usages[i] as Usage)));
const digests = typedDigests(domain);
const verifier = new SignatureVerifier();
const { privateKeyToAccount } = await import('viem/accounts');
const meterAddress = privateKeyToAccount(meterKey).address;
let verified = 0;
const vouchersVerifiedPerSec = throughput(N, (i) => {
  if (verifier.verify(meterAddress, digests.usage(usages[i] as Usage), signatures[i] as Hex)) verified++;
});
if (verified !== N) throw new Error(`only ${verified} of ${N} vouchers verified`);

// ---- gas on anvil --------------------------------------------------------------------------------------
progress('starting anvil and deploying');
const chain: TestChain = await startTestChain();
const escrowDomain = sessionEscrowDomain({ chainId: chain.anvil.chainId, verifyingContract: chain.escrowAddress });
const escrowDigests = typedDigests(escrowDomain);

async function fundedPlayers(count: number): Promise<Array<Account & { privateKey: Hex }>> {
  const players = [];
  for (let i = 0; i < count; i++) {
    const player = await chain.newDepositedAccount(20n * ATH);
    players.push(player);
  }
  return players;
}

type Signed = {
  auth: SessionAuth;
  authSignature: Hex;
  usage: Usage;
  usageSignature: Hex;
  redemption: Redemption;
  registered?: boolean;
  close?: boolean;
};

async function redemptions(players: Array<Account & { privateKey: Hex }>, providers: Hex[]): Promise<Signed[]> {
  const expiry = (await chain.publicClient.getBlock()).timestamp + 3600n;
  const meterPrivateKey = chain.meter.getHdKey().privateKey;
  if (!meterPrivateKey) throw new Error('meter key');
  return players.map((player, i) => {
    const auth: SessionAuth = {
      sessionId: `0x${randomBytes(32).toString('hex')}`,
      player: player.address,
      provider: providers[i % providers.length] as Hex,
      maxAmount: 5n * ATH,
      pricePerSecond: ATH / 1000n,
      expiry,
    };
    const usage: Usage = {
      sessionId: auth.sessionId,
      authHash: bytesToHex(escrowDigests.sessionAuth(auth)),
      cumulativeAmount: (ATH / 1000n) * 300n,
      deliveredSeconds: 300n,
    };
    const authSignature = signDigest(hexToBytes(player.privateKey), escrowDigests.sessionAuth(auth));
    const usageSignature = signDigest(meterPrivateKey, escrowDigests.usage(usage));
    return {
      auth,
      authSignature,
      usage,
      usageSignature,
      redemption: toRedemption({ auth, authSignature, usage, usageSignature, submittedByMeter: true }),
    };
  });
}

/** The next voucher of each (registered) session, 300 s later; `close` makes it the session's final one. */
function nextVouchers(items: Signed[], close: boolean): Signed[] {
  const meterPrivateKey = chain.meter.getHdKey().privateKey;
  if (!meterPrivateKey) throw new Error('meter key');
  return items.map((item) => {
    const usage: Usage = {
      ...item.usage,
      cumulativeAmount: item.usage.cumulativeAmount + (ATH / 1000n) * 300n,
      deliveredSeconds: item.usage.deliveredSeconds + 300n,
    };
    const usageSignature = signDigest(meterPrivateKey, escrowDigests.usage(usage));
    return {
      ...item,
      usage,
      usageSignature,
      registered: true,
      close,
      redemption: toRedemption({ ...item, usage, usageSignature, close, submittedByMeter: true }),
    };
  });
}

/** Gas of settling these: `redeem` for one, the meter's packed batch for many. */
async function gasOf(items: Signed[]): Promise<bigint> {
  const wallet = chain.walletFor(chain.meter);
  const hash =
    items.length === 1
      ? await wallet.writeContract({
          address: chain.escrowAddress,
          abi: sessionEscrowAbi,
          functionName: 'redeem',
          args: [(items[0] as Signed).redemption],
        })
      : await wallet.writeContract({
          address: chain.escrowAddress,
          abi: sessionEscrowAbi,
          functionName: 'redeemPacked',
          args: [packRedemptions(items)],
        });
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new Error('redeem reverted');
  return receipt.gasUsed;
}

try {
  const providers = await Promise.all(
    Array.from({ length: 5 }, async () => (await chain.newFundedAccount(0n)).address),
  );
  progress('funding 61 players');
  const players = await fundedPlayers(61);
  const gasRedeemSingle = await gasOf(await redemptions(players.slice(0, 1), providers));
  const gasBatch10 = await gasOf(await redemptions(players.slice(1, 11), providers));
  const first50 = await redemptions(players.slice(11, 61), providers);
  const gasBatch50 = await gasOf(first50);
  const later50 = nextVouchers(first50, false);
  const gasBatch50Later = await gasOf(later50);
  const gasBatch50Final = await gasOf(nextVouchers(later50, true));
  console.log(
    JSON.stringify({
      bench: 'metering',
      vouchersSignedPerSec: round(vouchersSignedPerSec, 0),
      vouchersVerifiedPerSec: round(vouchersVerifiedPerSec, 0),
      gasRedeemSingle: Number(gasRedeemSingle),
      gasPerSessionBatch10: Math.round(Number(gasBatch10) / 10),
      gasPerSessionBatch50: Math.round(Number(gasBatch50) / 50),
      gasPerSessionBatch50Later: Math.round(Number(gasBatch50Later) / 50),
      gasPerSessionBatch50Final: Math.round(Number(gasBatch50Final) / 50),
      gasPerSessionBatch50Target: 40_000,
      machine: machineInfo(),
      /** The signing/verifying rates are CPU-bound: on a shared box, read them with the load they ran under. */
      loadAvg: loadavg().map((l) => round(l, 2)),
    }),
  );
} finally {
  await chain.close();
}
process.exit(0);
