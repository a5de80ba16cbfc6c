import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, before, describe, it } from 'node:test';
import { TestRedisServer } from '@test/support/redis-server';

/**
 * Issue 11, defect 4: `replay --state redis://` used to hang forever after a
 * Redis outage, blaming its input, with its keys left in Redis. Each test
 * runs a real redis-server, breaks it mid-replay (kill -9, kill -9 and
 * restart, SIGSTOP) and checks that the replay exits 2 saying what failed,
 * leaves the previous output as it was, and either deletes its private key
 * prefix or prints the commands that do.
 */
// The CLI compiled alongside this test (bin/risk-engine.js loads the same file from dist/).
const cli = join(__dirname, '..', '..', 'apps', 'cli', 'src', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'risk-replay-outage-'));
const PREVIOUS = '{"previous":"verdicts of a good run"}\n';
/** Only a hung replay comes near this; the harness kills it then, so the test fails instead of hanging. */
const HANG_LIMIT_MS = 180_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Finished {
  readonly status: number | null;
  readonly stderr: string;
  readonly output: string;
  readonly dir: string;
}

/**
 * Starts a replay reading stdin; feeds the first part of the events, waits
 * until verdicts are being written (state is in Redis), runs `outage`, then
 * feeds the rest, so the outage lands mid-replay whatever the machine's speed.
 */
async function replayThroughOutage(name: string, redis: TestRedisServer, events: string[], outage: () => Promise<void>): Promise<Finished> {
  const dir = join(root, name);
  mkdirSync(dir);
  const output = join(dir, 'verdicts.ndjson');
  writeFileSync(output, PREVIOUS);
  const child = spawn(process.execPath, [cli, 'replay', '--input', '-', '--output', output, '--state', redis.url, '--batch-size', '100']);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => undefined);
  const hangGuard = setTimeout(() => child.kill('SIGKILL'), HANG_LIMIT_MS);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const firstPart = 2000;
  child.stdin.write(events.slice(0, firstPart).join('\n') + '\n');
  const temporaryVerdicts = (): number => {
    const temporary = readdirSync(dir).find((file) => file.endsWith('.tmp'));
    return temporary === undefined ? 0 : readFileSync(join(dir, temporary), 'utf8').split('\n').length - 1;
  };
  // A guard against hanging, not a speed check.
  for (let waited = 0; temporaryVerdicts() < firstPart / 2; waited += 20) {
    if (waited > 60_000) {
      child.kill('SIGKILL');
      assert.fail(`the replay never wrote verdicts to a temporary file: ${stderr}`);
    }
    await sleep(20);
  }
  await outage();
  child.stdin.end(events.slice(firstPart).join('\n') + '\n');
  const status = await exited;
  clearTimeout(hangGuard);
  return { status, stderr, output: readFileSync(output, 'utf8'), dir };
}

function replayKeys(redis: TestRedisServer): string[] {
  const scan = spawnSync('redis-cli', ['-p', String(redis.port), '--scan', '--pattern', 'replay-*'], { encoding: 'utf8' });
  assert.equal(scan.status, 0, scan.stderr);
  return scan.stdout.split('\n').filter((key) => key.length > 0);
}

/** The contract after a failure: no key of the replay left, or instructions that remove them. */
function assertCleanOrInstructed(finished: Finished, redis: TestRedisServer): void {
  const printed = /npx risk-engine replay-clean --state (\S+) --prefix (replay-[0-9a-f]{8}:)/.exec(finished.stderr);
  if (printed !== null) {
    assert.equal(printed[1], redis.url);
    const clean = spawnSync(process.execPath, [cli, 'replay-clean', '--state', printed[1], '--prefix', printed[2]], { encoding: 'utf8' });
    assert.equal(clean.status, 0, clean.stderr);
    assert.match(clean.stderr, new RegExp(`deleted \\d+ keys under ${printed[2]}`));
  }
  assert.deepEqual(replayKeys(redis), [], 'no key of the replay left in Redis');
}

