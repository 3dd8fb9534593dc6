/**
 * The attacks of issue 12 ("Money that holds under attack"), each performed the way a hostile player would —
 * devtools and the public API — against real parts: signaling with the real payment desk, meter and settlement
 * worker, the economy's HTTP API, a PGlite ledger, anvil with the real contracts. After each: the escrow holds
 * exactly what it owes, and Σ settled in the ledger = Σ claimed on chain.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { type Account, type Address, BaseError, ContractFunctionRevertedError, type Hex } from 'viem';
import { createMetrics, SIGNALING_METRICS } from '../../metrics/index.js';
import type { HostRecord, SessionRecord } from '../../signaling/index.js';
import { type SessionAuth, sessionAuthWire, weiToString } from '../../signaling/protocol/index.js';
import { startTestSignaling, type TestSignaling } from '../../signaling/testing/startTestSignaling.js';
import type { TestPeer } from '../../signaling/testing/TestPeer.js';
import { waitUntil } from '../../signaling/testing/waitFor.js';
import { athTokenAbi, sessionEscrowAbi, testSmartWalletAbi } from '../chain/abis.js';
import { compileContracts } from '../chain/build/compileContracts.js';
import { assertEscrowConserved } from '../chain/testing/escrowConservation.js';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import {
  acquireLease,
  endSession,
  getSession,
  journalTotals,
  type Ledger,
  latestVoucher,
  listSettlements,
  openLedger,
  payerCommitmentsWei,
  releaseLease,
  sessionAuthOf,
} from '../ledger/index.js';
import type { Meter, MeterParameters } from '../metering/index.js';
import { leaseTestSession, sessionAuthFor, signTestSessionAuth, testMeter } from '../metering/testing/paidSessions.js';
import { assertLedgerMatchesChain, settlementWorker } from '../settler/testing/settlementWorld.js';
import { economyRoutes, voucherRequestMessage } from './economyRoutes.js';
import { paymentDeskOnTestChain } from './testing/paymentDeskOnTestChain.js';

const PRICE = 10n ** 15n;
const TICK_MS = 5_000;
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const secret = randomBytes(32);

let chain: TestChain;
let ledger: Ledger;
let server: TestSignaling;
let meter: Meter;
let clock = Date.now();
const peers: TestPeer[] = [];
const earners: Address[] = [];
/** Sessions a test makes the escrow refuse for good on purpose. */
const expectedRefusals = new Set<string>();

before(async () => {
  chain = await startTestChain({ withdrawDelaySec: 0n });
  ledger = await openLedger({});
  const payments = paymentDeskOnTestChain({ chain, ledger, log });
  const metrics = createMetrics({ keys: SIGNALING_METRICS });
  server = await startTestSignaling({
    chain,
    tokenSecret: secret,
    heartbeatIntervalMs: 600_000,
    log,
    metrics,
    payments,
    routes: [
      economyRoutes({
        ledger,
        chain: {
          network: 'anvil',
          rpcUrl: chain.anvil.rpcUrl,
          chainId: chain.anvil.chainId,
          tokenAddress: chain.tokenAddress,
          escrowAddress: chain.escrowAddress,
          stakingAddress: chain.stakingAddress,
        },
        publicClient: chain.publicClient,
      }),
    ],
  });
  meter = meterOn(server.hub, { metrics, now: () => clock });
});

after(async () => {
  await meter?.close();
  for (const peer of peers) peer.terminate();
  await server?.close();
  await ledger?.close();
  await chain?.close();
});

// Property 7 after every attack: the escrow holds what it owes; the ledger and the chain agree.
afterEach(async () => {
  await meter.idle();
  await assertEscrowConserved(chain, earners);
  await assertLedgerMatchesChain(chain, ledger);
  const refused = (await listSettlements(ledger, { state: 'failed' }))
    .filter((row) => !expectedRefusals.has(row.sessionId.toLowerCase()))
    .map((row) => [row.sessionId, row.lastError]);
  assert.deepEqual(refused, [], 'no charge the desk accepted is refused by the escrow');
});

function signAuth(account: Account, auth: SessionAuth): Promise<Hex> {
  return signTestSessionAuth(chain, account, auth);
}

type Leased = { sessionId: Hex; host: TestPeer; player: TestPeer; provider: Address; terms: SessionAuth };

/** A player leased a slot: the session and the terms the indexer asks it to sign. */
async function leased({ providerKey }: { providerKey?: Hex } = {}): Promise<Leased> {
  const s = await leaseTestSession({
    server,
    secret,
    name: `atk-${randomBytes(3).toString('hex')}`,
    title: 'Attack test',
    priceWei: PRICE,
    ...(providerKey === undefined ? {} : { privateKey: providerKey }),
  });
  peers.push(s.host, s.player);
  earners.push(s.provider);
  return {
    sessionId: s.sessionId,
    host: s.host,
    player: s.player,
    provider: s.provider,
    terms: sessionAuthFor(s, '0x0000000000000000000000000000000000000000'),
  };
}

