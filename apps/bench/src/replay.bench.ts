import { spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FeatureDefinition } from '@risk/domain';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { TestRedisServer } from '@test/support/redis-server';
import { fmt, line, percentile } from './stats';

/** The CLI as users run it, and the floor script, both compiled next to this file. */
const CLI = join(__dirname, '..', '..', 'cli', 'src', 'main.js');
const FLOOR = join(__dirname, 'replay-io-floor.js');
/** The feature store alone over a file's events (memory-store-cachegrind.ts). */
const STORE_ALONE = join(__dirname, 'memory-store-cachegrind.js');
/** `risk-engine replay`'s default `--batch-size`. */
const REPLAY_BATCH = 1000;

interface Command {
  readonly label: string;
  readonly args: readonly string[];
  readonly output: string;
  readonly seconds: number[];
  readonly cpuSeconds: number[];
}

/**
 * `BENCH_ONLY=replay`: the real `risk-engine replay` (a child process, as
 * users run it) against an I/O floor measured in the same run on the same
 * file, and `replay --state redis://` against the in-memory replay.
 *
 * The floor (replay-io-floor.ts) only reads the file, parses each line and
 * writes one verdict-shaped object per event. Each command is timed whole
 * (wall clock from spawn to exit: start-up, reading, deciding, writing, the
 * fsync and rename of the output), `runs` times, the commands taking turns
 * so that a change in the machine's load hits each alike; best and median
 * are printed, and the ratios of both. With `redis`, a private redis-server
 * (TestRedisServer) serves the Redis runs, and its command statistics price
 * the replay's marker GET after every batch.
 */
