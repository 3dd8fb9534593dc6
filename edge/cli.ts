/**
 * `ath-edge` — the node you run. One command per role; `all` runs the whole network on this machine.
 * Console output is for people (what runs, where to look); the roles' structured logs go to pino.
 * Exit status: 0 done (a server: until stopped), 1 failed while running, 2 wrong command line or configuration.
 */
// First: sets the native allocators' options, which they read once, when they load.
import '../render-host/nativeAllocatorDefaults.js';
import { COMMANDS } from './cli/commands.js';
import { EXIT_OK, runCli } from './cli/runCli.js';

const code = await runCli({ argv: process.argv.slice(2), commands: COMMANDS, env: process.env });
// A failed start may leave handles (sockets, timers) behind: exit rather than linger.
if (code !== EXIT_OK) process.exit(code);
