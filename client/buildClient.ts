/**
 * Bundles the browser client with esbuild into `client/dist/` (served by signaling at `/`):
 *   index.html            the play page
 *   assets/play.js        its script (ES module: SDK + <ath-play> + page)
 *   sdk/ath-play.js       `<ath-play>` as ONE self-contained classic script for studios to embed, its first
 *                         line naming its version (`@ath-edge/player`'s: package.json's)
 * Pages are a table, so later ones (provider dashboard, wallet, embed docs) are one entry each.
 */
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { AthError } from '../signaling/protocol/index.js';
import { ClientErrorCode } from './errors.js';

const CLIENT_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_DIR = dirname(CLIENT_DIR);

/** Where `npm run build:client` writes, and what signaling serves as `clientDir` by default. */
export const CLIENT_DIST_DIR = join(CLIENT_DIR, 'dist');

type PageEntry = { html: string; script: string; outHtml: string; outScript: string };

const PAGES: readonly PageEntry[] = [
  { html: 'pages/play/index.html', script: 'pages/play/play.ts', outHtml: 'index.html', outScript: 'assets/play' },
  {
    html: 'pages/providers/index.html',
    script: 'pages/providers/providers.ts',
    outHtml: 'providers/index.html',
    outScript: 'assets/providers',
  },
  // The studios' iframe: a template signaling fills in at GET /embed/:game (allowed origin).
  { html: 'pages/embed/index.html', script: 'pages/embed/embed.ts', outHtml: 'embed.html', outScript: 'assets/embed' },
];

/** Pages without a script of their own (docs). */
const STATIC_PAGES: ReadonlyArray<{ html: string; outHtml: string }> = [
  { html: 'pages/docs/embed.html', outHtml: 'docs/embed.html' },
];

/** Files copied as they are. */
const STATIC_FILES: ReadonlyArray<{ html: string; outHtml: string }> = [
  { html: 'pages/site.css', outHtml: 'assets/site.css' },
];

const ELEMENT_ENTRY = { in: join(CLIENT_DIR, 'elements/ath-play.ts'), out: 'sdk/ath-play' };

export type BuildClientParameters = { outDir?: string; minify?: boolean };
export type BuildClientReturnType = {
  outDir: string;
  /** Paths relative to outDir of everything written. */
  files: string[];
  durationMs: number;
  /** Every source file that went into each bundle (relative to the repo), for checks. */
  inputs: Record<string, string[]>;
};

const COMMON: BuildOptions = {
  bundle: true,
  platform: 'browser',
  target: ['chrome110', 'firefox115', 'safari16'],
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'silent',
  metafile: true,
  define: { 'process.env.NODE_ENV': '"production"' },
  charset: 'utf8',
  absWorkingDir: REPO_DIR,
};

function inputsOf(metafile: Metafile): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const [file, output] of Object.entries(metafile.outputs)) {
    if (file.endsWith('.map')) continue;
    result[file] = Object.keys(output.inputs);
  }
  return result;
}

/** Builds the client; rejects with `ATH_ERR_CLIENT_BUILD` (esbuild's messages in `details`). */
export async function buildClient({
  outDir = CLIENT_DIST_DIR,
  minify = true,
}: BuildClientParameters = {}): Promise<BuildClientReturnType> {
  const startedMs = performance.now();
  const { version } = JSON.parse(await readFile(join(REPO_DIR, 'package.json'), 'utf8')) as { version: string };
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  try {
    const [pages, element] = await Promise.all([
      build({
        ...COMMON,
        minify,
        format: 'esm',
        splitting: false,
        entryPoints: PAGES.map((page) => ({ in: join(CLIENT_DIR, page.script), out: page.outScript })),
        outdir: outDir,
      }),
      build({
        ...COMMON,
        minify,
        format: 'iife',
        entryPoints: [ELEMENT_ENTRY],
        outdir: outDir,
        banner: { js: `/*! @ath-edge/player ${version} — <ath-play> for studios' pages */` },
      }),
      ...[...PAGES, ...STATIC_PAGES, ...STATIC_FILES].map(async (page) => {
        const target = join(outDir, page.outHtml);
        await mkdir(dirname(target), { recursive: true });
        await copyFile(join(CLIENT_DIR, page.html), target);
      }),
    ]);
    const pagesMeta = pages.metafile ?? { inputs: {}, outputs: {} };
    const elementMeta = element.metafile ?? { inputs: {}, outputs: {} };
    const outputs = [...Object.keys(pagesMeta.outputs), ...Object.keys(elementMeta.outputs)];
    return {
      outDir,
      files: [
        ...[...PAGES, ...STATIC_PAGES, ...STATIC_FILES].map((page) => page.outHtml),
        ...outputs.map((file) => relative(outDir, resolve(REPO_DIR, file))),
      ],
      durationMs: performance.now() - startedMs,
      inputs: { ...inputsOf(pagesMeta), ...inputsOf(elementMeta) },
    };
  } catch (error) {
    const errors = (error as { errors?: Array<{ text: string; location?: { file: string; line: number } | null }> })
      .errors;
    throw new AthError({
      code: ClientErrorCode.build,
      shortMessage: 'client build failed',
      details: errors?.map((e) => `${e.location ? `${e.location.file}:${e.location.line} ` : ''}${e.text}`).join('\n'),
      cause: error,
    });
  }
}
