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

  it('prettier finds every file formatted', () => {
    const { status, output } = run('prettier', ['--check', 'apps', 'libs', 'test', 'rules', 'scripts']);
    assert.equal(status, 0, output);
  });
});
