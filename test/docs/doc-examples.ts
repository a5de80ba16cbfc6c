import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';

/**
 * Runs the shell examples of a Markdown document in order, as a reader would
 * paste them, and checks each against the output the document shows.
 *
 * - A ```sh block is run with bash (`set -euo pipefail`), in one working
 *   directory shared by every block (files written by one block are there
 *   for the next), with `env` in its environment and `prelude` (e.g. shell
 *   functions standing in for a command) run first.
 * - A ```json block right after it is the expected output: the block's
 *   stdout must contain it (when it prints several things, the last JSON
 *   value of its last non-empty line: `curl` ends its output without a
 *   newline, so two calls print `{…}{…}` on one line),
 *   as a subset: objects may hold more keys, arrays more items, where the
 *   expected items match actual ones in the same order (an abridged listing
 *   may leave items out anywhere).
 * - A ```text block right after it lists lines each of which must appear in stdout.
 * - ```bash blocks are for the reader only (e.g. `export ENGINE=…`): not run.
 */
export interface DocStep {
  readonly line: number;
  readonly script: string;
  readonly expected?: { readonly kind: 'json' | 'text'; readonly body: string };
}

export function docSteps(markdown: string): DocStep[] {
  const fence = /^```([a-z]*)[^\n]*\n([\s\S]*?)^```\s*$/gm;
  const blocks: { kind: string; body: string; line: number }[] = [];
  for (let match = fence.exec(markdown); match !== null; match = fence.exec(markdown)) {
    blocks.push({ kind: match[1], body: match[2], line: markdown.slice(0, match.index).split('\n').length });
  }
  const steps: DocStep[] = [];
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i];
    if (block.kind !== 'sh') continue;
    const next = blocks[i + 1];
    const kind = next?.kind;
    const expected: DocStep['expected'] = kind === 'json' || kind === 'text' ? { kind, body: next.body } : undefined;
    steps.push({ line: block.line, script: block.body, expected });
  }
  return steps;
}

export function runDocStep(step: DocStep, cwd: string, env: Record<string, string>, prelude = ''): string {
  const result = spawnSync('bash', ['-c', `set -euo pipefail\n${prelude}\n${step.script}`], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const where = `the example at line ${step.line}:\n${step.script}`;
  assert.equal(result.status, 0, `${where}\nexited ${result.status ?? result.signal}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  if (step.expected?.kind === 'json') {
    const actual = lastJson(result.stdout);
    if (actual === undefined) assert.fail(`${where}\nprinted no JSON: ${result.stdout}\n${result.stderr}`);
    const expected: unknown = JSON.parse(step.expected.body);
    const mismatch = subsetMismatch(expected, actual, '$');
    assert.equal(mismatch, undefined, `${where}\n${mismatch}\nactual: ${JSON.stringify(actual, null, 1)}`);
  } else if (step.expected?.kind === 'text') {
    for (const line of step.expected.body.split('\n').map((l) => l.trim())) {
      if (line.length === 0) continue;
      assert.ok(result.stdout.includes(line), `${where}\nexpected the line "${line}" in:\n${result.stdout}`);
    }
  }
  return result.stdout;
}

/** The whole output as JSON, else the last JSON object or array of its last non-empty line; undefined when there is none. */
export function lastJson(stdout: string): unknown {
  const parsed = parseOrUndefined(stdout);
  if (parsed !== undefined) return parsed;
  const line = stdout.trim().split('\n').pop() ?? '';
  // The last top-level {…} or […] of the line: brackets inside strings do not count.
  let depth = 0;
  let start = -1;
  let last: string | undefined;
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = depth > 0;
    else if (c === '{' || c === '[') {
      if (depth++ === 0) start = i;
    } else if ((c === '}' || c === ']') && depth > 0 && --depth === 0) last = line.slice(start, i + 1);
  }
  return last === undefined ? undefined : parseOrUndefined(last);
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Where `expected` is not a subset of `actual`, or undefined when it is. */
export function subsetMismatch(expected: unknown, actual: unknown, path: string): string | undefined {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: expected an array, got ${JSON.stringify(actual)}`;
    // Each expected item takes the first actual item after the previous match that holds it: greedy is
    // enough to find an ordered subsequence.
    let next = 0;
    for (let i = 0; i < expected.length; i++) {
      let found = false;
      let firstDifference: string | undefined;
      while (next < actual.length && !found) {
        const inner = subsetMismatch(expected[i], actual[next], `${path}[${next}]`);
        next++;
        if (inner === undefined) found = true;
        else firstDifference ??= inner;
      }
      if (!found)
        return (
          `${path}: expected item ${i} matches no item after the previous match` +
          (firstDifference ? ` (first difference: ${firstDifference})` : '')
        );
    }
    return undefined;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual))
      return `${path}: expected an object, got ${JSON.stringify(actual)}`;
    for (const [key, value] of Object.entries(expected)) {
      if (!(key in actual)) return `${path}.${key}: missing`;
      const inner = subsetMismatch(value, (actual as Record<string, unknown>)[key], `${path}.${key}`);
      if (inner !== undefined) return inner;
    }
    return undefined;
  }
  return Object.is(expected, actual) ? undefined : `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}
