import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type EngineConfig } from '@risk/infra/config/engine-config';
import { JsonLogger } from '@risk/infra/logging/json-logger';

/** Configuration for an in-process engine on a free port, with its own data directory. */
export function testConfig(env: Record<string, string> = {}): EngineConfig {
  return loadConfig({
    PORT: '0',
    RULES_DIR: join(process.cwd(), 'rules'),
    DATA_DIR: mkdtempSync(join(tmpdir(), 'risk-data-')),
    LOG_LEVEL: 'warn',
    ...env,
  });
}

/** Keeps test output readable: engine logs are collected, not printed. */
export function quietLogger(lines: string[] = []): JsonLogger {
  return new JsonLogger('warn', 'test', (line) => lines.push(line));
}

/** Path of the compiled repo file `relative` (e.g. `bin/risk-engine.js` lives in the repo, not dist). */
export function repoPath(...parts: string[]): string {
  return join(process.cwd(), ...parts);
}

/** The compiled service entry point, as `npm start` runs it, in the same output tree as this file (dist or TEST_OUT_DIR). */
export const ENGINE_MAIN = join(__dirname, '..', '..', 'apps', 'engine', 'src', 'main.js');

/** A service process (`node main.js`), watched from its first byte of output. */
export interface SpawnedEngine {
  readonly child: ChildProcessWithoutNullStreams;
  /** The URL it prints once ready; rejects, with its output, if it exits before. */
  readonly url: Promise<string>;
  /** Everything it printed so far, stdout and stderr. */
  readonly output: () => string;
  /** SIGTERM unless it is gone already, then its exit. */
  readonly stop: () => Promise<void>;
}

/**
 * Starts the service in a child process on a free port, with its own data
 * directory and the shipped rules; `env` adds to or overrides that.
 */
export function spawnEngine(
  env: Record<string, string | undefined> = {},
  options: { nodeArgs?: readonly string[]; mainPath?: string } = {},
): SpawnedEngine {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.mainPath ?? ENGINE_MAIN], {
    env: {
      ...process.env,
      PORT: '0',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'risk-proc-')),
      RULES_DIR: join(process.cwd(), 'rules'),
      LOG_LEVEL: 'warn',
      // The compiled tree may live outside the repository (TEST_OUT_DIR): resolve packages from the working directory.
      NODE_PATH: [join(process.cwd(), 'node_modules'), process.env.NODE_PATH].filter(Boolean).join(':'),
      ...env,
    },
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const match = /risk-engine ready: (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.once('exit', (code, signal) => reject(new Error(`engine exited with ${code ?? signal}: ${output.slice(-4000)}`)));
  });
  // A test may stop the process before asking for its URL: that must not be an unhandled rejection.
  url.catch(() => undefined);
  return {
    child,
    url,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** An engine of a fleet, ready: as the hot-reload test and bench run several on one Redis. */
export interface EngineProcess {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * A ready engine process on 127.0.0.1 that talks only to what `env` names
 * (no Kafka, Elasticsearch or Redis Cluster inherited from the caller's
 * environment); `stop()` SIGKILLs it if it has not exited 10 s after SIGTERM.
 */
export async function startEngineProcess(mainPath: string, env: Record<string, string>): Promise<EngineProcess> {
  const hermetic: Record<string, string | undefined> = { HOST: '127.0.0.1' };
  for (const name of ['KAFKA_BROKERS', 'ELASTICSEARCH_NODE', 'REDIS_CLUSTER_NODES']) if (!(name in env)) hermetic[name] = undefined;
  const engine = spawnEngine({ ...hermetic, ...env }, { mainPath });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`engine did not start within 20 s:\n${engine.output()}`)), 20_000);
  });
  try {
    const url = await Promise.race([engine.url, timeout]);
    return {
      url,
      child: engine.child,
      stop: async () => {
        const kill = setTimeout(() => engine.child.kill('SIGKILL'), 10_000);
        await engine.stop();
        clearTimeout(kill);
      },
    };
  } catch (error) {
    engine.child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Polls /health until the instance decides with `version`. */
export async function waitForVersion(url: string, version: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const health = (await (await fetch(`${url}/health`)).json()) as { rules_version: number };
    if (health.rules_version === version) return;
    if (Date.now() > deadline) throw new Error(`${url} still runs version ${health.rules_version}, not ${version}, after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