/** Sends a SessionAuth (signature as given) and returns the indexer's answer: accepted, or the error code. */
async function sendAuth(s: Leased, auth: SessionAuth, signature: Hex): Promise<'accepted' | string> {
  s.player.send({
    type: 'session-auth',
    sessionId: s.sessionId,
    auth: sessionAuthWire(auth),
    signature,
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const index = s.player.received.findIndex((m) => m.type === 'payment-accepted' || m.type === 'error');
    if (index >= 0) {
      const [answer] = s.player.received.splice(index, 1);
      return answer?.type === 'error' ? answer.code : 'accepted';
    }
    if (Date.now() > deadline) throw new Error('no answer to the SessionAuth');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Both sides report 60 fps for `seconds`, in steps of a tick, and the meter bills it. */
async function play(s: Leased, seconds: number): Promise<void> {
  for (let t = 0; t < seconds * 1000; t += TICK_MS) {
    await report(s, 'host');
    await report(s, 'player');
    clock += TICK_MS;
    await meter.tickNow();
  }
}

async function report(s: Leased, source: 'host' | 'player'): Promise<void> {
  const arrived = new Promise<void>((resolve) => {
    const off = server.hub.on('report', (r) => {
      if (r.sessionId !== s.sessionId || r.source !== source) return;
      off();
      resolve();
    });
  });
  if (source === 'host') {
    s.host.send({
      type: 'host-report',
      sessionId: s.sessionId,
      fpsMilli: 60_000,
      framesSent: 1,
      bitrateBps: 1,
      inputIdleMs: 0,
    });
  } else {
    s.player.send({
      type: 'player-report',
      sessionId: s.sessionId,
      fpsMilli: 60_000,
      rttMicros: 5_000,
      framesDecoded: 1,
      packetsLost: 0,
    });
  }
  await arrived;
}

/** A smart-contract wallet (TestSmartWallet, ERC-1271) with `deposit` in escrow, and its owner's key. */
async function smartWallet(deposit: bigint) {
  const owner = await chain.newFundedAccount(deposit + PRICE * 3600n);
  const artifact = compileContracts().TestSmartWallet;
  const deployed = await chain
    .walletFor(owner)
    .deployContract({ abi: artifact.abi, bytecode: artifact.bytecode, args: [owner.address] });
  const wallet = (await chain.publicClient.waitForTransactionReceipt({ hash: deployed })).contractAddress;
  assert.ok(wallet);
  const ownerTx = async (request: Parameters<ReturnType<typeof chain.walletFor>['writeContract']>[0]) => {
    const hash = await chain.walletFor(owner).writeContract(request);
    await chain.publicClient.waitForTransactionReceipt({ hash });
  };
  await ownerTx({
    address: chain.tokenAddress,
    abi: athTokenAbi,
    functionName: 'transfer',
    args: [wallet, deposit],
  } as never);
  await ownerTx({
    address: wallet,
    abi: testSmartWalletAbi,
    functionName: 'approveAndDeposit',
    args: [chain.tokenAddress, chain.escrowAddress, deposit],
  } as never);
  return { owner, wallet, ownerTx };
}

/** The name of the custom error a call reverts with, or undefined when it would succeed. */
async function revertOf(
  account: Account,
  functionName: 'redeem',
  args: readonly unknown[],
): Promise<string | undefined> {
  try {
    await chain.publicClient.simulateContract({
      account,
      address: chain.escrowAddress,
      abi: sessionEscrowAbi,
      functionName,
      args: args as never,
    });
    return undefined;
  } catch (error) {
    if (error instanceof BaseError) {
      const revert = error.walk((e) => e instanceof ContractFunctionRevertedError);
      if (revert instanceof ContractFunctionRevertedError) return revert.data?.errorName ?? 'reverted';
    }
    throw error;
  }
}

const earnings = (address: Address) =>
  chain.publicClient.readContract({
    address: chain.escrowAddress,
    abi: sessionEscrowAbi,
    functionName: 'earnings',
    args: [address],
  });

/** A meter of `hub` on this file's ledger, meter key and settings; `own`: its clock, instance and lease. */
function meterOn(hub: MeterParameters['hub'], own: Partial<MeterParameters> = {}): Meter {
  return testMeter({
    chain,
    hub,
    ledger,
    settings: { tickSec: TICK_MS / 1000, fpsFloor: 20, reportFreshMs: 12_000 },
    log,
    ...own,
  });
}

/**
 * A second signaling process on the same ledger — its own hub, payment desk and meter, recorded as `instanceId`
 * and holding that instance's lease — and a paid session streaming on it, metered for three ticks.
 */
async function otherProcess(instanceId: string, payer: Account, instanceLeaseTtlMs: number) {
  const other = await startTestSignaling({
    chain,
    tokenSecret: secret,
    heartbeatIntervalMs: 600_000,
    log,
    metrics: createMetrics({ keys: SIGNALING_METRICS }),
    payments: paymentDeskOnTestChain({ chain, ledger, log, instanceId }),
  });
  let otherClock = clock;
  const otherMeter = meterOn(other.hub, { now: () => otherClock, instanceId, instanceLeaseTtlMs });
  const leased = await leaseTestSession({
    server: other,
    secret,
    name: `other-${randomBytes(3).toString('hex')}`,
    title: 'Other process',
    priceWei: PRICE,
  });
  const { host, player, sessionId } = leased;
  peers.push(host, player);
  earners.push(leased.provider);
  const auth = sessionAuthFor(leased, payer.address);
  assert.equal(
    await sendAuth(
      { sessionId, host, player, provider: auth.provider, terms: auth },
      auth,
      await signAuth(payer, auth),
    ),
    'accepted',
  );
  host.send({ type: 'session-started', sessionId });
  await waitUntil(() => other.hub.getSession(sessionId)?.state === 'streaming');
  /** Both sides report 60 fps, a tick's time passes, and the other process's meter ticks. */
  const tick = async () => {
    host.send({ type: 'host-report', sessionId, fpsMilli: 60_000, framesSent: 1, bitrateBps: 1, inputIdleMs: 0 });
    player.send({ type: 'player-report', sessionId, fpsMilli: 60_000, rttMicros: 1, framesDecoded: 1, packetsLost: 0 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    otherClock += TICK_MS;
    await otherMeter.tickNow();
  };
  for (let i = 0; i < 3; i += 1) await tick();
  return { other, otherMeter, host, player, sessionId, tick };
}

describe('attacks on the money (issue 12)', () => {
  test('redirected payment: the payer signs a second SessionAuth naming itself and redeems the meter’s voucher first', async () => {
    const payer = await chain.newDepositedAccount(PRICE * 3600n * 2n);
    const s = await leased();
    const auth = { ...s.terms, player: payer.address };
    assert.equal(await sendAuth(s, auth, await signAuth(payer, auth)), 'accepted');
    s.host.send({ type: 'session-started', sessionId: s.sessionId });
    await waitUntil(() => server.hub.getSession(s.sessionId)?.state === 'streaming');
    await play(s, 60);

    // The attacker reads the session's charges from the public API, without logging in.
    const response = await server.http.inject({ method: 'GET', url: `/api/sessions/${s.sessionId}/charges` });
    assert.equal(response.statusCode, 200);
    const served = response.json() as { voucher?: { signature?: Hex; cumulativeWei: string; deliveredSec: number } };
    // Should the API not serve the meter's signature, the attack goes on with a leaked one (from the ledger):
    // the chain must hold on its own.
    const voucher = served.voucher?.signature ? served.voucher : await latestVoucher(ledger, s.sessionId);
    assert.ok(voucher?.signature);
    const cumulative = BigInt(voucher.cumulativeWei);
    assert.ok(cumulative > 0n);

    // A second authorization for the same session, same terms, naming the payer as the provider.
    const hijack: SessionAuth = { ...auth, provider: payer.address };
    const hijackRedemption = {
      auth: hijack,
      authSignature: await signAuth(payer, hijack),
      cumulativeAmount: cumulative,
      deliveredSeconds: BigInt(voucher.deliveredSec),
      usageSignature: voucher.signature,
      close: false,
    };
    const refused = await revertOf(payer, 'redeem', [hijackRedemption]);
    if (refused === undefined) {
      // The chain took it: send it for real, as the attacker would, before the settler does.
      const hash = await chain.walletFor(payer).writeContract({
        address: chain.escrowAddress,
        abi: sessionEscrowAbi,
        functionName: 'redeem',
        args: [hijackRedemption as never],
      });
      await chain.publicClient.waitForTransactionReceipt({ hash });
    }
    earners.push(payer.address);
    // The settler now redeems the real voucher.
    const worker = settlementWorker(chain, ledger);
    try {
      await worker.runSoon();
    } finally {
      await worker.close();
    }
    assert.equal(await earnings(payer.address), 0n, 'the payer earned nothing from its own session');
    const providerCredit = (await journalTotals(ledger, s.provider.toLowerCase() as Address))[
      'provider_earning:credit'
    ];
    assert.equal(await earnings(s.provider), providerCredit ?? 0n, 'the provider was paid what the ledger says it was');
    assert.ok((providerCredit ?? 0n) > 0n, 'the provider was paid');
    assert.notEqual(refused, undefined, 'the hijacking redeem is refused by the escrow');
    s.player.send({ type: 'quit', sessionId: s.sessionId });
    await s.player.next('session-ended');
    await meter.idle();
  });

  test('a SessionAuth signed with v = 0/1 is refused at authorization (the escrow would skip it)', async () => {
    const payer = await chain.newDepositedAccount(PRICE * 3600n * 2n);
    const s = await leased();
    const auth = { ...s.terms, player: payer.address };
    const good = await signAuth(payer, auth);
    const v = Number.parseInt(good.slice(-2), 16);
    const lowV = `${good.slice(0, -2)}${(v - 27).toString(16).padStart(2, '0')}` as Hex;
    assert.equal(await sendAuth(s, auth, lowV), 'ATH_ERR_BAD_SIGNATURE');
  });

  test('every signature and bound the escrow would refuse is refused at authorization', async () => {
    const payer = await chain.newDepositedAccount(PRICE * 3600n * 2n);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const cases: Array<[string, (auth: SessionAuth, good: Hex) => { auth?: Partial<SessionAuth>; signature?: Hex }]> = [
      [
        'high s (the malleable twin of a good signature)',
        (_auth, good) => {
          const v = Number.parseInt(good.slice(-2), 16);
          const highS = (n - BigInt(`0x${good.slice(66, 130)}`)).toString(16).padStart(64, '0');
          return { signature: `${good.slice(0, 66)}${highS}${(v === 27 ? 28 : 27).toString(16)}` as Hex };
        },
      ],
      ['66 bytes (a good signature and one more byte)', (_auth, good) => ({ signature: `${good}00` as Hex })],
      ['64 bytes', (_auth, good) => ({ signature: good.slice(0, -2) as Hex })],
      ['another key’s signature', () => ({})],
      [
        'an expiry further away than the network allows (4 h + skew)',
        () => ({ auth: { expiry: BigInt(Math.floor(Date.now() / 1000) + 5 * 3600) } }),
      ],
      ['a cap above the terms', (auth) => ({ auth: { maxAmount: auth.maxAmount + 1n } })],
      ['a price other than the host’s', (auth) => ({ auth: { pricePerSecond: auth.pricePerSecond + 1n } })],
    ];
    const stranger = await chain.newFundedAccount(0n);
    for (const [what, tamper] of cases) {
      const s = await leased();
      const base = { ...s.terms, player: payer.address };
      const change = tamper(base, await signAuth(payer, base));
      const auth = { ...base, ...change.auth };
      const signature =
        change.signature ??
        (what === 'another key’s signature' ? await signAuth(stranger, auth) : await signAuth(payer, auth));
      const answer = await sendAuth(s, auth, signature).catch((error: unknown) => `no answer: ${String(error)}`);
      assert.ok(answer.startsWith('ATH_ERR_'), `${what}: refused with a typed error, got ${answer}`);
      assert.equal(await getSession(ledger, s.sessionId), undefined, `${what}: nothing recorded in the ledger`);
    }
  });

  test('a smart-wallet payer (ERC-1271): honest, it plays and its charges settle; burning its gas, it is refused at authorization', async () => {
    const { owner, wallet, ownerTx } = await smartWallet(PRICE * 3600n * 2n);
    // The owner's key signs for the wallet; the escrow asks the wallet (isValidSignature) within its gas cap.
    const honest = await leased();
    const auth = { ...honest.terms, player: wallet };
    assert.equal(await sendAuth(honest, auth, await signAuth(owner, auth)), 'accepted');
    honest.host.send({ type: 'session-started', sessionId: honest.sessionId });
    await waitUntil(() => server.hub.getSession(honest.sessionId)?.state === 'streaming');
    await play(honest, 10);
    await quitAndSettle(honest);
    assert.equal(await escrowRead<bigint>('claimed' as never, honest.sessionId), PRICE * 10n, 'settled (redeemBatch)');
    assert.equal(await escrowRead<boolean>('closed', honest.sessionId), true);
    await ownerTx({ address: wallet, abi: testSmartWalletAbi, functionName: 'setGreedy', args: [true] } as never);
    const greedy = await leased();
    const greedyAuth = { ...greedy.terms, player: wallet };
    assert.equal(await sendAuth(greedy, greedyAuth, await signAuth(owner, greedyAuth)), 'ATH_ERR_BAD_SIGNATURE');
    assert.equal(await getSession(ledger, greedy.sessionId), undefined, 'nothing recorded');
  });

  test('a smart-wallet payer valid only when tx.origin is 0 (an eth_call without `from`) is refused at authorization', async () => {
    const { owner, wallet, ownerTx } = await smartWallet(PRICE * 3600n * 2n);
    await ownerTx({ address: wallet, abi: testSmartWalletAbi, functionName: 'setOriginBound', args: [true] } as never);
    // The settler redeems from the meter's key (tx.origin = the meter): the wallet would refuse that redeem.
    const s = await leased();
    const auth = { ...s.terms, player: wallet };
    assert.equal(await sendAuth(s, auth, await signAuth(owner, auth)), 'ATH_ERR_BAD_SIGNATURE');
    assert.equal(await getSession(ledger, s.sessionId), undefined, 'nothing recorded');
  });

  test('a wallet that turns its signature invalid after authorization: its charge is refused for good and the session ends', async () => {
    const { owner, wallet, ownerTx } = await smartWallet(PRICE * 3600n * 2n);
    const s = await leased();
    const auth = { ...s.terms, player: wallet };
    assert.equal(await sendAuth(s, auth, await signAuth(owner, auth)), 'accepted');
    s.host.send({ type: 'session-started', sessionId: s.sessionId });
    await waitUntil(() => server.hub.getSession(s.sessionId)?.state === 'streaming');
    // Authorized; now the wallet answers "invalid" to the settler's redeem (code 2, bad signature).
    await ownerTx({ address: wallet, abi: testSmartWalletAbi, functionName: 'setOriginBound', args: [true] } as never);
    await play(s, 10);
    expectedRefusals.add(s.sessionId.toLowerCase());
    const worker = settlementWorker(chain, ledger, {
      onRefused: ({ sessionId }) =>
        server.hub.endSession(sessionId, 'insufficient-funds', 'The payer’s authorization was refused on chain.'),
    });
    try {
      await worker.runSoon();
    } finally {
      await worker.close();
    }
    assert.equal(server.hub.getSession(s.sessionId)?.state, 'ended', 'the unpaid session does not play on');
    await meter.idle();
    assert.equal((await getSession(ledger, s.sessionId))?.state, 'ended');
  });

  test('…and ends just the same when the settler that met the refusal runs in another process (standalone, or another signaling instance)', async () => {
    const { owner, wallet, ownerTx } = await smartWallet(PRICE * 3600n * 2n);
    const s = await leased();
    const auth = { ...s.terms, player: wallet };
    assert.equal(await sendAuth(s, auth, await signAuth(owner, auth)), 'accepted');
    s.host.send({ type: 'session-started', sessionId: s.sessionId });
    await waitUntil(() => server.hub.getSession(s.sessionId)?.state === 'streaming');
    await ownerTx({ address: wallet, abi: testSmartWalletAbi, functionName: 'setOriginBound', args: [true] } as never);
    await play(s, 10);
    expectedRefusals.add(s.sessionId.toLowerCase());
    // The settler of another process: it shares the ledger, not this hub (no onRefused can reach the session).
    const worker = settlementWorker(chain, ledger);
    try {
      await worker.runSoon();
    } finally {
      await worker.close();
    }
    const failed = await listSettlements(ledger, { state: 'failed' });
    assert.ok(
      failed.some((row) => row.sessionId.toLowerCase() === s.sessionId.toLowerCase()),
      'the escrow refused the charge for good',
    );
    // The next tick of the meter that runs the session reads the refusal in the ledger.
    await play(s, 5);
    const ended = server.hub.getSession(s.sessionId);
    assert.equal(ended?.state, 'ended', 'the unpaid session does not play on');
    assert.equal(ended?.endReason, 'insufficient-funds');
    assert.match((await s.player.next('session-ended')).message, /refused/);
    await meter.idle();
    assert.equal((await getSession(ledger, s.sessionId))?.state, 'ended');
  });

  test('a second SessionAuth for the same session cannot change its terms off chain either (payee, cap, payer)', async () => {
    const payer = await chain.newDepositedAccount(PRICE * 3600n * 2n);
    const other = await chain.newDepositedAccount(PRICE * 3600n * 2n);
    const s = await leased();
    const auth = { ...s.terms, player: payer.address };
    assert.equal(await sendAuth(s, auth, await signAuth(payer, auth)), 'accepted');
    const laters: Array<[string, Account, SessionAuth]> = [
      ['the payer as payee', payer, { ...auth, provider: payer.address }],
      ['a smaller cap', payer, { ...auth, maxAmount: auth.maxAmount / 2n }],
      ['another payer', other, { ...auth, player: other.address }],
      ['the same terms again', payer, auth],
    ];
    for (const [what, signer, later] of laters) {
      assert.notEqual(await sendAuth(s, later, await signAuth(signer, later)), 'accepted', what);
    }
    const stored = await getSession(ledger, s.sessionId);
    assert.ok(stored);
    assert.deepEqual(sessionAuthOf(stored), {
      ...auth,
      player: payer.address.toLowerCase(),
      provider: auth.provider.toLowerCase(),
    });
    assert.equal(server.hub.getSession(s.sessionId)?.payerAddress, payer.address.toLowerCase());

    // Two payers racing for one session: one wins, and signaling and the ledger agree on which.
    const r = await leased();
    const [a, b] = [
      { ...r.terms, player: payer.address },
      { ...r.terms, player: other.address },
    ];
    const [signedA, signedB] = [await signAuth(payer, a), await signAuth(other, b)];
    const answers = await Promise.all([sendAuth(r, a, signedA), sendAuth(r, b, signedB)]);
    assert.ok(answers.filter((x) => x === 'accepted').length <= 1, `at most one payer: ${answers}`);
    const raced = await getSession(ledger, r.sessionId);
    const hubPayer = server.hub.getSession(r.sessionId)?.payerAddress;
    if (hubPayer !== undefined)
      assert.equal(raced?.payerAddress, hubPayer, 'the payer signaling bills is the ledger’s');
    r.player.send({ type: 'quit', sessionId: r.sessionId });
    s.player.send({ type: 'quit', sessionId: s.sessionId });
    await s.player.next('session-ended');
  });

  test('an expiry above 2^32 is refused at authorization', async () => {
    const payer = await chain.newDepositedAccount(PRICE * 3600n * 2n);
    const s = await leased();
    const auth = { ...s.terms, player: payer.address, expiry: 2n ** 32n + 3600n };
    assert.notEqual(await sendAuth(s, auth, await signAuth(payer, auth)), 'accepted');
  });

  test('an expiry that does not cover the session plus its settlement (301 s ahead) is refused', async () => {
    const payer = await chain.newDepositedAccount(PRICE * 3600n * 2n);
    const s = await leased();
    const auth = { ...s.terms, player: payer.address, expiry: BigInt(Math.floor(Date.now() / 1000) + 301) };
    assert.notEqual(await sendAuth(s, auth, await signAuth(payer, auth)), 'accepted');
  });

  test('the public charges endpoint shows amounts, never a signature', async () => {
    const payer = await chain.newDepositedAccount(PRICE * 3600n * 2n);
    const provider = await chain.newStakedAccount('software');
    const s = await leased({ providerKey: provider.privateKey });
    const auth = { ...s.terms, player: payer.address };
    assert.equal(await sendAuth(s, auth, await signAuth(payer, auth)), 'accepted');
    s.host.send({ type: 'session-started', sessionId: s.sessionId });
    await waitUntil(() => server.hub.getSession(s.sessionId)?.state === 'streaming');
    await play(s, 10);
    const worker = settlementWorker(chain, ledger);
    try {
      await worker.runSoon();
    } finally {
      await worker.close();
    }
    const response = await server.http.inject({ method: 'GET', url: `/api/sessions/${s.sessionId}/charges` });
    assert.equal(response.statusCode, 200);
    assert.doesNotMatch(response.body, /signature/i, 'no signature of any kind in the public answer');
    assert.doesNotMatch(response.body, /0x[0-9a-f]{130}/i, 'no 65-byte value either');
    const body = response.json() as { chargedWei: string };
    assert.ok(BigInt(body.chargedWei) > 0n, 'the amounts are still there');

    // The voucher goes to the payer (or the provider) on a request it signs; to nobody else.
    const ask = async (account: Account, issuedAtSec = Math.floor(Date.now() / 1000), as = account.address) =>
      server.http.inject({
        method: 'GET',
        url: `/api/sessions/${s.sessionId}/voucher`,
        headers: {
          'x-ath-address': as,
          'x-ath-issued-at': String(issuedAtSec),
          'x-ath-signature': await chain.walletFor(account).signMessage({
            message: voucherRequestMessage({ sessionId: s.sessionId, address: as, issuedAtSec }),
          }),
        },
      });
    const stranger = await chain.newFundedAccount(0n);
    assert.equal((await ask(stranger)).statusCode, 401, 'a stranger, signing as itself');
    assert.equal((await ask(stranger, undefined, payer.address)).statusCode, 401, 'a stranger, claiming the payer');
    assert.equal((await ask(payer, Math.floor(Date.now() / 1000) - 3600)).statusCode, 401, 'an old request');
    const own = await ask(payer);
    assert.equal(own.statusCode, 200, own.body);
    const providers = await ask(provider);
    assert.equal(providers.statusCode, 200, `the provider too: ${providers.body}`);
    assert.equal(providers.body, own.body, 'the same voucher');
    const voucher = own.json() as { usage: { cumulativeAmount: string; authHash: Hex }; usageSignature: Hex };
    assert.equal(voucher.usage.cumulativeAmount, body.chargedWei);
    assert.match(voucher.usageSignature, /^0x[0-9a-f]{130}$/);
    s.player.send({ type: 'quit', sessionId: s.sessionId });
    await s.player.next('session-ended');
  });
});

/** A player's session through the real desk: authorized (cap `maxWei`), streaming. */
async function authorized(payer: Account, maxWei?: bigint): Promise<Leased & { auth: SessionAuth }> {
  const s = await leased();
  const auth = { ...s.terms, player: payer.address, ...(maxWei === undefined ? {} : { maxAmount: maxWei }) };
  const answer = await sendAuth(s, auth, await signAuth(payer, auth));
  if (answer !== 'accepted') return Object.assign(s, { auth, refused: answer });
  s.host.send({ type: 'session-started', sessionId: s.sessionId });
  await waitUntil(() => server.hub.getSession(s.sessionId)?.state === 'streaming');
  return Object.assign(s, { auth });
}

async function quitAndSettle(s: Leased): Promise<void> {
  s.player.send({ type: 'quit', sessionId: s.sessionId });
  await s.player.next('session-ended');
  await meter.idle();
  const worker = settlementWorker(chain, ledger);
  try {
    await worker.runSoon();
  } finally {
    await worker.close();
  }
}

const escrowRead = <T>(functionName: 'accounts' | 'freeBalance' | 'closed', arg: Hex) =>
  chain.publicClient.readContract({
    address: chain.escrowAddress,
    abi: sessionEscrowAbi,
    functionName,
    args: [arg],
  } as never) as Promise<T>;

describe('reserves are exact (issue 12)', () => {
  test('an ended, settled session’s unused cap is released on chain at once', async () => {
    const payer = await chain.newDepositedAccount(PRICE * 3600n * 2n);
    const s = await authorized(payer);
    await play(s, 20);
    await quitAndSettle(s);
    const charged = (await latestVoucher(ledger, s.sessionId))?.cumulativeWei ?? 0n;
    assert.ok(charged > 0n);
    assert.deepEqual(
      await escrowRead<readonly [bigint, bigint]>('accounts', payer.address),
      [PRICE * 3600n * 2n - charged, 0n],
      'balance − charged, nothing reserved any more',
    );
    assert.equal(await escrowRead<boolean>('closed', s.sessionId), true, 'closed on chain');
  });

  test('authorizations of one payer at once cannot take the same escrow twice', async () => {
    const payer = await chain.newDepositedAccount(PRICE * 3600n + PRICE * 100n);
    const sessions = [await leased(), await leased(), await leased(), await leased()];
    const auths = sessions.map((s) => ({ ...s.terms, player: payer.address }));
    // All signed first, then sent back to back: the indexer works on all of them at once.
    const signatures: Hex[] = [];
    for (const auth of auths) signatures.push(await signAuth(payer, auth));
    const answers = await Promise.all(
      sessions.map((s, i) => sendAuth(s, auths[i] as SessionAuth, signatures[i] as Hex)),
    );
    assert.deepEqual(
      answers.filter((a) => a === 'accepted').length,
      1,
      `one hour fits the escrow, two do not: ${answers}`,
    );
    for (const s of sessions) s.player.send({ type: 'quit', sessionId: s.sessionId });
    await meter.idle();
  });

  test('…nor across signaling processes: payment desks sharing the ledger serialize a payer through it', async () => {
    const payer = await chain.newDepositedAccount(PRICE * 3600n + PRICE * 100n);
    const desk = () => paymentDeskOnTestChain({ chain, ledger, log });
    const desks = [desk(), desk(), desk(), desk()];
    const provider = `0x${randomBytes(20).toString('hex')}` as Address;
    earners.push(provider);
    const host = { hostId: 'desk-race', providerAddress: provider, priceWeiPerSec: PRICE } as HostRecord;
    const attempts = await Promise.all(
      desks.map(async (d) => {
        const sessionId = `0x${randomBytes(32).toString('hex')}` as Hex;
        const auth: SessionAuth = {
          sessionId,
          player: payer.address,
          provider,
          maxAmount: PRICE * 3600n,
          pricePerSecond: PRICE,
          expiry: BigInt(Math.floor(Date.now() / 1000) + 3 * 3600),
        };
        const signature = await signAuth(payer, auth);
        return d
          .authorize({ id: sessionId, game: 'supertux' } as SessionRecord, host, {
            type: 'session-auth',
            sessionId,
            auth: {
              sessionId,
              player: auth.player,
              provider,
              maxAmount: weiToString(auth.maxAmount),
              pricePerSecond: weiToString(PRICE),
              expiry: String(auth.expiry),
            },
            signature,
          })
          .then(
            () => ({ sessionId, answer: 'accepted' }),
            (error: unknown) => ({ sessionId, answer: (error as { code?: string }).code ?? String(error) }),
          );
      }),
    );
    const accepted = attempts.filter((a) => a.answer === 'accepted');
    assert.equal(accepted.length, 1, `one hour fits the escrow, two do not: ${attempts.map((a) => a.answer)}`);
    for (const a of accepted) await endSession(ledger, { sessionId: a.sessionId, reason: 'player-quit' });
  });

  test('a session that ends while its authorization waits (on the payer’s lease) leaves nothing committed', async () => {
    const payer = await chain.newDepositedAccount(PRICE * 3600n * 2n);
    const s = await leased();
    const auth = { ...s.terms, player: payer.address };
    const signature = await signAuth(payer, auth);
    // Another process authorizes this payer: the desk waits for the lease while the player quits.
    const lease = { name: `auth:${payer.address.toLowerCase()}`, holder: 'another-signaling-process' };
    assert.equal((await acquireLease(ledger, { ...lease, ttlMs: 20_000 })).held, true);
    try {
      s.player.send({
        type: 'session-auth',
        sessionId: s.sessionId,
        auth: sessionAuthWire(auth),
        signature,
      });
      s.player.send({ type: 'quit', sessionId: s.sessionId });
      await s.player.next('session-ended');
    } finally {
      await releaseLease(ledger, lease);
    }
    // The authorization completes for a session the hub has ended: its ledger row must not stay streaming.
    let state: string | undefined;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      state = (await getSession(ledger, s.sessionId))?.state;
      if (state === 'ended') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(state, 'ended', 'the ledger session is ended (nothing was played)');
    assert.equal(
      await payerCommitmentsWei(ledger, { payerAddress: payer.address }),
      0n,
      'nothing of the payer’s escrow stays committed',
    );
    assert.equal(meter.liveSessions, 0, 'not metered');
  });

  test('free escrow subtracts an ended session’s unsettled charges and a pending withdrawal', async () => {
    const deposit = PRICE * (3600n + 30n);
    const payer = await chain.newDepositedAccount(deposit);
    const first = await authorized(payer);
    await play(first, 60);
    first.player.send({ type: 'quit', sessionId: first.sessionId });
    await first.player.next('session-ended');
    await meter.idle();
    const unsettled = (await latestVoucher(ledger, first.sessionId))?.cumulativeWei ?? 0n;
    assert.equal(unsettled, PRICE * 60n, 'charged, not settled yet');
    // 3,630 s deposited, 60 s owed: an hour's cap (3,600 s) no longer fits.
    const hour = await authorized(payer, PRICE * 3600n);
    assert.equal((hour as { refused?: string }).refused, 'ATH_ERR_INSUFFICIENT_FUNDS', 'unsettled charges are owed');
    // A pending withdrawal is not free either: 3,570 − 1,000 = 2,570 s are.
    const hash = await chain.walletFor(payer).writeContract({
      address: chain.escrowAddress,
      abi: sessionEscrowAbi,
      functionName: 'requestWithdraw',
      args: [PRICE * 1000n],
    });
    await chain.publicClient.waitForTransactionReceipt({ hash });
    const over = await authorized(payer, PRICE * 3000n);
    assert.equal((over as { refused?: string }).refused, 'ATH_ERR_INSUFFICIENT_FUNDS', 'the withdrawal is not free');
    const fits = await authorized(payer, PRICE * 2570n);
    assert.equal((fits as { refused?: string }).refused, undefined, 'what is truly free is accepted');
    await play(fits, 10);
    await quitAndSettle(fits);
  });

  test('sessions left streaming by a signaling crash are ended and settled when signaling starts again', async () => {
    const payer = await chain.newDepositedAccount(PRICE * 3600n * 2n);
    const { other, otherMeter, host, player, sessionId } = await otherProcess('crashing-signaling', payer, 1_000);
    const charged = (await latestVoucher(ledger, sessionId))?.cumulativeWei ?? 0n;
    assert.ok(charged > 0n, 'the crashing process metered it');
    // The process stops: its sessions are not ended (in the ledger they stay streaming), its connections drop.
    await otherMeter.close();
    host.terminate();
    player.terminate();
    await other.close();
    const { rows } = await ledger.query('select state from sessions where id = $1', [sessionId]);
    assert.equal((rows[0] as { state: string }).state, 'streaming', 'left streaming in the ledger');
    // Signaling starts again (another process): it sweeps the orphans, then its settler settles them.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const restarted = meterOn(server.hub, { instanceId: 'restarted-signaling' });
    try {
      assert.equal(await restarted.closeOrphans(), 1);
    } finally {
      await restarted.close();
    }
    const after = await ledger.query('select state from sessions where id = $1', [sessionId]);
    assert.equal((after.rows[0] as { state: string }).state, 'ended', 'the orphan was ended');
    const worker = settlementWorker(chain, ledger);
    try {
      await worker.runSoon();
    } finally {
      await worker.close();
    }
    assert.equal(await escrowRead<bigint>('claimed' as never, sessionId), charged, 'what it metered is settled');
    assert.deepEqual(
      await escrowRead<readonly [bigint, bigint]>('accounts', payer.address),
      [PRICE * 3600n * 2n - charged, 0n],
      'its reserve released',
    );
    assert.equal(await escrowRead<boolean>('closed', sessionId), true, 'closed on chain');
  });

  test('a session another process closed in the ledger (this one stalled past its instance lease) stops playing here', async () => {
    const payer = await chain.newDepositedAccount(PRICE * 3600n * 2n);
    const { other, otherMeter, host, player, sessionId, tick } = await otherProcess(
      'stalling-signaling',
      payer,
      600_000,
    );
    try {
      // The process stalls past its lease (a long pause, the database out of reach): the lease lapses.
      await ledger.query(
        `update ledger_leases set expires_at = now() - interval '1 second' where name = 'signaling:stalling-signaling'`,
      );
      // Meanwhile another process sweeps the orphans: to it this session is one, so it ends it and bills it.
      const sweeper = meterOn(server.hub, { instanceId: 'sweeping-signaling' });
      try {
        assert.equal(await sweeper.closeOrphans(), 1);
      } finally {
        await sweeper.close();
      }
      assert.equal((await getSession(ledger, sessionId))?.state, 'ended');
      // The stalled process resumes: its next tick finds the session closed, and the stream stops — no free play.
      await tick();
      assert.equal(other.hub.getSession(sessionId)?.state, 'ended', 'the session does not play on unbilled');
      assert.match((await player.next('session-ended')).message, /another signaling process/);
      const worker = settlementWorker(chain, ledger);
      try {
        await worker.runSoon();
      } finally {
        await worker.close();
      }
      const { cumulativeWei } = (await getSession(ledger, sessionId)) ?? { cumulativeWei: -1n };
      assert.equal(
        await escrowRead<bigint>('claimed' as never, sessionId),
        cumulativeWei,
        'what was metered is settled',
      );
      assert.equal(await escrowRead<boolean>('closed', sessionId), true, 'closed on chain, its reserve released');
    } finally {
      await otherMeter.close();
      host.terminate();
      player.terminate();
      await other.close();
    }
  });

  test('a session this very process failed to close in the ledger (a write refused at its end) is closed by its own sweep', async () => {
    const deposit = PRICE * 3600n * 2n;
    const payer = await chain.newDepositedAccount(deposit);
    const { other, otherMeter, host, player, sessionId } = await otherProcess('flaky-signaling', payer, 600_000);
    // The ledger refuses the first write that ends this session (a dropped connection, a failover): once.
    await ledger.query(`create sequence i12_end_fault_${sessionId.slice(2, 10)}`);
    await ledger.query(`
      create function i12_end_fault() returns trigger language plpgsql as $$
      begin
        if new.id = '${sessionId.toLowerCase()}' and new.state = 'ended' and old.state <> 'ended'
           and nextval('i12_end_fault_${sessionId.slice(2, 10)}') = 1 then
          raise exception 'injected: the ledger is unreachable';
        end if;
        return new;
      end $$`);
    await ledger.query(
      'create trigger i12_end_fault before update on sessions for each row execute function i12_end_fault()',
    );
    try {
      player.send({ type: 'quit', sessionId });
      await player.next('session-ended');
      await otherMeter.idle();
      assert.equal((await getSession(ledger, sessionId))?.state, 'streaming', 'left streaming by its own process');
      assert.ok((await payerCommitmentsWei(ledger, { payerAddress: payer.address })) > 0n, 'its cap stays committed');
      // The process lives on: its periodic sweep must not skip its own leftovers.
      assert.equal(await otherMeter.closeOrphans(), 1);
      assert.equal((await getSession(ledger, sessionId))?.state, 'ended');
      const worker = settlementWorker(chain, ledger);
      try {
        await worker.runSoon();
      } finally {
        await worker.close();
      }
      const charged = (await getSession(ledger, sessionId))?.cumulativeWei ?? -1n;
      assert.ok(charged > 0n);
      assert.equal(await escrowRead<bigint>('claimed' as never, sessionId), charged, 'what was metered is settled');
      assert.equal(await escrowRead<boolean>('closed', sessionId), true, 'closed on chain');
      assert.deepEqual(
        await escrowRead<readonly [bigint, bigint]>('accounts', payer.address),
        [deposit - charged, 0n],
        'its reserve released',
      );
      assert.equal(await payerCommitmentsWei(ledger, { payerAddress: payer.address }), 0n, 'nothing committed');
    } finally {
      await ledger.query('drop trigger if exists i12_end_fault on sessions');
      await ledger.query('drop function if exists i12_end_fault()');
      await otherMeter.close();
      host.terminate();
      player.terminate();
      await other.close();
    }
  });
});
