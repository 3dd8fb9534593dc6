import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AthError } from '../../signaling/protocol/index.js';
import { type AppManifest, parseAppManifest } from './AppManifest.js';
import { BUILTIN_APP_MANIFESTS } from './builtinApps.js';
import { AppsErrorCode } from './errors.js';

export type LoadAppCatalogueParameters = {
  /** A directory of `*.json` manifests (one game per file); absent = built-in entries only. */
  directory?: string | undefined;
  /** Include the built-in entries (SuperTux, SuperTuxKart, OpenArena). Default true. */
  builtins?: boolean;
};

/**
 * The game catalogue of a render host: the built-in manifests plus one per JSON file in `directory`
 * (sorted by file name). A file whose `id` equals a built-in's replaces it (a provider's own SuperTux level,
 * say); two files with the same id, unreadable JSON or an invalid manifest throw ATH_ERR_APP_MANIFEST naming
 * the file, so a provider sees the mistake at start-up rather than a game silently missing.
 */
export async function loadAppCatalogue({
  directory,
  builtins = true,
}: LoadAppCatalogueParameters = {}): Promise<AppManifest[]> {
  const byId = new Map<string, AppManifest>();
  if (builtins) for (const manifest of BUILTIN_APP_MANIFESTS) byId.set(manifest.id, manifest);
  if (directory === undefined) return [...byId.values()];
  let names: string[];
  try {
    names = (await readdir(directory)).filter((name) => name.endsWith('.json')).sort();
  } catch (error) {
    throw new AthError({
      code: AppsErrorCode.badManifest,
      shortMessage: 'cannot read the game manifest directory',
      details: directory,
      cause: error,
    });
  }
  const fromFiles = new Set<string>();
  for (const name of names) {
    const path = join(directory, name);
    let data: unknown;
    try {
      data = JSON.parse(await readFile(path, 'utf8'));
    } catch (error) {
      throw new AthError({
        code: AppsErrorCode.badManifest,
        shortMessage: `invalid game manifest in ${path}`,
        details: error instanceof Error ? error.message : String(error),
        cause: error,
      });
    }
    const manifest = parseAppManifest(data, path);
    if (fromFiles.has(manifest.id)) {
      throw new AthError({
        code: AppsErrorCode.badManifest,
        shortMessage: `invalid game manifest in ${path}`,
        details: `another file in ${directory} already defines ${manifest.id}`,
      });
    }
    fromFiles.add(manifest.id);
    byId.set(manifest.id, manifest);
  }
  return [...byId.values()];
}

/** The catalogue entry with this id; throws AthError ATH_ERR_UNKNOWN_APP otherwise. */
export function findAppManifest(catalogue: readonly AppManifest[], id: string): AppManifest {
  const manifest = catalogue.find((candidate) => candidate.id === id);
  if (!manifest) throw new AthError({ code: AppsErrorCode.unknownApp, shortMessage: 'no such game', details: id });
  return manifest;
}
