declare const __ATH_PLAYER_VERSION__: string | undefined;

/** The package's version (package.json's, set at build time; `dev` in an unbundled build). */
export const ATH_PLAYER_VERSION: string = typeof __ATH_PLAYER_VERSION__ === 'string' ? __ATH_PLAYER_VERSION__ : 'dev';
