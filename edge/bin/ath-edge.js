#!/usr/bin/env node
// `npx ath-edge …`: runs the TypeScript CLI through tsx's loader (no build step).
import { register } from 'tsx/esm/api';

// Render hosts run every session's encoders on libuv's pool: size it before anything uses it.
process.env.UV_THREADPOOL_SIZE ??= '16';

register();
await import('../cli.ts');
