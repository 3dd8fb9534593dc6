/**
 * A picture for each game tile. Games do not ship one, so the page draws its own cover art: a scene for the
 * catalogue's games (our drawings, not the games' artwork) and, for any other id, a picture generated from the
 * id (its colours) and the title (its initials). SVG as a data URL: no request, no server text parsed as markup
 * (the title's initials are escaped).
 */

type Art = { id: string; title: string };

const W = 320;
const H = 180;

function svg(body: string, label: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeXml(label)}">${body}</svg>`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Neon Drift: a ship drifting over a neon grid towards a low sun. */
const NEON_DRIFT = `
<defs>
  <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#12052e"/><stop offset="1" stop-color="#3b0a4f"/></linearGradient>
  <linearGradient id="sun" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#ffd36b"/><stop offset="1" stop-color="#ff3f8e"/></linearGradient>
</defs>
<rect width="${W}" height="${H}" fill="url(#sky)"/>
<circle cx="160" cy="92" r="44" fill="url(#sun)"/>
<rect y="92" width="${W}" height="88" fill="#06030f"/>
<g stroke="#21d4fd" stroke-opacity="0.7" stroke-width="1.2">
  <line x1="0" y1="100" x2="320" y2="100"/><line x1="0" y1="112" x2="320" y2="112"/><line x1="0" y1="130" x2="320" y2="130"/><line x1="0" y1="156" x2="320" y2="156"/>
  <line x1="160" y1="92" x2="160" y2="180"/><line x1="160" y1="92" x2="100" y2="180"/><line x1="160" y1="92" x2="220" y2="180"/>
  <line x1="160" y1="92" x2="30" y2="180"/><line x1="160" y1="92" x2="290" y2="180"/><line x1="160" y1="92" x2="-60" y2="180"/><line x1="160" y1="92" x2="380" y2="180"/>
</g>
<path d="M160 128 L178 162 L160 154 L142 162 Z" fill="#d8ffe0" stroke="#5dff8f" stroke-width="2"/>
<path d="M152 160 L160 176 L168 160 Z" fill="#ff50f0" fill-opacity="0.8"/>
<g fill="#ff3f8e"><circle cx="70" cy="140" r="3"/><circle cx="250" cy="120" r="2.5"/><circle cx="215" cy="150" r="3"/></g>`;

/** SuperTux-like: a penguin in the snow under a bright sky, coins in the air. */
const SNOWY_PLATFORMER = `
<defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#3a8ee6"/><stop offset="1" stop-color="#bfe6ff"/></linearGradient></defs>
<rect width="${W}" height="${H}" fill="url(#sky)"/>
<path d="M0 120 Q60 90 120 118 T240 112 T320 116 V180 H0 Z" fill="#f4fbff"/>
<path d="M0 150 Q80 132 160 150 T320 146 V180 H0 Z" fill="#dff1ff"/>
<rect x="196" y="98" width="70" height="14" rx="3" fill="#8a5a2b"/><rect x="196" y="94" width="70" height="6" rx="3" fill="#ffffff"/>
<g fill="#ffd23f" stroke="#c9961a" stroke-width="1.5"><circle cx="212" cy="74" r="6"/><circle cx="232" cy="66" r="6"/><circle cx="252" cy="74" r="6"/></g>
<g transform="translate(96 96)">
  <ellipse cx="0" cy="26" rx="22" ry="28" fill="#1b1d2a"/>
  <ellipse cx="0" cy="32" rx="14" ry="19" fill="#ffffff"/>
  <circle cx="0" cy="-6" r="15" fill="#1b1d2a"/>
  <circle cx="-5" cy="-9" r="4" fill="#fff"/><circle cx="5" cy="-9" r="4" fill="#fff"/>
  <circle cx="-4" cy="-9" r="2" fill="#000"/><circle cx="6" cy="-9" r="2" fill="#000"/>
  <path d="M-6 -1 L6 -1 L0 6 Z" fill="#ffa51f"/>
  <ellipse cx="-10" cy="54" rx="9" ry="4" fill="#ffa51f"/><ellipse cx="10" cy="54" rx="9" ry="4" fill="#ffa51f"/>
</g>`;

