// A second `node --test` reporter beside the console one: how long each test file took (its process's whole
// run, start-up included), so scripts/test.mjs can say at the end of a lane where the time went and start the
// longest files first next time. The runner reports each file as a test named by its path: one JSON line
// `[file, seconds]` is appended to $ATH_TEST_TIMES_FILE when it completes. Failed tests go to
// $ATH_TEST_FAILURES_FILE as `[file, line, name, message]`, so the run can end with a short list of what failed
// and why (a CI log shows only its tail). Written synchronously, not yielded: --test-force-exit ends the process
// as soon as the last file is done, before a reporter's stream is flushed.
import { appendFileSync } from 'node:fs';
import { relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

// biome-ignore lint/style/noDefaultExport: node --test loads a custom reporter from its default export
export default async function* testTimes(source) {
  const out = process.env.ATH_TEST_TIMES_FILE;
  const failures = process.env.ATH_TEST_FAILURES_FILE;
  for await (const event of source) {
    if (failures && event.type === 'test:fail') recordFailure(failures, event.data);
    if (!out || event.type !== 'test:complete') continue;
    const { file, name, nesting, details } = event.data;
    if (nesting !== 0 || !file || name !== file || typeof details?.duration_ms !== 'number') continue;
    appendFileSync(out, `${JSON.stringify([relative(root, file), details.duration_ms / 1000])}\n`);
  }
  yield '';
}

/** One failed test, unless it failed only because a subtest did (that subtest has its own line). */
function recordFailure(path, { file, line, name, details }) {
  const error = details?.error;
  if (error?.failureType === 'subtestsFailed') return;
  const cause = typeof error?.cause === 'object' && error.cause !== null ? error.cause : error;
  const message = String(cause?.message ?? error ?? 'failed')
    .split('\n')
    .filter((part) => part.trim() !== '')
    .slice(0, 3)
    .join(' / ');
  appendFileSync(path, `${JSON.stringify([file ? relative(root, file) : '?', line ?? 0, name, message])}\n`);
}
