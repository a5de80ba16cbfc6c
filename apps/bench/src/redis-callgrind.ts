// Not a test: `node <out>/apps/bench/src/redis-callgrind.js [warm] [measured]` counts the instructions redis-server
// executes per event (valgrind callgrind), the reproducible figure for comparing versions of the scripts.
// The state is built first on a plain redis-server (the first `warm` events of the bench stream), saved, and
// loaded by a redis-server running under callgrind, which then applies `measured` events with collection on: a
// fresh engine process, which reads every entity and refreshes every TTL it writes once.
// CALLGRIND_ONE_ENGINE=1: one engine process applies the warm-up (instrumentation off) and the measured events, as a
// long-running engine does (its cache warm, the TTLs it refreshed kept: docs/redis.md "Entity TTLs").
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StateInput } from '@risk/domain';
import { RedisFeatureStore } from '@risk/infra/redis/redis-feature.store';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { TestRedisServer } from '@test/support/redis-server';
import { chunk, defaultDefinitions, generateStream } from '@test/support/state-stream';
import { ENGINE_DEFAULTS } from './engine-defaults';

const PREFIX = 'cg:';
const PARTITION = 'bench/0';

/** Applies each list of batches in turn with one store, calling `between[i]` after list i. */
async function applyAll(url: string, lists: readonly StateInput[][][], between: readonly (() => void)[] = []): Promise<void> {
  const client = new RedisClient({ url, commandTimeoutMs: 600_000 });
  try {
    await client.waitReady(120_000);
    const store = new RedisFeatureStore(client, defaultDefinitions(), ENGINE_DEFAULTS.state, { keyPrefix: PREFIX });
    for (const [i, batches] of lists.entries()) {
      for (const batch of batches) await store.apply(PARTITION, batch);
      between[i]?.();
    }
    await store.close();
  } finally {
    await client.quit();
  }
}

function callgrindControl(args: readonly string[]): void {
  execFileSync('callgrind_control', args, { stdio: 'ignore' });
}

async function main(): Promise<void> {
  const warm = Number(process.argv[2] ?? 100_000);
  const measured = Number(process.argv[3] ?? 5_000);
  const inputs = generateStream({
    seed: 1,
    events: 300_000,
    spanMs: 24 * 3_600_000,
    users: 20_000,
    ips: 5_000,
    devices: 24_000,
    allowedLatenessMs: 600_000,
  });
  const batches = chunk(inputs.slice(0, warm + 1_000 + measured), 100);
  const warmBatches = batches.slice(0, warm / 100);
  const scriptBatches = batches.slice(warm / 100, (warm + 1_000) / 100);
  const measuredBatches = batches.slice((warm + 1_000) / 100);
  const dir = mkdtempSync(join(tmpdir(), 'risk-callgrind-'));
  let commandStats = '';
  try {
    const base = ['--dbfilename', 'warm.rdb'];
    const oneEngine = process.env.CALLGRIND_ONE_ENGINE === '1';
    if (!oneEngine) {
      const plain = await TestRedisServer.start(base, { dir });
      try {
        await applyAll(plain.url, [warmBatches]);
        execFileSync('redis-cli', ['-p', String(plain.port), 'SAVE']);
      } finally {
        await plain.dispose();
      }
    }

    const out = join(dir, 'callgrind.out');
    const cg = await TestRedisServer.start(base, {
      dir,
      wrapper: ['valgrind', '--tool=callgrind', `--callgrind-out-file=${out}`, ...(oneEngine ? ['--instr-atstart=no'] : [])],
      readyTimeoutMs: 120_000,
    });
    const pid = String(cg.pid);
    const startCounting = (): void => {
      execFileSync('redis-cli', ['-p', String(cg.port), 'CONFIG', 'RESETSTAT']);
      if (oneEngine) callgrindControl(['-i', 'on', pid]);
      callgrindControl(['-z', pid]);
    };
    try {
      if (oneEngine) {
        await applyAll(cg.url, [[...warmBatches, ...scriptBatches], measuredBatches], [startCounting]);
      } else {
        // Scripts loaded and compiled, connections warm: not counted.
        await applyAll(cg.url, [scriptBatches]);
        startCounting();
        await applyAll(cg.url, [measuredBatches]);
      }
      callgrindControl(['-d', pid]);
      commandStats = execFileSync('redis-cli', ['-p', String(cg.port), 'INFO', 'commandstats'], { encoding: 'utf8' });
    } finally {
      await cg.dispose();
    }
    // Dumps in order: callgrind.out.<n>; the last one (no suffix) is the exit's.
    const names = readdirSync(dir)
      .filter((name) => /^callgrind\.out\.\d+$/.test(name))
      .sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
    const dumps = names.map((name) => Number(/^(?:summary|totals): (\d+)/m.exec(readFileSync(join(dir, name), 'utf8'))?.[1] ?? 0));
    const events = measuredBatches.reduce((n, b) => n + b.length, 0);
    const total = dumps[dumps.length - 1];
    // serverCron runs by wall time, which valgrind stretches more on a busy machine: the figure without it varies less.
    const annotated = execFileSync('callgrind_annotate', ['--inclusive=yes', join(dir, names[names.length - 1])], { encoding: 'utf8' });
    const cron = Number(/^\s*([\d,]+) \([^)]*\)\s+\?\?\?:serverCron /m.exec(annotated)?.[1].replace(/,/g, '') ?? 0);
    // Commands per event, scripts' inner calls included (exact; their usec are valgrind's, not meaningful).
    const commands: Record<string, number> = {};
    for (const [, name, calls] of commandStats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      if (name !== 'config|resetstat') commands[name] = Math.round((Number(calls) / events) * 1000) / 1000;
    }
    console.log(
      JSON.stringify({
        engine: oneEngine ? 'one process' : 'fresh process',
        warm,
        events,
        instructions: total,
        perEvent: Math.round(total / events),
        perEventWithoutCron: Math.round((total - cron) / events),
        commandsPerEvent: commands,
      }),
    );
    if (process.env.CALLGRIND_KEEP !== undefined) {
      execFileSync('sh', ['-c', `cp ${dir}/callgrind.out* ${process.env.CALLGRIND_KEEP}/`]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
