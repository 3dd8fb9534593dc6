import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CheckReport, isAthError } from '../../signaling/protocol/index.js';
import { getAccount } from './accounts.js';
import { listCheckReports, recordCheckReport, recordRoundVerdict } from './checkerReports.js';
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
});
