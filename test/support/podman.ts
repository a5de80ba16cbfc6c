import { execFile, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/**
 * Podman as the tests drive it: build the engine's real Dockerfile and run the
 * image (test/image; the stack test in test/stack reuses all of this).
 *
 * What works on these machines, and why each flag is there:
 * - `--runtime runc`: crun fails on this cgroup layout;
 * - `--ulimit nofile=1024:1024 --ulimit nproc=1024:1024`: the runtime's default is to
 *   raise these limits, which is not permitted here, so every container (and every
 *   RUN step of a build) gets lowered ones;
 * - `--pull=never`: no image registry is reachable; the base image is the local
 *   stand-in from scripts/build-base-image.sh;
 * - `--network host` for builds, so `npm ci` and `apt-get` reach their registries,
 *   and for containers, so the engine's PORT is a free loopback port of this machine
 *   and it reaches the test servers (Kafka, Redis, Elasticsearch) on loopback too.
 */
export const RUNTIME_FLAGS: readonly string[] = [
  '--runtime',
  'runc',
  '--ulimit',
  'nofile=1024:1024',
  '--ulimit',
  'nproc=1024:1024',
  '--pull=never',
];

export const ENGINE_IMAGE = 'localhost/risk-engine:test';
export const BASE_IMAGE = 'docker.io/library/node:20-slim';

const repo = (): string => process.cwd();

export interface Exec {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs podman; never throws on a non-zero exit (the caller says what it means). */
export function podman(args: readonly string[], timeoutMs = 120_000): Promise<Exec> {
  return new Promise((resolve) => {
    execFile('podman', args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr: error !== null && code === -1 ? `${stderr}${error.message}` : stderr });
    });
  });
}

/**
 * Why podman cannot run containers here, or undefined when it can: checked by
 * running the base image with the flags above. Tests fail with this reason;
 * they never skip.
 */
export async function podmanProblem(): Promise<string | undefined> {
  const version = await podman(['--version'], 20_000);
  if (version.code !== 0) return `podman is not usable (${version.stderr.trim() || 'not installed'}): run scripts/install-system-deps.sh`;
  const run = await podman(
    ['run', '--rm', ...RUNTIME_FLAGS, '--network', 'host', BASE_IMAGE, 'node', '-e', 'process.stdout.write("ok")'],
    60_000,
  );
  if (run.code !== 0 || run.stdout !== 'ok')
    return `podman cannot run a container with ${RUNTIME_FLAGS.join(' ')} (exit ${run.code}): ${run.stderr.trim()}`;
  return undefined;
}

