import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitForPort } from './redis-server';

/**
 * One Kafka KRaft node (combined broker + controller) of a test cluster
 * (kafka-broker.ts) as a JVM child process: its server.properties and log
 * configuration, `kafka-storage format`, start (ready once it logs that it
 * serves), stop and kill; JVMs still running when the test process exits
 * are killed.
 */

const started = new Set<KafkaNode>();
let exitHookInstalled = false;

/** Kills every JVM still running when this process exits (a test that threw before `stop`). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const node of started) node.killNow();
  });
}

const LOG4J = [
  // WARN and up on stdout (kept for error messages), plus the one INFO line that says the node is serving.
  'log4j.rootLogger=WARN, stdout',
  'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
  'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
  'log4j.logger.kafka.server.KafkaRaftServer=INFO',
  '',
].join('\n');
// Kafka 4.x also drives log4j2 (its slf4j binding here is still reload4j); without a file it reports "No configuration found".
const LOG4J2 = [
  'status = error',
  'appender.out.type = Console',
  'appender.out.name = out',
  'rootLogger.level = warn',
  'rootLogger.appenderRef.out.ref = out',
  '',
].join('\n');
const STARTED = 'Kafka Server started';

/** One KRaft node (broker + controller) as a JVM child process; can be stopped and started again on the same ports and data. */
export class KafkaNode {
  private child: ChildProcess | undefined;
  private output: string[] = [];

  constructor(
    readonly nodeId: number,
    readonly port: number,
    readonly controllerPort: number,
    private readonly dir: string,
    private readonly jars: string,
    private readonly heapMb: number,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  writeConfig(voters: string, settings: Record<string, string | number>): void {
    const props: Record<string, string | number> = {
      'process.roles': 'broker,controller',
      'node.id': this.nodeId,
      'controller.quorum.voters': voters,
      listeners: `PLAINTEXT://127.0.0.1:${this.port},CONTROLLER://127.0.0.1:${this.controllerPort}`,
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${this.port}`,
      'controller.listener.names': 'CONTROLLER',
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      'inter.broker.listener.name': 'PLAINTEXT',
      'log.dirs': this.dataDir,
      ...settings,
    };
    writeFileSync(
      join(this.dir, 'server.properties'),
      Object.entries(props)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n') + '\n',
    );
    writeFileSync(join(this.dir, 'log4j.properties'), LOG4J);
    writeFileSync(join(this.dir, 'log4j2.properties'), LOG4J2);
  }

  private javaArgs(heapMb: number, main: string, args: readonly string[]): string[] {
    return [
      `-Xmx${heapMb}m`,
      `-Xms${Math.min(heapMb, 128)}m`,
      // Few GC threads on a two-core machine; a small heap needs no concurrent collector.
      '-XX:+UseSerialGC',
      '-XX:-UsePerfData',
      '-Djava.awt.headless=true',
      `-Dlog4j.configuration=file:${join(this.dir, 'log4j.properties')}`,
      `-Dlog4j2.configurationFile=${join(this.dir, 'log4j2.properties')}`,
      `-Dkafka.logs.dir=${join(this.dir, 'logs')}`,
      '-cp',
      join(this.jars, '*'),
      main,
      ...args,
    ];
  }

  /** `kafka-storage format`: writes meta.properties and the bootstrap metadata for the cluster id. */
  format(clusterId: string): Promise<void> {
    const args = this.javaArgs(128, 'kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', join(this.dir, 'server.properties')]);
    return new Promise((resolvePromise, reject) => {
      execFile('java', args, { timeout: 60_000 }, (error, stdout, stderr) => {
        if (error !== null) reject(new Error(`kafka storage format (node ${this.nodeId}) failed: ${stderr || stdout || error.message}`));
        else resolvePromise();
      });
    });
  }

  /** Starts the JVM and resolves once it logs that it serves clients. */
  async start(timeoutMs: number): Promise<void> {
    if (this.child !== undefined) throw new Error(`kafka node ${this.nodeId} is already running`);
    this.output = [];
    const java = this.javaArgs(this.heapMb, 'kafka.Kafka', [join(this.dir, 'server.properties')]);
    // setpriv --pdeathsig: the kernel kills the JVM when this process dies, even by SIGKILL (no exit hook runs then).
    const [command, args] = hasSetpriv() ? ['setpriv', ['--pdeathsig', 'KILL', 'java', ...java]] : ['java', java];
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    started.add(this);
    installExitHook();
    const ready = new Promise<void>((resolvePromise, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`kafka node ${this.nodeId} not started within ${timeoutMs} ms:\n${this.tail()}`)),
        timeoutMs,
      );
      const onData = (chunk: Buffer): void => {
        const text = chunk.toString('utf8');
        this.output.push(text);
        if (this.output.length > 200) this.output.splice(0, this.output.length - 200);
        // The line may arrive split over two chunks.
        const previousTail = (this.output[this.output.length - 2] ?? '').slice(-STARTED.length);
        if ((previousTail + text).includes(STARTED)) {
          clearTimeout(timer);
          resolvePromise();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`kafka node ${this.nodeId} exited (${String(code ?? signal)}) before it started:\n${this.tail()}`));
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`kafka node ${this.nodeId}: cannot run java (OpenJDK 17 is needed): ${error.message}`));
      });
    });
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
      started.delete(this);
    });
    await ready;
    await waitForPort(this.port);
  }

  /** SIGTERM (controlled shutdown), SIGKILL after `graceMs`; `kill` sends SIGKILL at once, like a crashed machine. */
  async stop(options: { kill?: boolean; graceMs?: number } = {}): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    const exited = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()));
    child.kill(options.kill === true ? 'SIGKILL' : 'SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), options.graceMs ?? 15_000);
    await exited;
    clearTimeout(timer);
  }

  killNow(): void {
    this.child?.kill('SIGKILL');
  }

  tail(): string {
    return this.output.join('').split('\n').slice(-40).join('\n');
  }
}

let setprivAvailable: boolean | undefined;
function hasSetpriv(): boolean {
  setprivAvailable ??= ['/usr/bin/setpriv', '/bin/setpriv'].some((path) => existsSync(path));
  return setprivAvailable;
}
