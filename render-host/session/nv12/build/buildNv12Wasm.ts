/** `npm run build:wasm`: assembles rgbaToNv12.wat and writes rgbaToNv12Wasm.ts. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileNv12Wasm, nv12WasmSource } from './compileNv12Wasm.js';

const target = fileURLToPath(new URL('../rgbaToNv12Wasm.ts', import.meta.url));
const bytes = await compileNv12Wasm();
writeFileSync(target, nv12WasmSource(bytes));
console.log(`wrote ${target} (${bytes.byteLength} bytes of WebAssembly)`);
