/**
 * Issue 13's "single-flight authorization": a player sends the same SessionAuth 20 times at once on its socket. Each
 * would cost signaling a signature recovery and a chain read (the payment desk's checks), and a duplicate refused by
 * those checks while the first was accepted could end the honest session. One is checked; the others are refused at
 * once. Real parts: signaling with the real payment desk, a PGlite ledger, anvil with the real contracts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { sessionAuthWire } from '../../signaling/protocol/index.js';
import { startTestSignaling, type TestSignaling } from '../../signaling/testing/startTestSignaling.js';
import type { TestPeer } from '../../signaling/testing/TestPeer.js';
import { startTestChain, type TestChain } from '../chain/testing/startTestChain.js';
import { type Ledger, openLedger } from '../ledger/index.js';
import { leaseTestSession, sessionAuthFor, signTestSessionAuth } from '../metering/testing/paidSessions.js';
import { paymentDeskOnTestChain } from './testing/paymentDeskOnTestChain.js';

const PRICE = 10n ** 15n;
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const secret = randomBytes(32);
let chain: TestChain;
let ledger: Ledger;
let server: TestSignaling;
const peers: TestPeer[] = [];

before(async () => {
  chain = await startTestChain({ withdrawDelaySec: 0n });
  ledger = await openLedger({});
  server = await startTestSignaling({
    chain,
    tokenSecret: secret,
    heartbeatIntervalMs: 600_000,
    log,
    payments: paymentDeskOnTestChain({ chain, ledger, log }),
  });
});

after(async () => {
  for (const peer of peers) peer.terminate();
  await server?.close();
  await ledger?.close();
  await chain?.close();
});

test('20 copies of a SessionAuth at once on one socket: one is checked and accepted, the others refused at once', async () => {
  const leased = await leaseTestSession({
    server,
    secret,
    name: `auth-${randomBytes(3).toString('hex')}`,
    title: 'Auth',
    priceWei: PRICE,
  });
  const { player } = leased;
  peers.push(leased.host, player);
  const payer = await chain.newDepositedAccount(PRICE * 3600n * 2n);
  const auth = sessionAuthFor(leased, payer.address);
  const signature = await signTestSessionAuth(chain, payer, auth);
  const message = {
    type: 'session-auth' as const,
    sessionId: leased.sessionId,
    auth: sessionAuthWire(auth),
    signature,
  };
  for (let i = 0; i < 20; i += 1) player.send(message);
  const answers: string[] = [];
  for (let i = 0; i < 20; i += 1) {
    const answer = await player.nextOf(['payment-accepted', 'error']);
    if (answer.type === 'error') {
      // Refused without being checked: while the first is in flight, or once it was accepted.
      assert.ok(
        (answer.code === 'ATH_ERR_NOT_ALLOWED' && /already being checked/.test(answer.message)) ||
          answer.code === 'ATH_ERR_REPLAY',
        `${answer.code}: ${answer.message}`,
      );
    }
    answers.push(answer.type === 'error' ? answer.code : answer.type);
  }
  assert.equal(answers.filter((a) => a === 'payment-accepted').length, 1, answers.join(' '));
  const session = server.hub.getSession(leased.sessionId);
  assert.equal(session?.payerAddress?.toLowerCase(), payer.address.toLowerCase());
  assert.notEqual(session?.state, 'ended', 'the honest session goes on');
});
