import { after, before, describe } from 'node:test';
import { type Ledger, openLedger } from '../openLedger.js';
import { type StartTestPostgresReturnType, startTestPostgres } from './startTestPostgres.js';

export type LedgerTestContext = {
  /** The ledger under test (available inside tests and hooks, not while describing). */
  readonly ledger: Ledger;
  readonly driver: Ledger['driver'];
  /** The server, for the `pg` run only (to open more connections or databases). */
  readonly server: StartTestPostgresReturnType | undefined;
};

/**
 * Declares the same suite twice: on an in-memory PGlite and on a throw-away PostgreSQL server
 * (`startTestPostgres`), each with one ledger opened in `before` and closed in `after`.
 */
export function describeLedger(name: string, body: (context: LedgerTestContext) => void): void {
  for (const driver of ['pglite', 'pg'] as const) {
    describe(`${name} [${driver}]`, () => {
      let ledger: Ledger | undefined;
      let server: StartTestPostgresReturnType | undefined;
      before(async () => {
        if (driver === 'pg') server = await startTestPostgres();
        ledger = await openLedger(server === undefined ? {} : { databaseUrl: server.url });
      });
      after(async () => {
        await ledger?.close();
        await server?.close();
      });
      body({
        get ledger() {
          if (ledger === undefined) throw new Error('the ledger opens in before(): use it inside a test');
          return ledger;
        },
        driver,
        get server() {
          return server;
        },
      });
    });
  }
}
