/**
 * Allocator settings for the render host's native libraries, applied before any of them loads (import this
 * module first). @napi-rs/canvas bundles mimalloc, and every frame's read-out (`canvas.data()`, 3.6 MB at
 * 720p) is a fresh allocation that V8 frees only at its next GC. With mimalloc's defaults, freed memory goes
 * back to the OS after 10 ms and comes back as transparent huge pages, so each frame faults in — and zeroes —
 * megabytes of new pages; measured on this VM that is 1–10 ms of kernel time per frame, varying with the
 * host. Keeping freed pages for a second and using 4 KiB pages makes the steady state fault-free (a 720p
 * read-out loop: 900 minor faults a frame → under 10; `npm run bench:stream` gains 6–8 fps here).
 * Values already in the environment win.
 */
const DEFAULTS: Record<string, string> = {
  MIMALLOC_ALLOW_THP: '0',
  MIMALLOC_PURGE_DELAY: '1000',
};

for (const [name, value] of Object.entries(DEFAULTS)) {
  process.env[name] ??= value;
}
