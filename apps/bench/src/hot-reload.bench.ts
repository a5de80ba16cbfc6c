import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEngineProcess, waitForVersion, type EngineProcess } from '@test/support/engine-process';
import { TestRedisServer } from '@test/support/redis-server';
import { percentile } from './stats';

export interface HotReloadBenchOptions {
  /** Engine processes sharing one Redis. Default 3. */
  readonly instances?: number;
  /** Activations measured. Default 30. */
  readonly activations?: number;
  /** Activations run first and not measured (JIT, connection warm-up). Default 3. */
  readonly warmup?: number;
  /** An existing Redis to use; default: a private redis-server on a free port. */
  readonly redisUrl?: string;
  /** The compiled engine entry point; default: main.js next to this file's app. */
  readonly mainPath?: string;
  readonly log?: (line: string) => void;
}

export interface HotReloadBenchResult {
  readonly instances: number;
  readonly activations: number;
  /** Per activation: ms from sending the write until every instance reports the new version. */
  readonly samplesMs: readonly number[];
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** The versions each activation produced, in order (for the caller's checks). */
  readonly versions: readonly number[];
}

/** A shipped rule (rules/login-burst.json) the bench rewrites. */
const BENCH_RULE = 'login-burst';
const EDITOR_KEY = `bench-${randomBytes(12).toString('hex')}`;

/**
 * Hot-reload latency across a fleet: N engine processes on one Redis; each
 * activation (alternately a rule change on one instance and a rollback) is
 * timed until every instance's /health reports the new version. Polling
 * /health every 2 ms bounds the measurement error to a few milliseconds.
 */
export async function benchHotReload(options: HotReloadBenchOptions = {}): Promise<HotReloadBenchResult> {
  const instances = options.instances ?? 3;
  const activations = options.activations ?? 30;
  const warmup = options.warmup ?? 3;
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const dataDir = mkdtempSync(join(tmpdir(), 'risk-bench-hot-reload-'));
  const redis = options.redisUrl === undefined ? await TestRedisServer.start() : undefined;
  const redisUrl = options.redisUrl ?? redis!.url;
  const prefix = `bench-${randomBytes(4).toString('hex')}:`;
  const engines: EngineProcess[] = [];
  try {
    for (let i = 0; i < instances; i++) {
      engines.push(
        await startEngineProcess(options.mainPath ?? defaultMainPath(), {
          REDIS_URL: redisUrl,
          REDIS_KEY_PREFIX: prefix,
          DATA_DIR: join(dataDir, `engine-${i}`),
          API_KEYS: `bench:editor:${EDITOR_KEY}`,
        }),
      );
    }
    const samples: number[] = [];
    const versions: number[] = [];
    for (let i = 0; i < warmup + activations; i++) {
      const writer = engines[i % engines.length];
      let version: number;
      let started: number;
      if (i % 4 === 3) {
        // A rollback: re-activate the version before the current one.
        const previous = versions[versions.length - 2] ?? 1;
        started = performance.now();
        version = ((await request(writer.url, 'POST', `/rulesets/${previous}/activate`, {})) as { version: number }).version;
      } else {
        // A real change every time (a new priority), so every write is a new version.
        const { rule } = (await request(writer.url, 'GET', `/rules/${BENCH_RULE}`)) as { rule: Record<string, unknown> };
        started = performance.now();
        version = ((await request(writer.url, 'PUT', `/rules/${BENCH_RULE}`, { ...rule, priority: 100 + i })) as { version: number })
          .version;
      }
      await Promise.all(engines.map((engine) => waitForVersion(engine.url, version, 10_000)));
      if (i >= warmup) samples.push(performance.now() - started);
      versions.push(version);
      await sleep(20);
    }
    const sorted = [...samples].sort((a, b) => a - b);
    const result: HotReloadBenchResult = {
      instances,
      activations,
      samplesMs: samples,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted[sorted.length - 1] ?? 0,
      versions: versions.slice(warmup),
    };
    log(
      `hot reload, ${instances} instances, ${activations} activations: p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, max ${result.maxMs.toFixed(1)} ms`,
    );
    return result;
  } finally {
    await Promise.all(engines.map((engine) => engine.stop()));
    await redis?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function request(url: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(url + path, {
    method,
    headers: { 'x-api-key': EDITOR_KEY, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

function defaultMainPath(): string {
  // compiled to dist/apps/bench/src/; the engine's entry point is dist/apps/engine/src/main.js
  return join(__dirname, '..', '..', 'engine', 'src', 'main.js');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
