/**
 * Every cross-role scenario, in one process so they share one running stack and one Chromium (starting a
 * stack per scenario would cost minutes). Each scenario module registers its own `describe`.
 */
import { after, before } from 'node:test';
import { closeSharedBrowser, sharedBrowser } from './support/sharedBrowser.js';
import { closeSharedStack, sharedStack } from './support/sharedStack.js';
import './scenarios/streaming.js';
import './scenarios/indexer.js';
import './scenarios/economy.js';
import './scenarios/apps.js';
import './scenarios/studios.js';
import './scenarios/metrics.js';
import './scenarios/relay.js';

// Chromium starts while the stack comes up (each scenario's `before` then finds both running).
before(async () => {
  await Promise.all([sharedStack(), sharedBrowser()]);
});

after(async () => {
  await closeSharedBrowser();
  await closeSharedStack();
});
