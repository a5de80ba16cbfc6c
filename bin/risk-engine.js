#!/usr/bin/env node
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const entry = join(root, 'dist', 'apps', 'cli', 'src', 'main.js');
// `npm ci` does not build (CI would build twice); the first command after it does,
// with the build's output on stderr so that `risk-engine generate > file` stays clean.
if (!existsSync(entry)) {
  process.stderr.write('risk-engine: building it first (npm run build)…\n');
  const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: ['ignore', 2, 2] });
  if (build.status !== 0 || !existsSync(entry)) {
    process.stderr.write('risk-engine: the build failed: run `npm run build` in the repository and read its errors\n');
    process.exit(2);
  }
}
require(entry);
