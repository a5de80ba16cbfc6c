import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const bin = (name: string): string => join(process.cwd(), 'node_modules', '.bin', name);

function run(command: string, args: string[]): { status: number | null; output: string } {
  const result = spawnSync(bin(command), args, { cwd: process.cwd(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/**
 * The code rules the project holds itself to, checked on every test run:
 * type-checked typescript-eslint (no floating promises, no deep relative
 * imports, a framework-free domain) and dependency-cruiser (domain
 * boundaries, one wrapper per client package, no cycles).
 */
describe('architecture and lint', () => {
  it('typescript-eslint finds no problem', () => {
    const { status, output } = run('eslint', ['apps', 'libs', 'test']);
    assert.equal(status, 0, output);
  });

  it('dependency-cruiser finds no boundary violation', () => {
    const { status, output } = run('depcruise', ['--config', '.dependency-cruiser.js', 'apps', 'libs', 'test']);
    assert.equal(status, 0, output);
    assert.match(output, /no dependency violations found/);
  });

  it('the production build compiles production code only (no test, bench or spec file)', () => {
    // What the image builds: a test or bench file reached from production code would break it (the image has no test/).
    const { status, output } = run('tsc', ['-p', 'tsconfig.build.json', '--listFilesOnly']);
    assert.equal(status, 0, output);
    const ours = output.split('\n').filter((file) => file.startsWith(process.cwd()) && !file.includes('/node_modules/'));
    assert.ok(
      ours.some((file) => file.endsWith('apps/engine/src/main.ts')),
      output,
    );
    assert.deepEqual(
      ours.filter((file) => /\/(test|apps\/bench)\/|\.(bench|spec)\.ts$/.test(file.slice(process.cwd().length))),
      [],
    );
  });

  it('prettier finds every file formatted', () => {
    const { status, output } = run('prettier', ['--check', 'apps', 'libs', 'test', 'rules', 'scripts']);
    assert.equal(status, 0, output);
  });
});
