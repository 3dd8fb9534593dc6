/** `npm run build:contracts`: compiles and writes `edge/chain/abis.ts` (ABIs `as const`, for viem's types). */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { abisSource } from './abisSource.js';
import { compileContracts } from './compileContracts.js';

const target = fileURLToPath(new URL('../abis.ts', import.meta.url));
const started = Date.now();
writeFileSync(target, abisSource(compileContracts()));
console.log(`wrote ${target} (${Date.now() - started} ms)`);
