/**
 * The `ath-edge` command line: help on every command and group, --version, exit status 0 / 1 / 2, flags in
 * command-line order into the configuration. In-process through `runCli` with the real command table, plus the
 * real executable in a child process for the exit codes a shell sees.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { EdgeConfig } from '../config/EdgeConfig.js';
import { COMMANDS } from './commands.js';
import { CONFIG_FLAGS } from './configFlags.js';
import { type CliCommand, defineCommand } from './defineCommand.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, runCli } from './runCli.js';

const BIN = fileURLToPath(new URL('../bin/ath-edge.js', import.meta.url));
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

type Run = { code: number; out: string; err: string };

async function cli(argv: string[], commands: readonly CliCommand[] = COMMANDS): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli({
    argv,
    commands,
    env: {},
    print: (line) => out.push(line),
    printError: (line) => err.push(line),
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const commandNames = COMMANDS.map((c) => c.path.join(' '));

describe('help', () => {
  test('every command and subcommand answers --help and -h with its usage, exit 0', async () => {
    assert.ok(commandNames.length >= 8, commandNames.join(', '));
    for (const command of COMMANDS) {
      for (const flag of ['--help', '-h']) {
        const run = await cli([...command.path, flag]);
        assert.equal(run.code, EXIT_OK, `${command.path.join(' ')} ${flag}: ${run.err}`);
        assert.match(run.out, new RegExp(`^Usage: ath-edge ${command.path.join(' ')}`), command.path.join(' '));
        for (const [name, spec] of Object.entries(command.flags)) {
          if (!spec.hidden) assert.match(run.out, new RegExp(`--${name}\\b`), `${command.path.join(' ')} --${name}`);
        }
        if (command.config)
          for (const name of Object.keys(CONFIG_FLAGS)) assert.match(run.out, new RegExp(`--${name}\\b`));
        assert.equal(run.err, '');
      }
    }
  });

  test('--help wins over other flags, even wrong ones, and `help <command>` says the same', async () => {
    const direct = await cli(['render-host', '--bogus', '--help']);
    assert.equal(direct.code, EXIT_OK);
    const viaHelp = await cli(['help', 'render-host']);
    assert.equal(viaHelp.code, EXIT_OK);
    assert.equal(viaHelp.out, direct.out);
  });

  test('the group `provider` lists its subcommands on --help and `help provider`', async () => {
    for (const argv of [
      ['provider', '--help'],
      ['provider', '-h'],
      ['help', 'provider'],
    ]) {
      const run = await cli(argv);
      assert.equal(run.code, EXIT_OK, argv.join(' '));
      assert.match(run.out, /^Usage: ath-edge provider <command>/);
      for (const sub of ['join', 'status', 'setup']) assert.match(run.out, new RegExp(`^  ${sub} `, 'm'));
    }
  });

  test('ath-edge --help, -h and `help` list every command and the exit statuses', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const run = await cli(argv);
      assert.equal(run.code, EXIT_OK);
      for (const name of commandNames) assert.match(run.out, new RegExp(`^  ${name} `, 'm'), name);
      assert.match(run.out, /0 done, 1 failed while running, 2 wrong command line/);
    }
  });
});

describe('--version', () => {
  test("prints package.json's version, alone or after a command, exit 0", async () => {
    for (const argv of [['--version'], ['signaling', '--version'], ['provider', 'status', '--version']]) {
      const run = await cli(argv);
      assert.equal(run.code, EXIT_OK, argv.join(' '));
      assert.equal(run.out, `ath-edge ${VERSION}`);
    }
  });
});

describe('usage errors exit 2 and name the problem', () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /no command given/],
    [['bogus'], /unknown command `bogus`/],
    [['--bogus'], /a command comes first/],
    [['provider'], /`provider` needs a command/],
    [['provider', 'leave'], /unknown command `provider leave`/],
    [['help', 'nothing'], /no command `nothing`/],
    [['signaling', '--port'], /--port needs a value/],
    [['signaling', '--port', '--slots', '2'], /--port needs a value/],
    [['provider', 'status', '--json=yes'], /--json takes no value/],
    [['checker', 'extra'], /unexpected argument `extra`/],
    [['all', '--set', 'renderHost.slots'], /--set takes PATH=VALUE/],
    [['all', '--set', 'renderHost.nope=1'], /unknown setting `renderHost.nope`/],
    [['signaling', '--slots', '0'], /renderHost\/slots/],
    [['deploy', '--network', 'mars', '--rpc', 'http://x', '--key', 'k'], /--network must be one of/],
    [['deploy', '--port', '1'], /unknown flag --port/],
    [['provider', 'status', '--address', '0x12'], /--address takes a 0x… wallet address/],
  ];
  for (const [argv, message] of cases) {
    test(`ath-edge ${argv.join(' ') || '(nothing)'}`, async () => {
      const run = await cli(argv);
      assert.equal(run.code, EXIT_USAGE, run.err);
      assert.match(run.err, message);
      assert.equal(run.out, '');
    });
  }

  test('an unknown flag is a usage error on every command', async () => {
    for (const command of COMMANDS) {
      const run = await cli([...command.path, '--no-such-flag']);
      assert.equal(run.code, EXIT_USAGE, command.path.join(' '));
      assert.match(run.err, /unknown flag --no-such-flag/);
      assert.match(run.err, new RegExp(`ath-edge ${command.path.join(' ')} --help`));
    }
  });
});

describe('flags reach the command', () => {
  let seen: { flags: unknown; config: EdgeConfig } | undefined;
  const probe = defineCommand({
    path: ['probe'],
    summary: 'test',
    flags: {
      name: { type: 'string', value: 'N', help: 'a string' },
      loud: { type: 'boolean', help: 'a switch' },
      tag: { type: 'string', value: 'T', multiple: true, help: 'a list' },
    },
    config: true,
    run: async ({ flags, loadConfig }) => {
      // Typed by the table: a string, a boolean, a list.
      const typed: { name: string | undefined; loud: boolean | undefined; tag: string[] | undefined } = flags;
      seen = { flags: typed, config: loadConfig() };
    },
  });

  test('own flags typed by the table; configuration flags in command-line order, the later one winning', async () => {
    const run = await cli(
      ['probe', '--name=x', '--loud', '--tag', 'a', '--tag', 'b', '--set', 'renderHost.slots=3', '--slots', '5'],
      [probe],
    );
    assert.equal(run.code, EXIT_OK, run.err);
    assert.deepEqual(seen?.flags, { name: 'x', loud: true, tag: ['a', 'b'] });
    assert.equal(seen?.config.renderHost.slots, 5);
    await cli(['probe', '--slots', '5', '--set', 'renderHost.slots=3', '--port', '9123'], [probe]);
    assert.equal(seen?.config.renderHost.slots, 3);
    assert.equal(seen?.config.signaling.httpPort, 9123);
  });

  test('every shorthand sets the setting it names', async () => {
    const values: Record<string, string> = {
      port: '9001',
      slots: '7',
      signaling: 'http://127.0.0.1:9',
      'host-id': 'host-a',
      price: '123',
      'render-hosts': '2',
      redis: 'redis://127.0.0.1:6390',
      'signaling-instances': '2',
      network: 'none',
      'rpc-url': 'http://127.0.0.1:8545',
      'anvil-host': '0.0.0.0',
      'log-level': 'warn',
      'data-dir': '/tmp/ath-cli-test',
      'tls-cert': '/tmp/ath-cli-test/cert.pem',
      'tls-key': '/tmp/ath-cli-test/key.pem',
      'tls-ca': '/tmp/ath-cli-test/ca.pem',
      // A switch: given alone, it sets its setting to true.
      tls: 'true',
    };
    assert.deepEqual(Object.keys(values).sort(), Object.keys(CONFIG_FLAGS).sort(), 'a value for every shorthand');
    const switches = new Set(
      Object.entries(CONFIG_FLAGS)
        .filter(([, spec]) => spec.type === 'boolean')
        .map(([name]) => name),
    );
    const argv = [
      'probe',
      ...Object.entries(values).flatMap(([name, value]) => (switches.has(name) ? [`--${name}`] : [`--${name}`, value])),
    ];
    const run = await cli(argv, [probe]);
    assert.equal(run.code, EXIT_OK, run.err);
    for (const [name, spec] of Object.entries(CONFIG_FLAGS)) {
      const actual = spec.setting
        .split('.')
        .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], seen?.config);
      assert.equal(String(actual), values[name], `--${name} → ${spec.setting}`);
    }
  });

  test('a command that fails while running exits 1 with its error code', async () => {
    const failing = defineCommand({
      path: ['fail'],
      summary: 'test',
      flags: {},
      config: false,
      run: async () => {
        throw new Error('boom');
      },
    });
    const run = await cli(['fail'], [failing]);
    assert.equal(run.code, EXIT_FAILED);
    assert.match(run.err, /ath-edge fail: Error: boom/);
  });
});

describe('the executable', () => {
  const exec = (argv: string[]) =>
    new Promise<Run>((resolve) => {
      execFile(process.execPath, [BIN, ...argv], { timeout: 60_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr });
      });
    });

  test('exit status 0 for --version, 2 for a usage error, 1 when signaling is unreachable', async () => {
    const version = await exec(['--version']);
    assert.equal(version.code, 0, version.err);
    assert.equal(version.out.trim(), `ath-edge ${VERSION}`);
    const usage = await exec(['signaling', '--bogus']);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /unknown flag --bogus/);
    const runtime = await exec([
      'provider',
      'status',
      '--address',
      '0x0000000000000000000000000000000000000001',
      '--signaling',
      'http://127.0.0.1:1',
    ]);
    assert.equal(runtime.code, 1, runtime.err);
    assert.match(runtime.err, /signaling unreachable at http:\/\/127.0.0.1:1 \[ATH_ERR_SIGNALING_UNREACHABLE\]/);
  });
});
