// What the embed page reads from its URL and from signaling's template (no DOM: testable in Node).

/** The allowed origin, if signaling named a valid one (an unknown token names none: nobody hears anything). */
export function allowedOriginOf(content: string | null | undefined): string | undefined {
  if (!content) return undefined;
  try {
    const url = new URL(content);
    return url.origin === content && (url.protocol === 'https:' || url.protocol === 'http:') ? content : undefined;
  } catch {
    return undefined;
  }
}

/** `/embed/<game>` → the game id (lower-case letters, digits, dashes), else undefined. */
export function gameFromPath(pathname: string): string | undefined {
  const match = /^\/embed\/([a-z0-9][a-z0-9-]{0,62})\/?$/.exec(pathname);
  return match?.[1];
}