export async function benchReplay(
  lines: readonly string[],
  features: readonly FeatureDefinition[],
  options: { readonly runs: number; readonly redis: boolean },
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'risk-bench-replay-'));
  let server: TestRedisServer | undefined;
  try {
    const input = join(dir, 'events.ndjson');
    writeFileSync(input, lines.join('\n') + '\n');
    const rulesDir = join(process.cwd(), 'rules');
    const shape = JSON.stringify(Object.fromEntries(features.map((f) => [f.name, f.aggregate === 'changed' ? false : 1])));
    const floor = command('I/O floor (parse + write)', [FLOOR, input, join(dir, 'floor.ndjson'), shape], join(dir, 'floor.ndjson'));
    const replayArgs = (output: string): string[] => [CLI, 'replay', '--input', input, '--output', output, '--rules', rulesDir];
    const memory = command('replay, in-memory state', replayArgs(join(dir, 'memory.ndjson')), join(dir, 'memory.ndjson'));
    const commands = [floor, memory];
    let redis: Command | undefined;
    if (options.redis) {
      server = await TestRedisServer.start();
      const output = join(dir, 'redis.ndjson');
      redis = command('replay --state redis://', [...replayArgs(output), '--state', server.url], output);
      commands.push(redis);
    }
    process.stdout.write(
      `\nreplay: ${fmt(lines.length)} lines (${fmt(statSync(input).size / 1e6, 1)} MB), default rules, ${options.runs === 1 ? '1 run' : `${options.runs} runs`} of each command taking turns, wall clock of the whole command\n`,
    );
    let stats: { before: GetStats; after: GetStats } | undefined;
    for (let run = 0; run < options.runs; run++) {
      for (const c of commands) {
        const before = c === redis && server !== undefined && stats === undefined ? await getStats(server.url) : undefined;
        await time(c);
        if (before !== undefined) stats = { before, after: await getStats(server!.url) };
      }
    }

    const rate = (c: Command, which: 'best' | 'median'): number => lines.length / pick(c.seconds, which);
    for (const c of commands) {
      line(
        c.label,
        `best ${fmt(rate(c, 'best'))} events/s   median ${fmt(rate(c, 'median'))} events/s   (${c.seconds.map((s) => fmt(s, 2)).join(' / ')} s; CPU ${c.cpuSeconds.map((s) => fmt(s, 2)).join(' / ')} s)`,
      );
    }
    const ratio = (a: Command, b: Command, which: 'best' | 'median'): string => fmt(rate(a, which) / rate(b, which), 2);
    line('replay / I/O floor', `best ${ratio(memory, floor, 'best')}×   median ${ratio(memory, floor, 'median')}×   (target ≥ 0.5×)`);
    // What stands between the replay and 0.5× the floor (docs/benchmarks.md, "Sixth session"): the store alone.
    const store = await storeAlone(input, lines.length);
    const floorCpu = pick(floor.cpuSeconds, 'median');
    line(
      'feature store alone',
      `CPU ${store.map((s) => fmt(s, 2)).join(' / ')} s for the same events (${store.length} passes, decoded first, child process): median ${fmt(pick(store, 'median') / floorCpu, 2)}× the floor's whole CPU`,
    );
    const floorBytes = (await countLines(floor.output)).bytes;
    const memoryOut = await countLines(memory.output);
    line(
      'output',
      `replay ${fmt(memoryOut.lines)} verdicts, ${fmt(memoryOut.bytes / memoryOut.lines)} B each; floor ${fmt(floorBytes / memoryOut.lines)} B each (approx.)`,
    );
    if (redis === undefined) line('replay --state redis://', 'skipped: redis-server not installed (see scripts/install-system-deps.sh)');
    else {
      line(
        'replay --state redis / in-memory',
        `best ${ratio(redis, memory, 'best')}×   median ${ratio(redis, memory, 'median')}×   (target ≥ 0.5×)`,
      );
      const redisOut = await countLines(redis.output);
      if (redisOut.lines !== memoryOut.lines || redisOut.bytes !== memoryOut.bytes)
        throw new Error(
          `the Redis replay wrote ${redisOut.lines} verdicts (${redisOut.bytes} B), the in-memory one ${memoryOut.lines} (${memoryOut.bytes} B)`,
        );
      if (stats !== undefined) {
        // The replay GETs its marker once per batch (apps/cli/src/redis-state.ts); the store may GET too.
        const markers = Math.ceil(lines.length / REPLAY_BATCH);
        const calls = stats.after.calls - stats.before.calls;
        const usecPerGet = calls > 0 ? (stats.after.usec - stats.before.usec) / calls : 0;
        const rtt = stats.after.roundTripMs;
        line(
          'marker GET after every batch',
          `${fmt(markers)} GETs ≈ ${fmt(markers * rtt, 0)} ms of round trips (${fmt(rtt * 1000, 0)} µs each, idle server) in a ${fmt(redis.seconds[0], 2)} s run, Redis CPU ${fmt((markers * usecPerGet) / 1000, 1)} ms (${fmt(calls)} GETs in all)`,
        );
      }
    }
  } finally {
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU seconds of each pass of `MemoryFeatureStore` over the file's events (memory-store-cachegrind.ts, 3 passes). */
async function storeAlone(input: string, events: number): Promise<number[]> {
  const child = spawn(process.execPath, [STORE_ALONE, input, String(events), '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (out += text));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode));
  });
  const passes = [...(/CPU per pass (.*)$/m.exec(out)?.[1] ?? '').matchAll(/(\d+) ms/g)].map((m) => Number(m[1]) / 1000);
  if (code !== 0 || passes.length === 0) throw new Error(`the store-only run exited with ${code}: ${out.trim()}`);
  return passes;
}

function command(label: string, args: readonly string[], output: string): Command {
  return { label, args, output, seconds: [], cpuSeconds: [] };
}

/** Runs the command once, timing it from spawn to exit; fails on a non-zero exit. */
async function time(c: Command): Promise<void> {
  const cpuBefore = childrenCpuSeconds();
  const started = performance.now();
  const child = spawn(process.execPath, c.args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode));
  });
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`${c.label} exited with ${code}: ${stderr.trim()}`);
  c.seconds.push(seconds);
  c.cpuSeconds.push(childrenCpuSeconds() - cpuBefore);
}

/** CPU time (user + system) of this process's reaped children so far, from /proc/self/stat (cutime + cstime, in ticks of 1/100 s); 0 without /proc. */
function childrenCpuSeconds(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return 0;
  }
}

function pick(samples: readonly number[], which: 'best' | 'median'): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return which === 'best' ? sorted[0] : percentile(sorted, 50);
}

async function countLines(path: string): Promise<{ lines: number; bytes: number }> {
  let lines = 0;
  let bytes = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) lines++;
  }
  return { lines, bytes };
}

interface GetStats {
  readonly calls: number;
  readonly usec: number;
  /** One round trip (PING) from this process to the idle server, ms (median of 200). */
  readonly roundTripMs: number;
}

/** `INFO commandstats` for GET, and what one GET round trip costs. */
async function getStats(url: string): Promise<GetStats> {
  const client = new RedisClient({ url, commandTimeoutMs: 10_000 });
  try {
    await client.waitReady();
    const samples: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await client.ping();
      samples.push(performance.now() - t0);
    }
    const stat = (await client.info('commandstats')).cmdstat_get ?? '';
    const field = (name: string): number => Number(new RegExp(`${name}=(\\d+)`).exec(stat)?.[1] ?? 0);
    return {
      calls: field('calls'),
      usec: field('usec'),
      roundTripMs: percentile(
        [...samples].sort((a, b) => a - b),
        50,
      ),
    };
  } finally {
    await client.quit();
  }
}
