import { spawn, type ChildProcess } from 'node:child_process';
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

/** An engine in a child process (`node main.js`), as the hot-reload test and bench run a fleet of them. */
export interface EngineProcess {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `node main.js` with `env` on a free port and resolves with its URL once it prints its ready line. */
export async function startEngineProcess(mainPath: string, env: Record<string, string>): Promise<EngineProcess> {
  const childEnv: Record<string, string | undefined> = { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env };
  // Keep the fleet hermetic: only what the caller asks for.
  for (const name of ['KAFKA_BROKERS', 'ELASTICSEARCH_NODE', 'REDIS_CLUSTER_NODES']) if (!(name in env)) delete childEnv[name];
  // The compiled tree may live outside the repository (TEST_OUT_DIR): resolve packages from the working directory.
  childEnv.NODE_PATH = [join(process.cwd(), 'node_modules'), process.env.NODE_PATH].filter(Boolean).join(':');
  const child = spawn(process.execPath, [mainPath], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`engine did not start within 20 s:\n${output}`)), 20_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      const match = /risk-engine ready: (\S+)/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`engine exited with ${code}:\n${output}`));
    });
  });
  // Keep draining the pipes so a chatty child never blocks on a full buffer.
  child.stdout.resume();
  child.stderr.resume();
  return {
    url,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
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
