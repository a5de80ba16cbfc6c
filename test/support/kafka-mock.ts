import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

const SOURCE = join('test', 'kafka', 'mock-cluster.c');

/**
 * The C source, found from the working directory (tests and `npm run bench`
 * run from the repo root) or by walking up from this file, so the compiled
 * helper works from any output directory (dist, TEST_OUT_DIR).
 */
function findSource(): string {
  const candidates = [join(process.cwd(), SOURCE)];
  for (let dir = __dirname; ; dir = dirname(dir)) {
    candidates.push(join(dir, SOURCE));
    if (dirname(dir) === dir) break;
  }
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) throw new Error(`kafka mock: ${SOURCE} not found (run from the repository root)`);
  return found;
}

let binary: Promise<string> | undefined;

/** Compiles test/kafka/mock-cluster.c once per process (gcc + librdkafka-dev). */
export function mockClusterBinary(): Promise<string> {
  binary ??= new Promise<string>((resolve, reject) => {
    const dir = mkdtempSync(join(tmpdir(), 'risk-kafka-mock-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'mock-cluster');
    execFile('gcc', ['-O2', '-o', out, findSource(), '-lrdkafka'], (error, _stdout, stderr) => {
      if (error !== null) reject(new Error(`kafka mock: gcc failed (is librdkafka-dev installed?): ${stderr || error.message}`));
      else resolve(out);
    });
  });
  return binary;
}

export interface KafkaMockOptions {
  /** Topics created up front (the mock has no CreateTopics API): `name`, or `name:partitions` to override `partitions`. */
  readonly topics: readonly string[];
  /** Default 3. */
  readonly partitions?: number;
  /** Default 3. */
  readonly brokers?: number;
}

/**
 * librdkafka's mock Kafka cluster in a child process, listening on loopback:
 * real Kafka protocol over TCP, no JVM. Dies with its parent (it exits when
 * its stdin closes).
 */
export class KafkaMockCluster {
  private constructor(
    private readonly child: ChildProcess,
    readonly brokers: readonly string[],
  ) {}

  static async start(options: KafkaMockOptions): Promise<KafkaMockCluster> {
    const path = await mockClusterBinary();
    const args = ['-b', String(options.brokers ?? 3), '-p', String(options.partitions ?? 3), ...options.topics];
    const child = spawn(path, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const bootstrap = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('kafka mock: no bootstrap address within 10 s')), 10_000);
      const lines = createInterface({ input: child.stdout });
      lines.once('line', (line) => {
        clearTimeout(timer);
        lines.close();
        resolve(line.trim());
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`kafka mock exited with ${String(code)} before it was ready`));
      });
      child.once('error', reject);
    });
    // Keeps the event loop free to exit: the mock ends when our stdin pipe closes.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    return new KafkaMockCluster(child, bootstrap.split(','));
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.ref();
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.stdin?.end();
      child.kill('SIGTERM');
    });
  }
}
