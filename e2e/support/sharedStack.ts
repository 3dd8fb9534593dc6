/**
 * One running network for every e2e scenario in this process: built client, signaling, render host(s),
 * each role in its own process exactly as `npm start` runs them, on free loopback ports in a temp data dir.
 * Scenarios that need other settings add their own render hosts to it (and stop them).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildClient } from '../../client/index.js';
import { type Stack, startStack } from '../../edge/index.js';
import {
  startTestTurnServer,
  type TestTurnServer,
  turnServerMissingReason,
} from '../../signaling/ice/testing/startTestTurnServer.js';
import { e2eConfig } from './e2eConfig.js';

let stack: Promise<Stack> | undefined;
let turn: TestTurnServer | undefined;

/** The shared stack's coturn (its signaling issues credentials for it), when coturn is installed. */
export function sharedTurn(): TestTurnServer | undefined {
  return turn;
}

/** The shared stack, started on first use; the e2e entry file stops it in its root `after`. */
export function sharedStack(): Promise<Stack> {
  if (!stack) {
    stack = (async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'ath-e2e-'));
      // The client bundle builds while coturn and the chain start (startStack awaits it before signaling).
      const clientDir = buildClient({}).then(({ outDir }) => outDir);
      clientDir.catch(() => undefined);
      // A real TURN relay beside the stack: every session gets credentials for it (players use it with `relay`).
      turn = turnServerMissingReason() ? undefined : await startTestTurnServer();
      const relay = turn ? { turn: { urls: [turn.urls.udp, turn.urls.tcp, turn.urls.tls], secret: turn.secret } } : {};
      const started = await startStack({ config: e2eConfig(dataDir, relay), clientDir });
      process.stderr.write(`e2e: stack up at ${started.signaling.info.httpUrl} (logs in ${started.logDir})\n`);
      return started;
    })();
  }
  return stack;
}

export async function closeSharedStack(): Promise<void> {
  const running = stack;
  stack = undefined;
  await (await running)?.close();
  await turn?.close();
  turn = undefined;
}
