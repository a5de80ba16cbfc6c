import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KafkaClient, type KafkaLogger } from '@risk/infra/kafka/kafka.client';
import { KafkaNode } from './kafka-node';
import { freePort } from './redis-server';

/**
 * Real Apache Kafka (KRaft) for the tests, from the jars that
 * `bash scripts/install-test-servers.sh` resolves from Maven Central into
 * `.cache/servers/kafka-<version>/`. One broker (combined broker + controller)
 * or a cluster of three combined nodes sharing one controller quorum, on free
 * loopback ports, in a temporary directory removed on stop.
 */

/** The line docker-compose.yml pins; `KAFKA_VERSION` selects another one cached by the install script (e.g. 4.1.1). */
export const DEFAULT_KAFKA_VERSION = '3.8.0';
/** The Kafka 4.x line the suite also runs against (KIP-896 removed old protocol versions in 4.0). */
export const KAFKA_4_VERSION = '4.1.1';

export function kafkaVersionFromEnv(): string {
  return process.env.KAFKA_VERSION ?? DEFAULT_KAFKA_VERSION;
}

const REPO_ROOT = resolve(__dirname, '..', '..', ...(__dirname.includes(join('dist', 'test')) ? ['..'] : []));

/** The directory holding every jar of `org.apache.kafka:kafka_2.13:<version>`; fails saying how to get it. */
export function kafkaJarsDir(version: string): string {
  // Compiled tests run from dist/ or TEST_OUT_DIR (anywhere), so look from the working directory too.
  for (const root of [process.cwd(), REPO_ROOT]) {
    const dir = join(root, '.cache', 'servers', `kafka-${version}`);
    if (existsSync(join(dir, '.complete')) && existsSync(join(dir, `kafka_2.13-${version}.jar`))) return dir;
  }
  throw new Error(
    `Kafka ${version} is not installed in .cache/servers/kafka-${version}: run \`bash scripts/install-test-servers.sh\` ` +
      '(npm test runs it in pretest; it needs Java 17, Maven and Maven Central)',
  );
}

export interface TestKafkaOptions {
  /** 1 (default) or 3 nodes; each node is broker and controller. */
  readonly nodes?: 1 | 3;
  /** Default `KAFKA_VERSION` or {@link DEFAULT_KAFKA_VERSION}. */
  readonly version?: string;
  /** Max heap per JVM. Default 256 MiB for one node, 192 MiB each for three. */
  readonly heapMb?: number;
  /** Topics created once the cluster is up: `name` or `name:partitions`. */
  readonly topics?: readonly string[];
  /** Partitions of a topic without its own count. Default 3. */
  readonly partitions?: number;
  /** Default 90 s: three JVMs starting on two busy cores can take a while. */
  readonly startTimeoutMs?: number;
}

/**
 * A random KRaft cluster id (16 bytes, base64url), never starting with '-':
 * the storage tool would read such an id as an option (1 start in 64 failed
 * so). Kafka's own Uuid.randomUuid() draws again for the same reason.
 */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** Broker settings that make a test node start fast and stay small; replication fitted to the node count. */
function testSettings(nodes: number, partitions: number): Record<string, string | number> {
  const replication = Math.min(nodes, 3);
  return {
    'num.partitions': partitions,
    'default.replication.factor': replication,
    // With three replicas one node may be down and acks=all writes still succeed.
    'min.insync.replicas': Math.max(1, replication - 1),
    'offsets.topic.replication.factor': replication,
    'offsets.topic.num.partitions': 3,
    'transaction.state.log.replication.factor': replication,
    'transaction.state.log.min.isr': Math.max(1, replication - 1),
    'transaction.state.log.num.partitions': 3,
    'group.initial.rebalance.delay.ms': 0,
    'auto.create.topics.enable': 'false',
    'num.network.threads': 2,
    'num.io.threads': 2,
    'background.threads': 2,
    'num.recovery.threads.per.data.dir': 1,
    'num.replica.fetchers': 1,
    // The default 128 MiB dedupe buffer would take half the heap.
    'log.cleaner.dedupe.buffer.size': 4 * 1024 * 1024,
    'log.cleaner.threads': 1,
    // A stopped node is noticed in 3 s (default 9 s), and the controller quorum elects quickly.
    'broker.heartbeat.interval.ms': 500,
    'broker.session.timeout.ms': 3000,
    'controller.quorum.election.timeout.ms': 1000,
    'controller.quorum.fetch.timeout.ms': 2000,
    'replica.lag.time.max.ms': 5000,
    'log.initial.task.delay.ms': 1000,
  };
}

/**
 * A real Kafka cluster for one test file. `brokers` is the bootstrap list.
 * Nodes can be stopped and started again (same ports, same data) to test a
 * broker restart; `stop()` stops them all and removes their data.
 */
export class TestKafkaCluster {
  private constructor(
    readonly version: string,
    private readonly nodes: readonly KafkaNode[],
    private readonly dir: string,
    private readonly partitions: number,
    private readonly startTimeoutMs: number,
  ) {}

  /** Wall time from formatting the storage to every node serving. */
  startupMs = 0;

