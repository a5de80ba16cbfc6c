import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, linkSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';

/**
 * Issue 11, defect 3: what replay does to the files it is given. It must
 * never write over its input, must check every path before writing anything,
 * and must leave an existing output as it was when a run fails or is
 * interrupted (it writes a temporary file and renames it on success).
 */
// The CLI compiled alongside this test (bin/risk-engine.js loads the same file from dist/).
const cli = join(__dirname, '..', '..', 'apps', 'cli', 'src', 'main.js');
// Tests run from the repository root (npm test); some replays below run in another folder.
const rulesDir = join(process.cwd(), 'rules');
const root = mkdtempSync(join(tmpdir(), 'risk-replay-files-'));

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], options: { input?: string; stdinFd?: number; cwd?: string } = {}): Run {
  const result = spawnSync(process.execPath, [cli, ...args], {
    input: options.input,
    stdio: [options.stdinFd ?? 'pipe', 'pipe', 'pipe'],
    cwd: options.cwd,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    // Generous: only a hung process would come near it.
    timeout: 120_000,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

function replay(args: string[], options: { input?: string; stdinFd?: number; cwd?: string } = {}): Run {
  return run(['replay', '--rules', rulesDir, ...args], options);
}

/** A fresh folder per test, so that "no temporary file left" can be checked by listing it. */
function folder(name: string): string {
  const path = join(root, name);
  mkdirSync(path);
  return path;
}

const PREVIOUS = '{"previous":"verdicts of a good run"}\n';

describe('replay: input and output files (issue 11, defect 3)', () => {
  let events: string;

  before(() => {
    const generated = run(['generate', '--events', '3000', '--seed', '5']);
    assert.equal(generated.status, 0, generated.stderr);
    events = generated.stdout;
  });

  it('refuses an output or rejects path that is the input, under any name, and leaves the input whole', () => {
    const dir = folder('same-file');
    const input = join(dir, 'events.ndjson');
    writeFileSync(input, events);
    linkSync(input, join(dir, 'hard-link.ndjson'));
    symlinkSync(input, join(dir, 'sym-link.ndjson'));
    const cases: [string[], RegExp][] = [
      [['--input', input, '--output', input], /--output .* is the input .*refusing to overwrite the input/],
      [['--input', 'events.ndjson', '--output', './sub/../events.ndjson'], /is the input/],
      [['--input', input, '--output', join(dir, 'hard-link.ndjson')], /is the input/],
      [['--input', join(dir, 'sym-link.ndjson'), '--output', input], /is the input/],
      [['--input', input, '--output', '-', '--rejects', input], /--rejects .* is the input/],
      [
        ['--input', input, '--output', join(dir, 'v.ndjson'), '--rejects', join(dir, 'v.ndjson')],
        /--rejects .* is the same file as --output/,
      ],
    ];
    mkdirSync(join(dir, 'sub'));
    for (const [args, message] of cases) {
      const result = replay(args, { cwd: dir });
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(readFileSync(input, 'utf8'), events, `${args.join(' ')} left the input whole`);
    }
    assert.deepEqual(readdirSync(dir).sort(), ['events.ndjson', 'hard-link.ndjson', 'sub', 'sym-link.ndjson']);

    // `--input -` reading the very file given as --output, through a shell redirection.
    const fd = openSync(input, 'r');
    try {
      const redirected = replay(['--input', '-', '--output', input], { stdinFd: fd });
      assert.equal(redirected.status, 2, redirected.stderr);
      assert.match(redirected.stderr, /is the file on standard input: refusing to overwrite the input/);
    } finally {
      closeSync(fd);
    }
    assert.equal(readFileSync(input, 'utf8'), events);
  });

  it('checks every path before writing: a folder as input leaves an existing output as it was', () => {
    const dir = folder('input-folder');
    const output = join(dir, 'verdicts.ndjson');
    writeFileSync(output, PREVIOUS);
    mkdirSync(join(dir, 'not-a-file'));
    const result = replay(['--input', join(dir, 'not-a-file'), '--output', output]);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /cannot read input .*not-a-file: it is a folder/);
    assert.equal(readFileSync(output, 'utf8'), PREVIOUS);
  });

  it('exits 2 with the reason, not an unhandled error event, when an output cannot be opened', () => {
    const dir = folder('unopenable');
    const input = join(dir, 'events.ndjson');
    writeFileSync(input, events);
    const output = join(dir, 'verdicts.ndjson');
    writeFileSync(output, PREVIOUS);
    mkdirSync(join(dir, 'a-folder'));
    const cases: [string[], RegExp][] = [
      [['--output', join(dir, 'missing', 'verdicts.ndjson')], /cannot write --output .*missing.*no such file or directory \(ENOENT\)/],
      [['--output', join(dir, 'a-folder')], /cannot write --output .*a-folder: it is a folder/],
      [['--output', output, '--rejects', join(dir, 'a-folder')], /cannot write --rejects .*a-folder: it is a folder/],
      [['--output', output, '--rejects', join(dir, 'missing', 'rejects.ndjson')], /cannot write --rejects .*no such file or directory/],
      [['--output', '-', '--rejects', '-'], /cannot both be - \(stdout\)/],
    ];
    for (const [args, message] of cases) {
      const result = replay(['--input', input, ...args]);
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /Unhandled 'error' event| {4}at /, 'a message, not a stack trace');
    }
    assert.equal(readFileSync(output, 'utf8'), PREVIOUS, 'the verdicts of the previous run are still there');
    assert.deepEqual(readdirSync(dir).sort(), ['a-folder', 'events.ndjson', 'verdicts.ndjson'], 'no temporary file left');
  });

  it('exits 2 naming the output when writing fails midway (a full disk: /dev/full)', () => {
    const dir = folder('disk-full');
    const input = join(dir, 'events.ndjson');
    writeFileSync(input, events);
    const result = replay(['--input', input, '--output', '/dev/full']);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /cannot write --output \/dev\/full: no space left on device \(ENOSPC\)/);
  });

  it('replaces a previous output whole on success, through a temporary file that does not stay behind', () => {
    const dir = folder('success');
    const input = join(dir, 'events.ndjson');
    writeFileSync(input, events);
    const output = join(dir, 'verdicts.ndjson');
    const rejects = join(dir, 'rejects.ndjson');
    writeFileSync(output, PREVIOUS.repeat(100_000));
    writeFileSync(rejects, PREVIOUS);
    const result = replay(['--input', input, '--output', output, '--rejects', rejects]);
    assert.equal(result.status, 0, result.stderr);
    const verdicts = readFileSync(output, 'utf8').trim().split('\n');
    assert.ok(verdicts.length > 2500);
    for (const line of verdicts) assert.ok('event_id' in JSON.parse(line), 'only verdicts, nothing of the previous file');
    assert.ok(readFileSync(rejects, 'utf8').includes('"line":'));
    assert.deepEqual(readdirSync(dir).sort(), ['events.ndjson', 'rejects.ndjson', 'verdicts.ndjson']);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`on ${signal} mid-run, removes its temporary files and leaves the previous output as it was`, async () => {
      const dir = folder(`interrupted-${signal}`);
      const output = join(dir, 'verdicts.ndjson');
      const rejects = join(dir, 'rejects.ndjson');
      writeFileSync(output, PREVIOUS);
      writeFileSync(rejects, PREVIOUS);
      // stdin stays open: the replay is mid-run, its temporary files open, when the signal arrives.
      const child = spawn(process.execPath, [cli, 'replay', '--rules', rulesDir, '--input', '-', '--output', output, '--rejects', rejects]);
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      // The signal may end the replay while part of this write is still queued: its EPIPE is expected.
      child.stdin.on('error', () => undefined);
      child.stdin.write(events.slice(0, events.length >> 1));
      const temporaryFiles = (): string[] => readdirSync(dir).filter((name) => name.endsWith('.tmp'));
      // A guard against hanging, not a speed check: the files appear within milliseconds.
      for (let waited = 0; temporaryFiles().length < 2; waited += 20) {
        if (waited > 60_000) {
          child.kill('SIGKILL');
          assert.fail('the replay never opened its temporary files');
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      child.kill(signal);
      const status = await exited;
      assert.equal(status, signal === 'SIGINT' ? 130 : 143, stderr);
      assert.match(stderr, new RegExp(`interrupted by ${signal}; no file written`));
      assert.equal(readFileSync(output, 'utf8'), PREVIOUS);
      assert.equal(readFileSync(rejects, 'utf8'), PREVIOUS);
      assert.deepEqual(temporaryFiles(), []);
    });
  }
});
