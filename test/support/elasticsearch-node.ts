import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import {
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { freePort, waitForPort } from './redis-server';

/** The version the tests run; keep in step with scripts/install-test-servers.sh and docker-compose.yml. */
export const ELASTICSEARCH_VERSION = '8.15.0';

/**
 * The distribution unpacked by `bash scripts/install-test-servers.sh`
 * (Elastic's `integ-test-zip` from Maven Central: a real Elasticsearch node
 * with transport-netty4 and x-pack core/security, but no painless, no
 * mapper-extras and no `GET /`).
 */
export function elasticsearchHome(version = ELASTICSEARCH_VERSION): string {
  // Compiled tests run from dist/ or from TEST_OUT_DIR (anywhere), so look for the cache from the working directory too.
  for (const root of [process.cwd(), resolve(__dirname, '..', '..'), resolve(__dirname, '..', '..', '..')]) {
    const home = join(root, '.cache', 'servers', `elasticsearch-${version}`);
    if (existsSync(join(home, '.complete')) && existsSync(join(home, 'bin', 'elasticsearch'))) return home;
  }
  throw new Error(
    `Elasticsearch ${version} is not installed in .cache/servers/elasticsearch-${version}: run \`bash scripts/install-test-servers.sh\` ` +
      '(npm test runs it in pretest; it needs Java 17, Maven and Maven Central)',
  );
}

/** JAVA_HOME of the `java` on PATH: the distribution bundles no JDK. */
function javaHome(): string {
  if (process.env.ES_JAVA_HOME) return process.env.ES_JAVA_HOME;
  let java: string;
  try {
    java = execFileSync('sh', ['-c', 'command -v java'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('no `java` on PATH: the Elasticsearch test node needs OpenJDK 17');
  }
  return dirname(dirname(realpathSync(java)));
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * As root the node runs as `nobody`, which cannot enter a checkout under a
 * private folder (`mktemp -d` is mode 700). Then the distribution is copied
 * once to a shared temp folder that nobody can read, and reused by later
 * test files.
 */
function homeNobodyCanRun(home: string): string {
  const canRun = (dir: string): boolean => {
    try {
      execFileSync('setpriv', [
        '--reuid=nobody',
        '--regid=nogroup',
        '--clear-groups',
        'test',
        '-x',
        join(dir, 'bin', 'elasticsearch'),
        '-a',
        '-r',
        join(dir, 'lib'),
      ]);
      return true;
    } catch {
      return false;
    }
  };
  if (canRun(home)) return home;
  const copy = join(tmpdir(), `risk-es-dist-${ELASTICSEARCH_VERSION}-${process.getuid?.() ?? 0}`);
  if (!existsSync(join(copy, '.complete'))) {
    rmSync(copy, { recursive: true, force: true });
    cpSync(home, copy, { recursive: true });
    writeFileSync(join(copy, '.complete'), '');
  }
  if (!canRun(copy)) throw new Error(`Elasticsearch: user nobody cannot run ${home} nor its copy ${copy} (check the folders' permissions)`);
  return copy;
}
const started = new Set<TestElasticsearchNode>();
let exitHookInstalled = false;

/**
 * A private single-node Elasticsearch 8 on free loopback ports, in a temporary
 * directory removed on stop. Start one per test file (`before`) and give each
 * test its own index prefix ({@link TestElasticsearchNode.prefix}); stop it in
 * `after`. Elasticsearch refuses to run as root, so as root the node runs as
 * `nobody` (setpriv). If this process dies, the node dies with it: an exit
 * hook kills it, and a watchdog shell kills it when this process is gone even
 * after SIGKILL.
 */
export class TestElasticsearchNode {
  private child: ChildProcess | undefined;
  private watchdog: ChildProcess | undefined;
  private output = '';
  private prefixes = 0;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A fresh lower-case index prefix, distinct for every call on this node. */
  prefix(name = 't'): string {
    this.prefixes += 1;
    return `${name.toLowerCase().replace(/[^a-z0-9]/g, '')}${this.prefixes}`;
  }

  static async start(options: { heapMb?: number; startTimeoutMs?: number } = {}): Promise<TestElasticsearchNode> {
    const home = isRoot ? homeNobodyCanRun(elasticsearchHome()) : elasticsearchHome();
    const java = javaHome();
    const dir = mkdtempSync(join(tmpdir(), 'risk-es-'));
    const node = new TestElasticsearchNode(await freePort(), dir);
    try {
      await node.launch(home, java, await freePort(), options.heapMb ?? 256, options.startTimeoutMs ?? 180_000);
    } catch (error) {
      await node.stop();
      throw error;
    }
    return node;
  }

  private async launch(home: string, java: string, transportPort: number, heapMb: number, timeoutMs: number): Promise<void> {
    const config = join(this.dir, 'config');
    for (const sub of ['data', 'logs', 'tmp']) mkdirSync(join(this.dir, sub));
    cpSync(join(home, 'config'), config, { recursive: true });
    // jvm.options writes GC logs and heap dumps relative to the working directory: point them into the temp dir.
    const jvmOptions = join(config, 'jvm.options');
    writeFileSync(
      jvmOptions,
      readFileSync(jvmOptions, 'utf8')
        .replace(/HeapDumpPath=data/g, `HeapDumpPath=${join(this.dir, 'data')}`)
        .replace(/file=logs\//g, `file=${join(this.dir, 'logs')}/`)
        .replace(/ErrorFile=logs\//g, `ErrorFile=${join(this.dir, 'logs')}/`),
    );
    if (isRoot) chownTree(this.dir, 65534, 65534);

    const settings = {
      'cluster.name': `risk-test-${this.port}`,
      'node.name': 'test-node',
      'discovery.type': 'single-node',
      'network.host': '127.0.0.1',
      'http.port': String(this.port),
      'transport.port': String(transportPort),
      'path.data': join(this.dir, 'data'),
      'path.logs': join(this.dir, 'logs'),
      'xpack.security.enabled': 'false',
      // A shared CI disk may be nearly full: never turn indices read-only under the tests.
      'cluster.routing.allocation.disk.threshold_enabled': 'false',
      // Tests delete their indices by pattern.
      'action.destructive_requires_name': 'false',
    };
    const args = Object.entries(settings).flatMap(([k, v]) => ['-E', `${k}=${v}`]);
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ES_JAVA_HOME: java,
      ES_PATH_CONF: config,
      ES_TMPDIR: join(this.dir, 'tmp'),
      ES_JAVA_OPTS: `-Xms${heapMb}m -Xmx${heapMb}m`,
    };
    const bin = join(home, 'bin', 'elasticsearch');
    const command = isRoot ? 'setpriv' : bin;
    const commandArgs = isRoot ? ['--reuid=nobody', '--regid=nogroup', '--clear-groups', bin, ...args] : args;
    // Its own process group: stop() and the watchdog kill the launcher and the server JVM together.
    const child = spawn(command, commandArgs, { cwd: this.dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = child;
    started.add(this);
    installExitHook();
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-8_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.watchdog = spawn(
      'sh',
      [
        '-c',
        `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${child.pid} 2>/dev/null; do sleep 1; done; kill -KILL -${child.pid} 2>/dev/null; sleep 1; rm -rf '${this.dir}'`,
      ],
      { stdio: 'ignore', detached: true },
    );
    this.watchdog.unref();

    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) =>
        reject(new Error(`Elasticsearch exited during start-up (${signal ?? `code ${code}`}):\n${this.output}`)),
      ),
    );
    exited.catch(() => undefined);
    await Promise.race([this.waitUntilReady(timeoutMs), exited]);
  }

  /** Waits for the HTTP port, then for a yellow-or-better cluster (the single node has elected itself master). */
  private async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await waitForPort(this.port, timeoutMs);
    for (;;) {
      try {
        const response = await fetch(`${this.url}/_cluster/health?wait_for_status=yellow&timeout=5s`);
        const body = (await response.json()) as { status?: string };
        if (response.status === 200 && (body.status === 'green' || body.status === 'yellow')) return;
      } catch {
        // not answering yet
      }
      if (Date.now() > deadline)
        throw new Error(`Elasticsearch on port ${this.port} was not healthy within ${timeoutMs} ms:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Deletes every index and index template whose name starts with `prefix-` (between tests sharing a node). */
  async deletePrefix(prefix: string): Promise<void> {
    await fetch(`${this.url}/${prefix}-*?expand_wildcards=all&ignore_unavailable=true`, { method: 'DELETE' });
    await fetch(`${this.url}/_index_template/${prefix}-*`, { method: 'DELETE' });
  }

  /** SIGTERM to the process group, then waits for the exit; removes the temporary directory. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child !== undefined && child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      killGroup(child.pid, 'SIGTERM');
      const killer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), 30_000);
      await exit;
      clearTimeout(killer);
    }
    if (this.watchdog?.pid !== undefined && this.watchdog.exitCode === null) killGroup(this.watchdog.pid, 'SIGKILL');
    this.watchdog = undefined;
    started.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Last lines the node printed, for failure messages. */
  get log(): string {
    return this.output;
  }

  killNow(): void {
    if (this.child?.pid !== undefined) killGroup(this.child.pid, 'SIGKILL');
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const node of started) node.killNow();
  });
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) chownTree(child, uid, gid);
    else chownSync(child, uid, gid);
  }
}
