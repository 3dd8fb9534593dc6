/**
 * AthErrorCode is closed: the union of the folders' lists (`errors.ts` in each folder, registered in
 * `AthErrorCodes`). The compiler refuses an undeclared code where a code is typed; this test also finds the
 * ones in places typed as plain strings (assertions, HTTP bodies, comments naming a code).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { AthError, type AthErrorCode, isAthError } from './AthError.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const FOLDERS = ['signaling', 'render-host', 'client', 'edge', 'metrics', 'e2e', 'scripts'];
const CODE = /ATH_ERR_[A-Z0-9_]+/g;
const OWN_STEM = new URL(import.meta.url).pathname.replace(/\.[jt]s$/, '');

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === '.cache' || name === 'artifacts') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (/\.(ts|mjs|js|html)$/.test(name)) out.push(path);
  }
  return out;
}

const files = FOLDERS.flatMap((folder) => sourceFiles(join(ROOT, folder)));
const listFiles = files.filter((f) => f.endsWith('/errors.ts') || f.endsWith('/wireErrorCodes.ts'));

/** Every code some folder's list declares (read as text, so this test imports no other folder). */
function declaredCodes(): Map<string, string[]> {
  const declared = new Map<string, string[]>();
  for (const file of listFiles) {
    for (const [, code = ''] of readFileSync(file, 'utf8').matchAll(/'(ATH_ERR_[A-Z0-9_]+)'/g)) {
      declared.set(code, [...(declared.get(code) ?? []), relative(ROOT, file)]);
    }
  }
  return declared;
}

test('a code no folder declares does not compile', () => {
  // @ts-expect-error — not in any folder's list (npm run typecheck fails if this line compiles)
  const typo: AthErrorCode = 'ATH_ERR_NO_SUCH_CODE';
  const declared: AthErrorCode = 'ATH_ERR_LEDGER_OVER_CAP';
  const error = new AthError({ code: declared, shortMessage: 'x' });
  assert.ok(isAthError(error, 'ATH_ERR_LEDGER_OVER_CAP'));
  assert.notEqual(typo, declared);
});

test("every folder's list registers itself in AthErrorCodes", () => {
  assert.ok(listFiles.length >= 12, listFiles.map((f) => relative(ROOT, f)).join(', '));
  for (const file of listFiles) {
    if (file.endsWith('/wireErrorCodes.ts') || file.endsWith('signaling/protocol/errors.ts')) continue;
    assert.match(readFileSync(file, 'utf8'), /interface AthErrorCodes \{/, relative(ROOT, file));
  }
});

test('every ATH_ERR_ code named anywhere in the source is declared in a list', () => {
  const declared = declaredCodes();
  assert.ok(declared.size >= 90, `declared ${declared.size}`);
  const undeclared: string[] = [];
  for (const file of files) {
    // Not this file, whether run from its .ts or compiled beside it (scripts/compileTests.mjs)
    if (file.replace(/\.[jt]s$/, '') === OWN_STEM) continue;
    for (const [code] of readFileSync(file, 'utf8').matchAll(CODE)) {
      if (!declared.has(code)) undeclared.push(`${relative(ROOT, file)}: ${code}`);
    }
  }
  assert.deepEqual(undeclared, []);
});
