// Type-checks src/ and test/ (whole runs only), runs vitest and prints one plain closing line, "N passed, N failed, N skipped", which CI reads.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';

const args = process.argv.slice(2);
// vitest's transform strips types without checking them, so a whole run first type-checks the tests
// with src/ (tsconfig.test.json); it counts as one check in the closing line.
let typeCheck = null;
if (args.length === 0) {
  const tc = spawnSync('npx', ['tsc', '-p', 'tsconfig.test.json'], { stdio: 'inherit' });
  typeCheck = tc.status === 0;
  console.log(`type check of src/ and test/ (tsconfig.test.json): ${typeCheck ? 'ok' : 'FAILED'}`);
}
const report = '.test-results/vitest.json';
rmSync(report, { force: true });
const run = spawnSync('npx', ['vitest', 'run', ...args], { stdio: 'inherit' });
let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed = r.numPassedTests ?? 0;
  failed = (r.numFailedTests ?? 0) + (r.numRuntimeErrorTestSuites ?? 0);
  skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A file that fails to load has no tests but must still fail the run.
  for (const f of r.testResults ?? []) if (f.status === 'failed' && (f.assertionResults ?? []).length === 0) failed++;
} catch {
  failed = Math.max(failed, 1);
}
let code = run.status ?? 1;
if (code !== 0 && failed === 0) failed = 1;
if (typeCheck === true) passed++;
if (typeCheck === false) {
  failed++;
  code = code || 1;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(code);