/** Runs a long command with its output in a log file; on failure the error carries the log's tail. */
function runLogged(command: string, args: readonly string[], logFile: string, timeoutMs: number): Promise<number> {
  mkdirSync(join(logFile, '..'), { recursive: true });
  const log = createWriteStream(logFile);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repo(), stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (chunk: Buffer): void => {
      log.write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-4_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      log.end();
      reject(new Error(`${command} could not start: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      log.end();
      if (code === 0) resolve((performance.now() - started) / 1000);
      else
        reject(
          new Error(
            `${command} ${args.join(' ')} ${signal === 'SIGKILL' ? `timed out after ${timeoutMs / 1000} s` : `exited ${code}`} (log: ${logFile}):\n${tail}`,
          ),
        );
    });
  });
}

/** The local node:20-slim stand-in (scripts/build-base-image.sh; a no-op when it exists). Returns seconds taken. */
export function buildBaseImage(): Promise<number> {
  return runLogged(
    'bash',
    [join(repo(), 'scripts', 'build-base-image.sh')],
    join(repo(), '.cache', 'base-image', 'build.log'),
    15 * 60_000,
  );
}

/**
 * Builds the repository's real Dockerfile (after the base image). Returns the
 * time taken in seconds, base image included; podman's layer cache makes rebuilds with unchanged
 * package files fast.
 */
export async function buildEngineImage(tag = ENGINE_IMAGE): Promise<number> {
  const base = await buildBaseImage();
  const build = await runLogged(
    'podman',
    // docker format: the OCI format drops the Dockerfile's HEALTHCHECK.
    ['build', ...RUNTIME_FLAGS, '--format', 'docker', '--network', 'host', '-t', tag, '-f', 'Dockerfile', '.'],
    join(repo(), '.cache', 'image-build.log'),
    20 * 60_000,
  );
  return base + build;
}

/** A free TCP port on loopback (for PORT of a container on the host network). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RunOptions {
  readonly image?: string;
  /** Container name; unique by default. */
  readonly name?: string;
  /** Engine configuration (PORT, KAFKA_BROKERS, ...). HOST defaults to 127.0.0.1: host network, loopback only. */
  readonly env?: Record<string, string>;
  /** Extra `podman run` arguments (volumes, ...). */
  readonly args?: readonly string[];
}

export interface StopResult {
  /** The container's exit code (0: the graceful shutdown completed; 137: killed). */
  readonly exitCode: number;
  /** How long `podman stop` took, signal to exit. */
  readonly ms: number;
}

export class Container {
  constructor(
    readonly name: string,
    readonly url: string,
  ) {}

  /** State.Status and State.ExitCode, e.g. { status: 'exited', exitCode: 0 }. */
  async state(): Promise<{ status: string; exitCode: number }> {
    const result = await podman(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', this.name]);
    if (result.code !== 0) throw new Error(`podman inspect ${this.name}: ${result.stderr.trim()}`);
    const [status, exitCode] = result.stdout.trim().split(' ');
    return { status, exitCode: Number(exitCode) };
  }

  /** Everything the container printed (stdout and stderr). */
  async logs(): Promise<string> {
    const result = await podman(['logs', this.name]);
    return `${result.stdout}${result.stderr}`;
  }

  /** Polls GET /health until it answers 200; fails with the logs if the container exits or the deadline passes. */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      try {
        const response = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(2_000) });
        if (response.ok) return;
        last = `status ${response.status}`;
      } catch (error) {
        last = (error as Error).message;
      }
      const { status } = await this.state();
      if (status !== 'running') throw new Error(`container ${this.name} is ${status} before /health answered:\n${await this.logs()}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`container ${this.name}: /health did not answer 200 within ${timeoutMs} ms (${last}):\n${await this.logs()}`);
  }

  /** SIGTERM, then SIGKILL after `graceSeconds` (podman stop -t): the time taken and the exit code. */
  async stop(graceSeconds: number): Promise<StopResult> {
    const started = performance.now();
    const result = await podman(['stop', '-t', String(graceSeconds), this.name], (graceSeconds + 60) * 1000);
    const ms = performance.now() - started;
    if (result.code !== 0) throw new Error(`podman stop ${this.name}: ${result.stderr.trim()}`);
    return { exitCode: (await this.state()).exitCode, ms };
  }

  /** kill -9 (no shutdown at all), waiting until the container has exited. */
  async kill(signal = 'KILL'): Promise<void> {
    const result = await podman(['kill', '--signal', signal, this.name]);
    if (result.code !== 0) throw new Error(`podman kill ${this.name}: ${result.stderr.trim()}`);
    await podman(['wait', this.name], 60_000);
  }

  /** Starts the stopped or killed container again (same name, configuration and data), then waits for /health. */
  async restart(healthTimeoutMs = 60_000): Promise<void> {
    const result = await podman(['start', this.name]);
    if (result.code !== 0) throw new Error(`podman start ${this.name}: ${result.stderr.trim()}`);
    await this.waitHealthy(healthTimeoutMs);
  }

  /** Removes the container, running or not; safe to call twice (for after hooks). */
  async remove(): Promise<void> {
    await podman(['rm', '--force', '--time', '0', this.name], 60_000);
  }
}

let counter = 0;

/**
 * Runs the engine image detached on the host network, on a free loopback port
 * (PORT) unless env sets one, and waits until /health answers. The caller
 * removes it (`remove()`), also when the test fails.
 */
export async function runEngineContainer(options: RunOptions = {}): Promise<Container> {
  const port = options.env?.PORT ?? String(await freePort());
  const env: Record<string, string> = { HOST: '127.0.0.1', ...options.env, PORT: port };
  const name = options.name ?? `risk-engine-test-${process.pid}-${++counter}`;
  await podman(['rm', '--force', '--time', '0', name]); // a leftover of an interrupted run
  const result = await podman([
    'run',
    '--detach',
    '--name',
    name,
    ...RUNTIME_FLAGS,
    '--network',
    'host',
    ...Object.entries(env).flatMap(([key, value]) => ['--env', `${key}=${value}`]),
    ...(options.args ?? []),
    options.image ?? ENGINE_IMAGE,
  ]);
  if (result.code !== 0) throw new Error(`podman run ${name} failed (exit ${result.code}): ${result.stderr.trim()}`);
  const container = new Container(name, `http://127.0.0.1:${port}`);
  try {
    await container.waitHealthy();
  } catch (error) {
    await container.remove();
    throw error;
  }
  return container;
}