/** A kart racer: a road curving into the distance, two karts. */
const KART_RACER = `
<rect width="${W}" height="${H}" fill="#8fd3ff"/>
<rect y="80" width="${W}" height="100" fill="#3fae4f"/>
<path d="M140 80 C150 110 40 130 60 180 H260 C250 140 190 120 180 80 Z" fill="#55555f"/>
<path d="M160 82 C168 112 110 132 150 180" stroke="#fff" stroke-width="3" stroke-dasharray="10 10" fill="none"/>
<g transform="translate(92 138)"><rect width="40" height="18" rx="5" fill="#e63946"/><circle cx="8" cy="20" r="6" fill="#111"/><circle cx="32" cy="20" r="6" fill="#111"/></g>
<g transform="translate(182 118)"><rect width="30" height="14" rx="4" fill="#ffbe0b"/><circle cx="6" cy="15" r="4.5" fill="#111"/><circle cx="24" cy="15" r="4.5" fill="#111"/></g>`;

/** An arena shooter: a dark hall, pillars, a crosshair. */
const ARENA_SHOOTER = `
<defs><radialGradient id="glow" cx="0.5" cy="0.45" r="0.6"><stop offset="0" stop-color="#6b1d1d"/><stop offset="1" stop-color="#140506"/></radialGradient></defs>
<rect width="${W}" height="${H}" fill="url(#glow)"/>
<path d="M0 180 L110 110 H210 L320 180 Z" fill="#2a0c0c"/>
<g fill="#3d1414"><rect x="40" y="30" width="26" height="130"/><rect x="254" y="30" width="26" height="130"/><rect x="120" y="50" width="16" height="62"/><rect x="184" y="50" width="16" height="62"/></g>
<g stroke="#ff8a3d" stroke-width="2.5" fill="none"><circle cx="160" cy="90" r="16"/><line x1="160" y1="64" x2="160" y2="80"/><line x1="160" y1="100" x2="160" y2="116"/><line x1="134" y1="90" x2="150" y2="90"/><line x1="170" y1="90" x2="186" y2="90"/></g>`;

const SCENES: Readonly<Record<string, string>> = {
  'neon-drift': NEON_DRIFT,
  supertux: SNOWY_PLATFORMER,
  supertuxkart: KART_RACER,
  openarena: ARENA_SHOOTER,
};

/** FNV-1a: a stable number from the id, for a stable picture. */
function hash(text: string): number {
  let value = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    value ^= text.charCodeAt(i);
    value = Math.imul(value, 0x01000193) >>> 0;
  }
  return value;
}

/** The first letter (or digit) of the first two words; of the one word, its first two. */
function initials(title: string): string {
  const words = title
    .split(/\s+/)
    .map((word) => word.replace(/[^\p{L}\p{N}]/gu, ''))
    .filter(Boolean);
  const letters = words.length > 1 ? `${words[0]?.[0]}${words[1]?.[0]}` : (words[0] ?? '?').slice(0, 2);
  return letters.toUpperCase();
}

/** Any other game: two hues from its id, soft shapes, its initials. */
function generated({ id, title }: Art): string {
  const h = hash(id);
  const hue = h % 360;
  const hue2 = (hue + 40 + ((h >>> 9) % 80)) % 360;
  const shapes = Array.from({ length: 5 }, (_, i) => {
    const n = hash(`${id}:${i}`);
    return `<circle cx="${n % W}" cy="${(n >>> 10) % H}" r="${18 + ((n >>> 20) % 46)}" fill="hsl(${(hue + i * 25) % 360} 80% 70%)" fill-opacity="0.16"/>`;
  }).join('');
  return `
<defs><linearGradient id="bg" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="hsl(${hue} 60% 28%)"/><stop offset="1" stop-color="hsl(${hue2} 70% 14%)"/></linearGradient></defs>
<rect width="${W}" height="${H}" fill="url(#bg)"/>${shapes}
<text x="160" y="112" text-anchor="middle" font-family="system-ui, sans-serif" font-size="64" font-weight="800" fill="#ffffff" fill-opacity="0.92">${escapeXml(initials(title))}</text>`;
}

/** The tile picture's SVG (a scene for known games, a generated one otherwise). */
export function gameArtSvg(game: Art): string {
  return svg(SCENES[game.id] ?? generated(game), `${game.title} cover art`);
}

/** The same as a data URL for an `<img>`. */
export function gameArtUrl(game: Art): string {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(gameArtSvg(game))}`;
}
