import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { AppManifest } from './AppManifest.js';

/** The PATH every game (and helper) is looked up in and started with: the system's, never the host's own. */
export const APP_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games';

/** Helpers every workload needs, and those only games with audio need. */
export const DISPLAY_HELPERS = ['Xvfb', 'xdotool'] as const;
export const AUDIO_HELPERS = ['pulseaudio', 'parec'] as const;

/** The absolute path of an executable (as given if absolute, else the first hit in APP_PATH), if any. */
export async function resolveExecutable(command: string): Promise<string | undefined> {
  const candidates = isAbsolute(command) ? [command] : APP_PATH.split(':').map((dir) => join(dir, command));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here: next directory
    }
  }
  return undefined;
}

export type AppAvailability = {
  id: string;
  /** The host can start sessions of this game. */
  runnable: boolean;
  /** Executables (game or helpers) not found. */
  missing: string[];
  requiresGpu: boolean;
  /** Why not runnable, for people. */
  reason?: string;
};

export type CheckAppAvailabilityParameters = {
  catalogue: readonly AppManifest[];
  /**
   * Serve games marked `requiresGpu` anyway. Sessions run on Xvfb, whose OpenGL is Mesa's software renderer
   * (≈4 fps for SuperTuxKart on 2 cores): only for demos until a GPU-backed display exists.
   */
  allowSoftwareGl?: boolean;
};

/** Which catalogue games this machine can run: their binaries and the helpers are installed. */
export async function checkAppAvailability({
  catalogue,
  allowSoftwareGl = false,
}: CheckAppAvailabilityParameters): Promise<AppAvailability[]> {
  const helperPresent = new Map<string, boolean>();
  for (const helper of [...DISPLAY_HELPERS, ...AUDIO_HELPERS]) {
    helperPresent.set(helper, (await resolveExecutable(helper)) !== undefined);
  }
  const result: AppAvailability[] = [];
  for (const manifest of catalogue) {
    const needed: string[] = [...DISPLAY_HELPERS, ...(manifest.audio ? AUDIO_HELPERS : [])];
    const missing = needed.filter((helper) => !helperPresent.get(helper));
    if ((await resolveExecutable(manifest.launch.command)) === undefined) missing.unshift(manifest.launch.command);
    const reasons: string[] = [];
    if (missing.length > 0) {
      reasons.push(`not installed: ${missing.join(', ')} (Debian: ${manifest.packages.join(' ') || 'n/a'})`);
    }
    if (manifest.requiresGpu && !allowSoftwareGl) {
      reasons.push('needs a GPU-backed display (Xvfb renders OpenGL in software: ≈4 fps for 3D games)');
    }
    result.push({
      id: manifest.id,
      runnable: reasons.length === 0,
      missing,
      requiresGpu: manifest.requiresGpu,
      ...(reasons.length > 0 ? { reason: reasons.join('; ') } : {}),
    });
  }
  return result;
}
