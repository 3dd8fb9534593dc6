/**
 * `@ath-edge/player` as a studio gets it: the built package (ES module, declarations, package.json with the
 * project's version) installed into a fresh consumer project, whose TypeScript compiles strictly against it —
 * and a consumer that misuses the types (an unknown event, a wrong field) does not compile, so the
 * declarations are real types, not `any`.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { type BuildPlayerPackageReturnType, buildPlayerPackage, PLAYER_PACKAGE_NAME } from './buildPlayerPackage.js';

const REPO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ROOT_VERSION = (JSON.parse(readFileSync(join(REPO_DIR, 'package.json'), 'utf8')) as { version: string }).version;

let dir: string;
let built: BuildPlayerPackageReturnType;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ath-player-package-'));
  built = await buildPlayerPackage({ outDir: join(dir, 'package') });
  // A consumer project: node_modules holds a copy of the package (as `npm install` of its tarball would) and
  // what its declarations import.
  const modules = join(dir, 'consumer', 'node_modules');
  mkdirSync(join(modules, '@ath-edge'), { recursive: true });
  cpSync(built.outDir, join(modules, '@ath-edge', 'player'), { recursive: true });
  for (const name of Object.keys(built.dependencies)) {
    mkdirSync(dirname(join(modules, name)), { recursive: true });
    symlinkSync(join(REPO_DIR, 'node_modules', name), join(modules, name), 'dir');
  }
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The last consumer program: the next one reuses its unchanged files (lib.dom, viem, the package) instead of parsing them again. */
let previous: ts.Program | undefined;

/**
 * Compiles one consumer file the way a studio's strict TypeScript project would; returns the errors in that file and
 * in the package's own declarations (the dependencies' declarations, viem's, are theirs to check: not checked here).
 */
function compile(name: string, source: string): string[] {
  const file = join(dir, 'consumer', name);
  writeFileSync(file, source);
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    types: [],
    skipLibCheck: false,
    skipDefaultLibCheck: true,
  };
  const program = ts.createProgram([file], options, undefined, previous);
  previous = program;
  const checked = program
    .getSourceFiles()
    .filter((f) => f.fileName === file || f.fileName.includes('/node_modules/@ath-edge/player/'));
  assert.ok(checked.length > 1, 'the consumer and the package’s declarations');
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...checked.flatMap((f) => [...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f)]),
  ];
  return diagnostics.map((d) => {
    const where = d.file
      ? `${d.file.fileName.replace(dir, '')}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}`
      : '';
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}

describe('@ath-edge/player', () => {
  test('package.json: name, the project version, an ESM entry with its types', () => {
    const manifest = JSON.parse(readFileSync(join(built.outDir, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
      type: string;
      exports: { '.': { types: string; import: string } };
      dependencies: Record<string, string>;
    };
    assert.equal(manifest.name, PLAYER_PACKAGE_NAME);
    assert.equal(manifest.version, ROOT_VERSION);
    assert.equal(manifest.type, 'module');
    assert.equal(manifest.exports['.'].import, './index.js');
    assert.match(manifest.exports['.'].types, /\.d\.ts$/);
    readFileSync(join(built.outDir, manifest.exports['.'].types), 'utf8');
    const bundle = readFileSync(join(built.outDir, 'index.js'), 'utf8');
    assert.ok(bundle.includes(JSON.stringify(ROOT_VERSION)), 'the version is in the bundle');
    for (const name of ['AthPlayer', 'AthPlayElement', 'defineAthPlay', 'PlayerPlayingEvent', 'ATH_PLAYER_VERSION']) {
      assert.ok(built.runtimeExports.includes(name), `index.js exports ${name}`);
    }
  });

  test('a strict TypeScript consumer compiles against it', () => {
    const errors = compile(
      'studio.ts',
      `import {
  ATH_PLAYER_VERSION,
  AthPlayer,
  type AthPlayElement,
  defineAthPlay,
  type EndedData,
  parsePlaySettings,
  PlayerPlayingEvent,
  type StatsSample,
} from '@ath-edge/player';

defineAthPlay();
const element: AthPlayElement | null = document.querySelector('ath-play');
element?.addEventListener('playing', (event) => {
  const sessionId: string = event.data.sessionId;
  const firstFrameMs: number = event.data.firstFrameMs;
  console.log(sessionId, firstFrameMs, event instanceof PlayerPlayingEvent);
});
element?.addEventListener('ended', (event) => {
  const data: EndedData = event.data;
  console.log(data.reason, data.message);
});
element?.addEventListener('click', (event) => console.log(event.clientX));

const player = new AthPlayer({
  video: document.createElement('video'),
  settings: parsePlaySettings({
    attribute: (name) => (name === 'game' ? 'supertux' : null),
    urlParams: new URLSearchParams(location.search),
    defaultServer: location.origin,
  }),
});
const off = player.on('stats', (event) => {
  const sample: StatsSample = event.data;
  console.log(sample.rttMs ?? 0, sample.fps ?? 0);
});
player.on('error', (event) => console.log(event.data.code, event.data.message));
void player.play({ game: 'supertux' }).then(off);
const version: string = ATH_PLAYER_VERSION;
console.log(version);
`,
    );
    assert.deepEqual(errors, []);
  });

  test('misuse does not compile: an unknown event, a field an event does not have, a wrong argument', () => {
    const errors = compile(
      'wrong.ts',
      `import { AthPlayer, defineAthPlay } from '@ath-edge/player';
defineAthPlay();
const element = document.querySelector('ath-play');
element?.addEventListener('playing', (event) => console.log(event.data.noSuchField));
declare const player: AthPlayer;
player.on('no-such-event', () => undefined);
void player.play({ game: 42 });
`,
    );
    assert.equal(errors.length, 3, errors.join('\n'));
    assert.match(errors.join('\n'), /noSuchField/);
    assert.match(errors.join('\n'), /no-such-event/);
  });
});
