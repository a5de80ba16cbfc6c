import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI } from '../support/cli';
import { ENGINE_MAIN, startEngineProcess, type EngineProcess } from '../support/engine-process';
import { docSteps, runDocStep } from './doc-examples';

const DOC = 'docs/analysts.md';
const steps = docSteps(readFileSync(join(process.cwd(), DOC), 'utf8'));
/** The doc's expected outputs name the key's owner (`alice`, in audit entries and snoozes). */
const KEY = 'analyst-doc-test-key-0123456789';
/**
 * The doc runs `npx risk-engine …` from the repository's root; here it is the
 * CLI compiled with this test. Any other `npx` is refused: the doc promises
 * curl and the project's CLI only.
 */
const PRELUDE = `npx() {
  if [ "$1" != risk-engine ]; then echo "the analysts' doc may only run npx risk-engine, not npx $*" >&2; return 127; fi
  shift; node "$CLI" "$@"
}`;

describe(`${DOC}: every example, run in order against a real engine`, () => {
  let engine: EngineProcess | undefined;
  let work: string;
  let dataDir: string;
  let failedAt: number | undefined;

  before(async () => {
    // The reader's working directory is the repository's root: the examples read the shipped rules/ there.
    work = mkdtempSync(join(tmpdir(), 'analysts-doc-'));
    symlinkSync(join(process.cwd(), 'rules'), join(work, 'rules'));
    dataDir = mkdtempSync(join(tmpdir(), 'analysts-data-'));
    engine = await startEngineProcess(ENGINE_MAIN, {
      API_KEYS: `alice:editor:${KEY}`,
      DATA_DIR: dataDir,
      RULES_DIR: join(process.cwd(), 'rules'),
    });
  });

  after(async () => {
    await engine?.stop();
    rmSync(work, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('has the walk-through, not an empty extraction: at least 10 examples, each with the output it expects', () => {
    assert.ok(steps.length >= 10, `only ${steps.length} sh examples found in ${DOC}`);
    const unchecked = steps.filter((step) => step.expected === undefined).map((step) => step.line);
    assert.deepEqual(unchecked, [], `examples without a json or text block after them (lines)`);
  });

  for (const step of steps) {
    const lines = step.script.split('\n');
    const title = lines.find((line) => line.includes('npx')) ?? lines.find((line) => line.includes('curl')) ?? lines[0];
    it(`line ${step.line}: ${title.trim().slice(0, 100)}`, () => {
      // Each example builds on the ones before (versions, lists, snoozes): after a failure the rest cannot pass.
      assert.equal(failedAt, undefined, `the example at line ${failedAt} failed, and this one depends on it`);
      try {
        runDocStep(step, work, { ENGINE: engine!.url, KEY, DATA_DIR: dataDir, CLI }, PRELUDE);
      } catch (error) {
        failedAt = step.line;
        throw error;
      }
    });
  }
});
