// `npm run build:player`: builds the `@ath-edge/player` package into client/player/dist/ (see buildPlayerPackage.ts).
import { buildPlayerPackage } from './buildPlayerPackage.js';

const built = await buildPlayerPackage();
console.log(`${built.name}@${built.version} → ${built.outDir}`);
console.log(`  exports: ${built.runtimeExports.join(', ')}`);
console.log(`  types:   ${built.typesEntry}; dependencies: ${Object.keys(built.dependencies).join(', ') || 'none'}`);
