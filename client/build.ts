// `npm run build:client`: bundles the browser client into client/dist/ (see buildClient.ts).
import { buildClient } from './buildClient.js';

const { outDir, files, durationMs } = await buildClient();
console.log(`client built in ${durationMs.toFixed(0)} ms → ${outDir}`);
for (const file of files.filter((f) => !f.endsWith('.map'))) console.log(`  ${file}`);
