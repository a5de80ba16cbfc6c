#!/usr/bin/env node
// Builds everything (sources, specs, integration tests) and runs node's test
// runner over the compiled specs and tests. Usage: npm test [-- filter...]
// where each filter is a substring of the test file path; `--unit` (npm run
// test:unit) runs only the *.spec files beside the code: seconds, no servers.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const { readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const outDir = process.env.TEST_OUT_DIR || join(root, 'dist');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const tscArgs = ['-p', 'tsconfig.json', '--outDir', outDir, '--tsBuildInfoFile', join(outDir, '.tsbuildinfo-test')];
// A type error fails the run, but the tests still run (tsc emits anyway) so
// that every failure is reported in one go.
let typeCheckFailed = false;
try {
  execFileSync(bin('tsc'), tscArgs, { cwd: root, stdio: 'inherit' });
} catch {
  typeCheckFailed = true;
  console.error('type check failed: the run will fail after the tests');
}
execFileSync(bin('tsc-alias'), ['-p', 'tsconfig.json', '--outDir', outDir], { cwd: root, stdio: 'inherit' });

function collect(dir, into) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, into);
    else if (name.endsWith('.spec.js') || name.endsWith('.test.js')) into.push(path);
  }
  return into;
}
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((arg) => arg !== '--unit');
const files = ['apps', 'libs', 'test']
  .flatMap((dir) => collect(join(outDir, dir), []))
  .filter((file) => !unitOnly || file.endsWith('.spec.js'))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Integration tests start servers on their own ports; one file at a time
// keeps a 2-core machine responsive and their timings meaningful.
const result = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-concurrency=1',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(__dirname, 'file-times-reporter.mjs')}`,
    '--test-reporter-destination=stderr',
    ...files,
  ],
  {
    cwd: root,
    stdio: 'inherit',
    // NODE_PATH lets output directories outside the repo (TEST_OUT_DIR) resolve node_modules.
    env: { ...process.env, NODE_ENV: 'test', NODE_PATH: join(root, 'node_modules') },
  },
);
if (typeCheckFailed) console.error('type check failed (see above)');
process.exit(typeCheckFailed ? 1 : (result.status ?? 1));
