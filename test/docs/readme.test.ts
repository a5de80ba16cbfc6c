import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CONFIG_VARIABLES } from '@risk/infra/config/engine-config';

const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8');

/** The cells of the README's configuration table, one array per row (header and rule excluded). */
function readmeConfigurationRows(): string[][] {
  const section = readme.slice(readme.indexOf('## Configuration'));
  const table = section.slice(section.indexOf('| variable'), section.indexOf('\n\n', section.indexOf('| variable')));
  return table
    .split('\n')
    .slice(2)
    .map((line) =>
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    );
}

describe('README stays true to the code', () => {
  it('lists every configuration variable with the default and meaning of the one table in config-table.ts, in its order', () => {
    const expected = CONFIG_VARIABLES.map((variable) => [
      `\`${variable.name}\``,
      variable.default ?? (variable.unset === undefined ? '(unset)' : `(unset: ${variable.unset})`),
      variable.meaning,
    ]);
    assert.deepEqual(readmeConfigurationRows(), expected);
  });

  it('opens with the two commands, and CI runs exactly the test command', () => {
    const block = /```sh\n([^`]+)```/.exec(readme);
    assert.ok(block, 'a shell block near the top');
    assert.ok(readme.indexOf(block[0]) < 1000, 'the commands are in the first lines');
    const commands = block[1]
      .split('\n')
      .filter((l) => l.trim().length > 0)
      .map((l) => l.replace(/\s+#.*$/, '').trim());
    assert.deepEqual(commands, ['npm ci && npm start', 'npm ci && npm test']);
    const ci = readFileSync(join(process.cwd(), '.ci', 'run'), 'utf8');
    assert.ok(
      ci.split('\n').some((l) => l.trim() === 'npm ci && npm test'),
      '.ci/run runs the test command',
    );
  });
});