function assertFailedOnRedis(finished: Finished, redis: TestRedisServer): void {
  assert.equal(finished.status, 2, finished.stderr);
  assert.match(finished.stderr, new RegExp(`replay: Redis state ${redis.url} \\(keys under replay-[0-9a-f]{8}:\\) failed: Redis`));
  assert.doesNotMatch(finished.stderr, /cannot read input/, 'the input was fine: the message must not blame it');
  assert.match(finished.stderr, /no file written \(--output .*verdicts\.ndjson left as it was\)/);
  assert.equal(finished.output, PREVIOUS, 'the previous verdicts file is untouched');
  assert.deepEqual(
    readdirSync(finished.dir).filter((file) => file.endsWith('.tmp')),
    [],
    'no temporary file left',
  );
}

describe('replay --state redis:// through a Redis outage (issue 11, defect 4)', () => {
  let events: string[];
  let redis: TestRedisServer | undefined;

  before(() => {
    const generated = spawnSync(process.execPath, [cli, 'generate', '--events', '6000', '--seed', '13'], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.equal(generated.status, 0, generated.stderr);
    events = generated.stdout.split('\n').filter((line) => line.length > 0);
  });

  afterEach(async () => {
    await redis?.dispose();
    redis = undefined;
  });

  it('exits 2 naming Redis when the server is killed (kill -9) and stays down', async () => {
    const server = (redis = await TestRedisServer.start());
    const finished = await replayThroughOutage('killed', server, events, () => server.kill());
    assertFailedOnRedis(finished, server);
    // Nothing answers, so the keys cannot be deleted: the replay says how to do it later.
    assert.match(finished.stderr, /could not delete this replay's Redis keys \(prefix replay-[0-9a-f]{8}:\)/);
    assert.match(finished.stderr, new RegExp(`redis-cli -u ${server.url} --scan --pattern 'replay-[0-9a-f]{8}:\\*' \\| xargs`));
    await server.resume();
    assertCleanOrInstructed(finished, server);
  });

  it('exits 2 when the server is killed and restarted: the state it lost is not silently replaced by empty state', async () => {
    const server = (redis = await TestRedisServer.start());
    const finished = await replayThroughOutage('restarted', server, events, async () => {
      await server.kill();
      await server.resume();
    });
    assertFailedOnRedis(finished, server);
    // The server answers again by the time the replay cleans up: it deletes its keys itself.
    assert.doesNotMatch(finished.stderr, /could not delete/);
    assertCleanOrInstructed(finished, server);
  });

  it('exits 2 when the server stops answering (SIGSTOP), and its printed commands delete the keys it left', async () => {
    const server = (redis = await TestRedisServer.start());
    const finished = await replayThroughOutage('paused', server, events, () => Promise.resolve(server.pause()));
    // The replay gave up while the server was still frozen.
    assertFailedOnRedis(finished, server);
    assert.match(finished.stderr, /timed out/);
    const prefix = /could not delete this replay's Redis keys \(prefix (replay-[0-9a-f]{8}:)\)/.exec(finished.stderr);
    assert.ok(prefix !== null, finished.stderr);
    server.unpause();
    const left = replayKeys(server);
    assert.ok(left.length > 0 && left.every((key) => key.startsWith(prefix[1])), 'the keys left are all under the printed prefix');
    // The redis-cli line works as printed.
    const line = /^ {2}(redis-cli .*)$/m.exec(finished.stderr);
    assert.ok(line !== null, finished.stderr);
    const cleaned = spawnSync('sh', ['-c', line[1]], { encoding: 'utf8' });
    assert.equal(cleaned.status, 0, cleaned.stderr);
    assert.deepEqual(replayKeys(server), []);
  });

  it('deletes its keys and closes its connection when a replay succeeds', async () => {
    const server = (redis = await TestRedisServer.start());
    const replay = spawnSync(process.execPath, [cli, 'replay', '--input', '-', '--output', '-', '--state', server.url], {
      input: events.join('\n'),
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
      timeout: HANG_LIMIT_MS,
    });
    assert.equal(replay.status, 0, replay.stderr);
    assert.deepEqual(replayKeys(server), []);
  });
});
