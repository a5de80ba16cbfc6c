import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface TestRedisServerOptions {
  /** Working directory (RDB, AOF, cluster config): kept by dispose(). Default: a fresh temporary one, removed by dispose(). */
  readonly dir?: string;
  /** Runs redis-server under this command line, e.g. `['valgrind', '--tool=callgrind', …]`. */
  readonly wrapper?: readonly string[];
  /** How long to wait for the port to open. Default 10 s. */
  readonly readyTimeoutMs?: number;
}

/**
 * A private `redis-server` on a free loopback port, never the shared 6379
 * instance. Can be stopped and started again on the same port to test
 * outages. The one redis-server launcher of the tests and benches.
 */
export class TestRedisServer {
  private process: ChildProcess | undefined;
  readonly dir: string;
  private readonly ownsDir: boolean;

  private constructor(
    readonly port: number,
    private readonly extraArgs: readonly string[],
    private readonly options: TestRedisServerOptions,
  ) {
    this.ownsDir = options.dir === undefined;
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'risk-redis-'));
  }

  /** `extraArgs` come after the defaults (no persistence), so they override them. */
  static async start(extraArgs: readonly string[] = [], options: TestRedisServerOptions = {}): Promise<TestRedisServer> {
    const server = new TestRedisServer(await freePort(), extraArgs, options);
    await server.resume();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The pid of the running process (the wrapper's, when there is one). */
  get pid(): number | undefined {
    return this.process?.pid;
  }

  async resume(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      ...this.extraArgs,
    ];
    const [command, ...commandArgs] = [...(this.options.wrapper ?? []), 'redis-server', ...args];
    const child = spawn(command, commandArgs, { stdio: 'ignore' });
    this.process = child;
    await waitForPort(this.port, this.options.readyTimeoutMs);
  }

  /** Stops the server (SIGKILL-free: SIGTERM then wait). */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (child === undefined || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  /** Kills the server with SIGKILL (a crash: no shutdown, no save) and waits for it to be gone. */
  async kill(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (child === undefined || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** Freezes the server (SIGSTOP): connections stay open, nothing answers. */
  pause(): void {
    this.process?.kill('SIGSTOP');
  }

  /** Lets a paused server run again (SIGCONT). */
  unpause(): void {
    this.process?.kill('SIGCONT');
  }

  async dispose(): Promise<void> {
    this.unpause();
    await this.stop();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Redis Cluster of `masters` private redis-servers (no replicas) on free loopback ports, `cluster_state:ok` once started. */
export class TestRedisCluster {
  private constructor(private readonly servers: readonly TestRedisServer[]) {}

  static async start(masters = 3): Promise<TestRedisCluster> {
    const servers: TestRedisServer[] = [];
    const cluster = new TestRedisCluster(servers);
    try {
      for (let i = 0; i < masters; i++)
        servers.push(await TestRedisServer.start(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf']));
      const created = spawnSync('redis-cli', ['--cluster', 'create', ...cluster.nodes, '--cluster-replicas', '0', '--cluster-yes'], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
      const deadline = Date.now() + 20_000;
      for (;;) {
        const states = cluster.ports.map(
          (port) => spawnSync('redis-cli', ['-p', String(port), 'cluster', 'info'], { encoding: 'utf8' }).stdout,
        );
        if (states.every((s) => s.includes('cluster_state:ok'))) return cluster;
        if (Date.now() > deadline) throw new Error(`cluster not ok: ${states.join('\n')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (error) {
      await cluster.dispose();
      throw error;
    }
  }

  get ports(): number[] {
    return this.servers.map((server) => server.port);
  }

  /** `127.0.0.1:<port>` of each master, for REDIS_CLUSTER_NODES or the client's seeds. */
  get nodes(): string[] {
    return this.ports.map((port) => `127.0.0.1:${port}`);
  }

  async dispose(): Promise<void> {
    await Promise.all(this.servers.map((server) => server.dispose()));
  }
}
