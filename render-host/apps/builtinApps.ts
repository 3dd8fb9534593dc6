import { type AppManifest, parseAppManifest } from './AppManifest.js';

/** Standard-mapping gamepad → keys shared by the arrow-key games: d-pad and left stick as arrows. */
const ARROW_PAD_AXES = [
  { axis: 0, negative: 'Left', positive: 'Right' },
  { axis: 1, negative: 'Up', positive: 'Down' },
];

/**
 * SuperTux 0.6.3 (Debian `supertux`): the first level straight from the command line (no menus), SDL's software
 * renderer (≈62 fps at 1280×720 on one core here; the OpenGL renderer on llvmpipe gives ≈16 fps). The level
 * opens on a title card that waits for a key: Return (menu-select, not jump) dismisses it before the player's
 * first frame.
 */
const SUPERTUX = {
  id: 'supertux',
  title: 'SuperTux',
  description:
    'Classic 2D jump’n’run: take Tux across Antarctica. Arrows move, Space jumps, Ctrl runs and fires, Esc pauses.',
  launch: {
    command: 'supertux2',
    args: [
      '--renderer',
      'sdl',
      '--fullscreen',
      '--geometry',
      '{width}x{height}',
      '/usr/share/games/supertux2/levels/world1/welcome_antarctica.stl',
    ],
    env: { SDL_RENDER_DRIVER: 'software', SDL_VIDEODRIVER: 'x11', ALSOFT_DRIVERS: 'pulse' },
    nice: 10,
  },
  width: 1280,
  height: 720,
  fps: 60,
  inputMode: 'absolute',
  audio: true,
  packages: ['supertux'],
  readiness: { kind: 'non-black-frame', minLitPercent: 0.05, timeoutMs: 20_000 },
  startKeys: ['Return'],
  gamepad: {
    buttons: { '0': 'space', '1': 'Control_L', '2': 'Control_L', '3': 'Up', '8': 'Escape', '9': 'Escape' },
    axes: ARROW_PAD_AXES,
    axisThreshold: 0.5,
  },
  requiresGpu: false,
} as const;

/**
 * SuperTuxKart 1.4 (Debian `supertuxkart`): straight into a race. 3D through OpenGL: ≈4 fps on llvmpipe under
 * Xvfb on this 2-core machine, so it needs a GPU-backed display. Not exercised by the tests.
 */
const SUPERTUXKART = {
  id: 'supertuxkart',
  title: 'SuperTuxKart',
  description: '3D kart racing with Tux and friends. Arrows steer and drive, Space fires, N uses nitro. GPU hosts.',
  launch: {
    command: 'supertuxkart',
    args: [
      '--no-start-screen',
      '--track=lighthouse',
      '--kart=tux',
      '--numkarts=4',
      '--laps=3',
      '--screensize={width}x{height}',
      '--fullscreen',
    ],
    env: { SDL_AUDIODRIVER: 'pulseaudio' },
    nice: 5,
  },
  width: 1280,
  height: 720,
  fps: 60,
  inputMode: 'absolute',
  audio: true,
  packages: ['supertuxkart'],
  readiness: { kind: 'non-black-frame', minLitPercent: 1, timeoutMs: 60_000 },
  startKeys: [],
  gamepad: {
    buttons: { '0': 'Up', '1': 'Down', '2': 'space', '3': 'n', '12': 'Up', '13': 'Down', '14': 'Left', '15': 'Right' },
    axes: [{ axis: 0, negative: 'Left', positive: 'Right' }],
    axisThreshold: 0.4,
  },
  requiresGpu: true,
} as const;

/**
 * OpenArena 0.8.8 (Debian `openarena`): a first-person shooter (relative mouse under pointer lock), straight
 * into a deathmatch map. Same GPU caveat as SuperTuxKart. Not exercised by the tests.
 */
const OPENARENA = {
  id: 'openarena',
  title: 'OpenArena',
  description: 'Fast first-person arena shooter. Mouse aims (pointer lock), WASD moves, click fires. GPU hosts.',
  launch: {
    command: 'openarena',
    args: [
      '+set',
      'r_mode',
      '-1',
      '+set',
      'r_customwidth',
      '{width}',
      '+set',
      'r_customheight',
      '{height}',
      '+set',
      'r_fullscreen',
      '1',
      '+set',
      'com_introplayed',
      '1',
      '+map',
      'oa_dm1',
    ],
    env: { SDL_AUDIODRIVER: 'pulseaudio' },
    nice: 5,
  },
  width: 1280,
  height: 720,
  fps: 60,
  inputMode: 'relative',
  audio: true,
  packages: ['openarena'],
  readiness: { kind: 'non-black-frame', minLitPercent: 1, timeoutMs: 60_000 },
  startKeys: [],
  gamepad: {
    buttons: { '0': 'space', '1': 'c', '12': 'w', '13': 's', '14': 'a', '15': 'd' },
    axes: [
      { axis: 0, negative: 'a', positive: 'd' },
      { axis: 1, negative: 'w', positive: 's' },
    ],
    axisThreshold: 0.4,
  },
  requiresGpu: true,
} as const;

/** The games every render host knows about (it serves those it can run: see `checkAppAvailability`). */
export const BUILTIN_APP_MANIFESTS: readonly AppManifest[] = [SUPERTUX, SUPERTUXKART, OPENARENA].map((manifest) =>
  parseAppManifest(manifest, `built-in ${manifest.id}`),
);
