import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CheckReport, isAthError } from '../../signaling/protocol/index.js';
import { getAccount } from './accounts.js';
import {
  getCheckRound,
  listCheckReports,
  listCheckRounds,
  listContradictions,
  recordCheckReport,
  recordRoundVerdict,
} from './checkerReports.js';
import { describeLedger } from './testing/describeLedger.js';
import { fakeSignature, randomAddress } from './testing/fixtures.js';

function report(overrides: Partial<CheckReport> = {}): CheckReport {
  return {
    container: `host-${Math.random().toString(16).slice(2, 10)}/0`,
    checker: randomAddress(),
    round: 42n,
    rttMicros: 12_345,
    fpsMilli: 59_940,
    lossPpm: 0,
    ok: true,
    timestamp: 1_800_000_000n,
    ...overrides,
  };
}

describeLedger('checker reports', (ctx) => {
  test('recordCheckReport stores the signed fields exactly and gives the checker its role; the same report again is a no-op', async () => {
    const r = report({ round: (1n << 64n) - 1n, rttMicros: 2 ** 32 - 1 });
    const signature = fakeSignature();
    const first = await recordCheckReport(ctx.ledger, { report: r, signature });
    assert.equal(first.inserted, true);
    assert.equal(first.report.container, r.container);
    assert.equal(first.report.checker, r.checker);
    assert.equal(first.report.round, r.round);
    assert.equal(first.report.rttMicros, r.rttMicros);
    assert.equal(first.report.fpsMilli, r.fpsMilli);
    assert.equal(first.report.ok, true);
    assert.equal(first.report.timestamp, r.timestamp);
    assert.equal(first.report.signature, signature);
    assert.equal(first.report.inMajority, null);
    assert.deepEqual((await getAccount(ctx.ledger, r.checker))?.roles, ['checker']);
    const again = await recordCheckReport(ctx.ledger, { report: r, signature });
    assert.equal(again.inserted, false);
    assert.deepEqual(again.report, first.report);
  });

  test('a second, different report for the same (container, round, checker) is a conflict and the first stays', async () => {
    const r = report();
    await recordCheckReport(ctx.ledger, { report: r, signature: fakeSignature() });
    await assert.rejects(
      recordCheckReport(ctx.ledger, { report: { ...r, ok: false }, signature: fakeSignature() }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_CONFLICT'),
    );
    const [stored] = await listCheckReports(ctx.ledger, { container: r.container });
    assert.equal(stored?.ok, true);
    await assert.rejects(
      recordCheckReport(ctx.ledger, { report: { ...r, lossPpm: -1 }, signature: fakeSignature() }),
      (e) => isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
  });

  test('recordRoundVerdict marks majority and minority, is idempotent, and refuses the opposite verdict', async () => {
    const container = report().container;
    const honest = [randomAddress(), randomAddress()];
    const liar = randomAddress();
    for (const checker of honest)
      await recordCheckReport(ctx.ledger, {
        report: report({ container, checker, ok: false }),
        signature: fakeSignature(),
      });
    await recordCheckReport(ctx.ledger, {
      report: report({ container, checker: liar, ok: true }),
      signature: fakeSignature(),
    });
    const verdict = await recordRoundVerdict(ctx.ledger, { container, round: 42n, ok: false });
    assert.deepEqual(verdict.majority, [...honest].sort());
    assert.deepEqual(verdict.minority, [liar]);
    assert.deepEqual(await recordRoundVerdict(ctx.ledger, { container, round: 42n, ok: false }), verdict);
    await assert.rejects(recordRoundVerdict(ctx.ledger, { container, round: 42n, ok: true }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_CONFLICT'),
    );
    const liarReports = await listCheckReports(ctx.ledger, { checker: liar });
    assert.equal(liarReports[0]?.inMajority, false);
    assert.equal((await listCheckReports(ctx.ledger, { container, round: 42n })).length, 3);
    assert.equal((await listCheckReports(ctx.ledger, { container, round: 43n })).length, 0);
  });

  test('a decided round keeps what it found, whose container it was and when; contradictions come with their majority', async () => {
    const provider = randomAddress();
    const honest = [randomAddress(), randomAddress()].sort();
    const liar = randomAddress();
    const rounds: Array<{ container: string; round: bigint; atSec: bigint }> = [
      { container: report().container, round: 5n, atSec: 1_000n },
      { container: report().container, round: 6n, atSec: 2_000n },
      { container: report().container, round: 7n, atSec: 9_000n },
    ];
    for (const r of rounds) {
      for (const checker of honest) {
        await recordCheckReport(ctx.ledger, {
          report: report({ container: r.container, round: r.round, checker, ok: false, fpsMilli: 0 }),
          signature: fakeSignature(),
        });
      }
      await recordCheckReport(ctx.ledger, {
        report: report({ container: r.container, round: r.round, checker: liar, ok: true }),
        signature: fakeSignature(),
      });
      await recordRoundVerdict(ctx.ledger, {
        container: r.container,
        round: r.round,
        ok: false,
        providerAddress: provider,
        finding: 'down',
        decidedChainSec: r.atSec,
        expected: { width: 1280, height: 720, fps: 60 },
      });
    }
    const stored = await listCheckRounds(ctx.ledger, { providerAddress: provider });
    assert.equal(stored.length, 3);
    assert.deepEqual(stored[0]?.expected, { width: 1280, height: 720, fps: 60 });
    assert.equal(
      stored.every((r) => r.finding === 'down' && r.providerAddress === provider && !r.ok),
      true,
    );
    const first = rounds[0];
    assert.ok(first);
    assert.equal((await getCheckRound(ctx.ledger, first.container, first.round))?.decidedChainSec, 1_000n);
    await assert.rejects(recordRoundVerdict(ctx.ledger, { container: 'x', round: 1n, ok: false, finding: 'ok' }), (e) =>
      isAthError(e, 'ATH_ERR_LEDGER_BAD_INPUT'),
    );
    const lies = await listContradictions(ctx.ledger, { checker: liar, fromChainSec: 0n, toChainSec: 5_000n });
    assert.equal(lies.length, 2, 'the third round is outside the window');
    for (const lie of lies) {
      assert.equal(lie.told.checker, liar);
      assert.equal(lie.told.ok, true);
      assert.deepEqual(
        lie.majority.map((r) => r.checker),
        honest,
      );
    }
    assert.deepEqual(
      await listContradictions(ctx.ledger, { checker: honest[0] ?? '', fromChainSec: 0n, toChainSec: 10_000n }),
      [],
    );
  });
});
