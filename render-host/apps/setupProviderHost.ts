import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { AthError } from '../../signaling/protocol/index.js';
import type { AppManifest } from './AppManifest.js';
import { resolveExecutable } from './checkAppAvailability.js';
import { AppsErrorCode } from './errors.js';

/** What every provider host needs for external games: the virtual display, input injection, the audio server. */
export const PROVIDER_BASE_PACKAGES = ['xvfb', 'xdotool', 'pulseaudio', 'pulseaudio-utils'] as const;

export type SetupProviderHostParameters = {
  catalogue: readonly AppManifest[];
  /** Only these games (ids); default: every catalogue game that does not need a GPU. */
  games?: readonly string[];
  /** Also the games marked `requiresGpu` (when `games` is not given). */
  includeGpuGames?: boolean;
  /** Run `apt-get update` first (a fresh machine). Default true. */
  update?: boolean;
  /** Print the commands without running them. */
  dryRun?: boolean;
  /** Where the progress goes, line by line (the CLI passes console.log). */
  print: (line: string) => void;
};

export type SetupProviderHostReturnType = { packages: string[]; commands: string[][]; ran: boolean };

/**
 * Installs the Debian packages a provider host needs to serve the catalogue (`ath-edge provider setup`):
 * `apt-get install -y xvfb xdotool pulseaudio pulseaudio-utils supertux …`, through sudo when not root.
 * Prints each command and apt's output; throws ATH_ERR_PROVIDER_SETUP when a command fails.
 */
export async function setupProviderHost({
  catalogue,
  games,
  includeGpuGames = false,
  update = true,
  dryRun = false,
  print,
}: SetupProviderHostParameters): Promise<SetupProviderHostReturnType> {
  const selected = games
    ? games.map((id) => {
        const manifest = catalogue.find((candidate) => candidate.id === id);
        if (!manifest)
          throw new AthError({ code: AppsErrorCode.unknownApp, shortMessage: 'no such game', details: id });
        return manifest;
      })
    : catalogue.filter((manifest) => includeGpuGames || !manifest.requiresGpu);
  const packages = [...new Set([...PROVIDER_BASE_PACKAGES, ...selected.flatMap((manifest) => manifest.packages)])];
  const root = process.getuid?.() === 0;
  const prefix = root ? [] : ['sudo', '--non-interactive'];
  const commands = [
    ...(update ? [[...prefix, 'apt-get', 'update']] : []),
    [...prefix, 'apt-get', 'install', '-y', '--no-install-recommends', ...packages],
  ];
  print(`games: ${selected.map((manifest) => manifest.id).join(', ') || '(none)'}`);
  if (dryRun) {
    for (const command of commands) print(`would run: ${command.join(' ')}`);
    return { packages, commands, ran: false };
  }
  if (!root && (await resolveExecutable('sudo')) === undefined) {
    throw new AthError({
      code: AppsErrorCode.setup,
      shortMessage: 'installing packages needs root or sudo',
      details: `run as root: apt-get install -y ${packages.join(' ')}`,
    });
  }
  for (const command of commands) {
    print(`$ ${command.join(' ')}`);
    await runPrinting(command, print);
  }
  return { packages, commands, ran: true };
}

async function runPrinting(command: readonly string[], print: (line: string) => void): Promise<void> {
  const [file, ...args] = command;
  if (file === undefined) return;
  const child = spawn(file, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive', LANG: 'C.UTF-8' },
  });
  for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', print);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  }).catch((error: unknown) => {
    throw new AthError({ code: AppsErrorCode.setup, shortMessage: `could not run ${file}`, cause: error });
  });
  if (code !== 0) {
    throw new AthError({
      code: AppsErrorCode.setup,
      shortMessage: `${command.join(' ')} failed`,
      details: signal ? `killed by ${signal}` : `exit code ${code}`,
    });
  }
}