  static async start(options: TestKafkaOptions = {}): Promise<TestKafkaCluster> {
    const version = options.version ?? kafkaVersionFromEnv();
    const jars = kafkaJarsDir(version);
    const count = options.nodes ?? 1;
    const partitions = options.partitions ?? 3;
    const heapMb = options.heapMb ?? (count === 1 ? 256 : 192);
    const startTimeoutMs = options.startTimeoutMs ?? 90_000;
    const began = performance.now();
    const dir = mkdtempSync(join(tmpdir(), 'risk-kafka-'));
    const nodes: KafkaNode[] = [];
    for (let id = 1; id <= count; id++) {
      const nodeDir = join(dir, `node-${id}`);
      mkdirSync(nodeDir);
      nodes.push(new KafkaNode(id, await freePort(), await freePort(), nodeDir, jars, heapMb));
    }
    const voters = nodes.map((n) => `${n.nodeId}@127.0.0.1:${n.controllerPort}`).join(',');
    const clusterId = newClusterId();
    const cluster = new TestKafkaCluster(version, nodes, dir, partitions, startTimeoutMs);
    try {
      for (const node of nodes) node.writeConfig(voters, testSettings(count, partitions));
      await Promise.all(nodes.map((node) => node.format(clusterId)));
      // A quorum of three needs two voters up: start them together.
      await Promise.all(nodes.map((node) => node.start(startTimeoutMs)));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    cluster.startupMs = Math.round(performance.now() - began);
    if (options.topics !== undefined && options.topics.length > 0) {
      try {
        await cluster.createTopics(options.topics);
      } catch (error) {
        await cluster.stop();
        throw error;
      }
    }
    return cluster;
  }

  /** Bootstrap addresses of the nodes that are running. */
  get brokers(): string[] {
    const running = this.nodes.filter((n) => n.running);
    return (running.length > 0 ? running : this.nodes).map((n) => n.address);
  }

  /** Every node's address, running or not (a client given all of them finds the live ones). */
  get allBrokers(): string[] {
    return this.nodes.map((n) => n.address);
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** Creates topics (`name` or `name:partitions`) with the cluster's default replication, waiting for their leaders. */
  async createTopics(specs: readonly string[]): Promise<void> {
    const client = new KafkaClient({ brokers: this.allBrokers, clientId: 'test-kafka-admin', logger: silent });
    const topics = specs.map((spec) => {
      const [topic, count] = spec.split(':');
      return { topic, numPartitions: count === undefined ? this.partitions : Number(count) };
    });
    const deadline = Date.now() + 60_000;
    try {
      // A node that lags behind the metadata log answers UNKNOWN_TOPIC_OR_PARTITION for a topic just created, which
      // kafkajs's wait for leaders does not retry; creating again is a no-op for the topics that exist.
      for (;;) {
        const failure = await client.ensureTopics(topics).then(
          () => undefined,
          (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
        );
        if (failure === undefined) break;
        if (Date.now() > deadline) throw failure;
        await new Promise((r) => setTimeout(r, 200));
      }
      // A leader may still refuse requests for a moment (NOT_LEADER_FOR_PARTITION). ListOffsets is served by each
      // partition's leader: once it answers, producing works.
      for (const { topic, numPartitions } of topics) {
        for (;;) {
          const answered = await client.topicOffsets(topic).then(
            (offsets) => offsets.size === numPartitions,
            () => false,
          );
          if (answered) break;
          if (Date.now() > deadline) throw new Error(`kafka topic ${topic}: partition leaders not serving within 60 s`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      await client.close();
    }
  }

  /** Stops node `index` (0-based): controlled shutdown, or SIGKILL with `kill`. Its ports and data are kept for `startNode`. */
  async stopNode(index: number, options: { kill?: boolean } = {}): Promise<void> {
    await this.node(index).stop(options);
  }

  /** Starts node `index` again on the same ports and data directory. */
  async startNode(index: number): Promise<void> {
    await this.node(index).start(this.startTimeoutMs);
  }

  /**
   * The broker's own view of a partition's log: `kafka.tools.DumpLogSegments`
   * (`kafka-dump-log`) over the partition's segments on node `index`, e.g. to
   * read the producer id and sequence numbers the broker stored with a batch.
   */
  dumpLog(index: number, topic: string, partition: number): Promise<string> {
    const node = this.node(index);
    const partitionDir = join(node.dataDir, `${topic}-${partition}`);
    const segments = readdirSync(partitionDir)
      .filter((name) => name.endsWith('.log'))
      .map((name) => join(partitionDir, name));
    const jars = kafkaJarsDir(this.version);
    return new Promise((resolvePromise, reject) => {
      execFile(
        'java',
        ['-Xmx128m', '-XX:+UseSerialGC', '-cp', join(jars, '*'), 'kafka.tools.DumpLogSegments', '--files', segments.join(',')],
        { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) =>
          error !== null ? reject(new Error(`kafka dump log failed: ${stderr || error.message}`)) : resolvePromise(stdout),
      );
    });
  }

  async stop(): Promise<void> {
    // Together: a quorum member waiting for the others during its controlled shutdown is cut short after the grace period.
    await Promise.all(this.nodes.map((node) => node.stop({ graceMs: 10_000 })));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private node(index: number): KafkaNode {
    const node = this.nodes[index];
    if (node === undefined) throw new Error(`no kafka node ${index} (the cluster has ${this.nodes.length})`);
    return node;
  }
}

const silent: KafkaLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
