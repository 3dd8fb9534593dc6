/**
 * Every cross-role scenario, in one process so they share one running stack and one Chromium (starting a
 * stack per scenario would cost minutes). Each scenario module registers its own `describe`.
 */
import { after } from 'node:test';
import { closeSharedBrowser } from './support/sharedBrowser.js';
import { closeSharedStack } from './support/sharedStack.js';
import './scenarios/streaming.js';
import './scenarios/indexer.js';
import './scenarios/economy.js';
import './scenarios/apps.js';
import './scenarios/studios.js';
import './scenarios/metrics.js';
import './scenarios/relay.js';

after(async () => {
  await closeSharedBrowser();
  await closeSharedStack();
});
