import type { Logger } from 'pino';
import { AthError } from '../../signaling/protocol/index.js';
import type { AppManifest } from './AppManifest.js';
import { checkAppAvailability } from './checkAppAvailability.js';
import { AppsErrorCode } from './errors.js';
import { loadAppCatalogue } from './loadAppCatalogue.js';

export type SelectServedAppsParameters = {
  /** `auto`: every catalogue game this machine can run; a list: those games (each must be in the catalogue). */
  apps: 'auto' | readonly string[];
  /** The provider's manifest directory (one JSON file per game), on top of the built-in entries. */
  directory?: string | undefined;
  /** Serve GPU games on Xvfb's software OpenGL anyway (demos only: ≈4 fps). */
  allowSoftwareGl?: boolean;
  log: Logger;
};

/**
 * The external games a render host serves: the catalogue (built-in manifests + the provider's directory),
 * narrowed to what was asked for and to what this machine can run. A listed game that cannot run (not
 * installed, needs a GPU) is left out with a warning naming what is missing — the host still starts and
 * serves everything else; a listed id the catalogue does not know is a configuration error (ATH_ERR_UNKNOWN_APP).
 */
export async function selectServedApps({
  apps,
  directory,
  allowSoftwareGl = false,
  log,
}: SelectServedAppsParameters): Promise<AppManifest[]> {
  const catalogue = await loadAppCatalogue({ directory });
  if (apps !== 'auto') {
    const unknown = apps.filter((id) => !catalogue.some((manifest) => manifest.id === id));
    if (unknown.length > 0) {
      throw new AthError({
        code: AppsErrorCode.unknownApp,
        shortMessage: 'renderHost.apps names games the catalogue does not have',
        details: `${unknown.join(', ')} (known: ${catalogue.map((manifest) => manifest.id).join(', ')})`,
      });
    }
  }
  const wanted = apps === 'auto' ? catalogue : catalogue.filter((manifest) => apps.includes(manifest.id));
  const availability = await checkAppAvailability({ catalogue: wanted, allowSoftwareGl });
  const served: AppManifest[] = [];
  for (const manifest of wanted) {
    const entry = availability.find((candidate) => candidate.id === manifest.id);
    if (entry?.runnable) served.push(manifest);
    // `auto` skips what this machine lacks quietly; an explicit list is worth a warning.
    else if (apps !== 'auto') log.warn({ game: manifest.id, reason: entry?.reason }, 'external game not served');
  }
  log.info({ games: served.map((manifest) => manifest.id) }, 'external games served');
  return served;
}
