import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CONFIG_VARIABLES } from '@risk/infra/config/engine-config';

const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8');

describe('README stays true to the code', () => {
  it('documents every configuration variable the engine reads', () => {
    for (const variable of CONFIG_VARIABLES) {
      for (const name of variable.name.split(' / ')) assert.ok(readme.includes(`\`${name}`), `README is missing ${name}`);
    }
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
