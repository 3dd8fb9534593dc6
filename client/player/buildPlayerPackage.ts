/**
 * Builds `@ath-edge/player`, the npm package studios install instead of the script at `/sdk/ath-play.js`:
 *   index.js                      the SDK and `<ath-play>` as one ES module (esbuild), with its source map
 *   types/…/client/player/index.d.ts and what it imports: the type declarations (the TypeScript compiler)
 *   package.json                  name, the project's version, `exports` with `types`, the declarations' dependencies
 *   README.md
 * A development tool (it needs `typescript`, a devDependency): `npm run build:player`, or the test beside it.
 */
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import ts from 'typescript';
import { AthError } from '../../signaling/protocol/index.js';
import { ClientErrorCode } from '../errors.js';

const PLAYER_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_DIR = join(PLAYER_DIR, '..', '..');
const ENTRY = join(PLAYER_DIR, 'index.ts');

export const PLAYER_PACKAGE_NAME = '@ath-edge/player';
export const PLAYER_PACKAGE_DIR = join(PLAYER_DIR, 'dist');

export type BuildPlayerPackageParameters = { outDir?: string };

export type BuildPlayerPackageReturnType = {
  outDir: string;
  name: string;
  version: string;
  /** What `index.js` exports at run time (esbuild's metafile). */
  runtimeExports: string[];
  /** `types` in package.json, relative to outDir. */
  typesEntry: string;
  /** Packages the declarations import (with the project's version ranges): the package's dependencies. */
  dependencies: Record<string, string>;
};

type RootManifest = { version: string; dependencies: Record<string, string>; devDependencies: Record<string, string> };

function buildError(shortMessage: string, details?: string, cause?: unknown): AthError {
  return new AthError({ code: ClientErrorCode.build, shortMessage, details, cause });
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

/** The bare module specifiers the declarations import (`@sinclair/typebox`, not `./x.js`), by package name. */
async function declarationImports(dir: string): Promise<Set<string>> {
  const names = new Set<string>();
  for (const file of await filesUnder(dir)) {
    if (!file.endsWith('.d.ts')) continue;
    for (const [, specifier = ''] of (await readFile(file, 'utf8')).matchAll(/(?:from|import\()\s*['"]([^'"]+)['"]/g)) {
      if (specifier.startsWith('.') || specifier.startsWith('node:')) continue;
      const parts = specifier.split('/');
      names.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier));
    }
  }
  return names;
}

function emitDeclarations(outDir: string): void {
  const options: ts.CompilerOptions = {
    declaration: true,
    emitDeclarationOnly: true,
    outDir,
    rootDir: REPO_DIR,
    target: ts.ScriptTarget.ES2023,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noUncheckedIndexedAccess: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    skipLibCheck: true,
    types: [],
  };
  const program = ts.createProgram([ENTRY], options);
  const emitted = program.emit();
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
  if (diagnostics.length > 0) {
    throw buildError(
      'the player package declarations do not compile',
      ts.formatDiagnostics(diagnostics.slice(0, 20), {
        getCanonicalFileName: (name) => name,
        getCurrentDirectory: () => REPO_DIR,
        getNewLine: () => '\n',
      }),
    );
  }
}

export async function buildPlayerPackage({
  outDir = PLAYER_PACKAGE_DIR,
}: BuildPlayerPackageParameters = {}): Promise<BuildPlayerPackageReturnType> {
  const root = JSON.parse(await readFile(join(REPO_DIR, 'package.json'), 'utf8')) as RootManifest;
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });

  let runtimeExports: string[];
  try {
    const result = await build({
      entryPoints: [ENTRY],
      outfile: join(outDir, 'index.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['chrome110', 'firefox115', 'safari16'],
      sourcemap: 'linked',
      minify: true,
      legalComments: 'none',
      logLevel: 'silent',
      metafile: true,
      charset: 'utf8',
      absWorkingDir: REPO_DIR,
      define: { 'process.env.NODE_ENV': '"production"', __ATH_PLAYER_VERSION__: JSON.stringify(root.version) },
    });
    const output = Object.entries(result.metafile?.outputs ?? {}).find(([file]) => file.endsWith('index.js'))?.[1];
    runtimeExports = [...(output?.exports ?? [])].sort();
  } catch (cause) {
    throw buildError('the player package bundle failed', cause instanceof Error ? cause.message : undefined, cause);
  }

  const typesDir = join(outDir, 'types');
  emitDeclarations(typesDir);
  const typesEntry = relative(outDir, join(typesDir, relative(REPO_DIR, ENTRY).replace(/\.ts$/, '.d.ts')));

  const versions = { ...root.devDependencies, ...root.dependencies };
  const dependencies: Record<string, string> = {};
  for (const name of [...(await declarationImports(typesDir))].sort()) {
    const range = versions[name];
    if (!range) throw buildError(`the declarations import ${name}, which package.json does not list`);
    dependencies[name] = range;
  }

  const manifest = {
    name: PLAYER_PACKAGE_NAME,
    version: root.version,
    description: 'ath-edge player: stream a game from the ath-edge network into a page (AthPlayer, <ath-play>)',
    type: 'module',
    main: './index.js',
    types: `./${typesEntry}`,
    exports: { '.': { types: `./${typesEntry}`, import: './index.js' } },
    sideEffects: false,
    files: ['index.js', 'index.js.map', 'types', 'README.md'],
    license: 'UNLICENSED',
    dependencies,
  };
  await writeFile(join(outDir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await copyFile(join(PLAYER_DIR, 'README.md'), join(outDir, 'README.md'));
  return { outDir, name: PLAYER_PACKAGE_NAME, version: root.version, runtimeExports, typesEntry, dependencies };
}
