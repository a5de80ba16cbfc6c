import { connect as connectTcp, isIP } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { DependencyUnavailableError, RiskEngineError } from '@risk/domain';
import {
  Kafka,
  Partitioners,
  logLevel as KafkaLogLevel,
  type Consumer,
  type EachBatchPayload,
  type ISocketFactory,
  type LogEntry,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import { JsonLogger } from '../logging/json-logger';

// The only file importing kafkajs: the rest of the code base sees the types below, never kafkajs's own.

/** A record as consumed. kafkajs's messages satisfy it as they are: nothing is copied on the hot path. */
export interface ConsumedRecord {
  readonly key: Buffer | null;
  /** `null` for a tombstone. */
  readonly value: Buffer | null;
  readonly offset: string;
  /** Epoch milliseconds (create or log-append time), as a decimal string. */
  readonly timestamp: string;
  readonly headers?: Readonly<Record<string, Buffer | string | readonly (Buffer | string)[] | undefined>>;
}

/** The records of one partition fetched together. */
export interface ConsumedBatch {
  readonly topic: string;
  readonly partition: number;
  /** Next offset to be written to the partition, when fetched. */
  readonly highWatermark: string;
  readonly messages: readonly ConsumedRecord[];
}

/**
 * What a batch handler can do while it holds its batch. Errors thrown by
 * `heartbeat` and `commit` go back to kafkajs untouched: they are how it
 * learns of a rebalance and rejoins the group.
 */
export interface BatchControl {
  /** False once the consumer is stopping or crashed. */
  isRunning(): boolean;
  /** True once the partition was revoked (or seeked): the batch must not be committed. */
  isStale(): boolean;
  /** Stops fetching this partition; the returned function resumes it. */
  pause(): () => void;
  /** Heartbeats when the interval has elapsed; throws when the group is rebalancing. */
  heartbeat(): Promise<void>;
  /**
   * Marks every record up to `offset` processed and commits `offset + 1`,
   * explicitly and with the current generation: a member that lost the
   * partition in a completed rebalance gets an error instead of overwriting the
   * new owner's progress.
   */
  commit(offset: string): Promise<void>;
}

export interface GroupConsumerRun {
  readonly topic: string;
  /** Where a group without committed offsets starts. */
  readonly fromBeginning: boolean;
  /** Partitions handled at the same time (each one still in order). Default 1. */
  readonly partitionsConsumedConcurrently?: number;
  /** The partitions of `topic` assigned to this member, at each group join. */
  readonly onAssignment?: (partitions: readonly number[]) => void;
  /** kafkajs crashed the consumer; `restart` says whether it restarts it by itself. */
  readonly onCrash?: (error: unknown, restart: boolean) => void;
  /** Nothing is committed unless the handler calls `control.commit`. */
  readonly eachBatch: (batch: ConsumedBatch, control: BatchControl) => Promise<void>;
}

/** Structured logger the Kafka adapters write to (JsonLogger fits). */
export interface KafkaLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export type KafkaClientLogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface KafkaClientOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** `true` for TLS with the system CAs, or explicit TLS options. */
  readonly ssl?: boolean | ConnectionOptions;
  readonly sasl?: { readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; readonly username: string; readonly password: string };
  /** Default 3000. */
  readonly connectionTimeoutMs?: number;
  /** Default 30000. */
  readonly requestTimeoutMs?: number;
  /** kafkajs's own request retries (per call), before an error reaches our code. */
  readonly retry?: { readonly retries?: number; readonly initialRetryTimeMs?: number; readonly maxRetryTimeMs?: number };
  /** Where kafkajs's log lines go; default JSON lines on stdout. */
  readonly logger?: KafkaLogger;
  /** Default `warn`: kafkajs is chatty at info (every join, every connection). */
  readonly logLevel?: KafkaClientLogLevel;
}

export interface KafkaConsumerSettings {
  readonly groupId: string;
  readonly sessionTimeoutMs?: number;
  readonly rebalanceTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  readonly maxBytesPerPartition: number;
  /**
   * Fetch long-poll. The broker answers as soon as data arrives, so this
   * only bounds idle polling.
   */
  readonly maxWaitTimeMs: number;
}

export interface OutboundRecord {
  readonly key: Buffer | string | null;
  readonly value: Buffer | string;
  readonly headers?: Readonly<Record<string, string | Buffer>>;
}

export interface TopicSpec {
  readonly topic: string;
  readonly numPartitions?: number;
  readonly replicationFactor?: number;
}

/** kafkajs error types that retrying the same records can never fix. */
const PERMANENT_PRODUCE_ERRORS = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_REQUIRED_ACKS',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT',
]);

/**
 * Maps a kafkajs failure to the engine's error model: almost everything
 * (connection loss, leader moves, timeouts, retries exhausted) is a broker
 * being unavailable and so retriable; records the broker refuses as such are not.
 */
export function toEngineError(error: unknown, what: string): RiskEngineError {
  if (error instanceof RiskEngineError) return error;
  const type = kafkaErrorType(error);
  const message = `${what}: ${error instanceof Error ? error.message : String(error)}`;
  if (type !== undefined && PERMANENT_PRODUCE_ERRORS.has(type)) {
    return new RiskEngineError(`KAFKA_${type}`, message, false, { dependency: 'kafka', type }, { cause: error });
  }
  return new DependencyUnavailableError('kafka', message, { cause: error });
}

function kafkaErrorType(error: unknown): string | undefined {
  let current: unknown = error;
  // kafkajs wraps the broker's error in KafkaJSNumberOfRetriesExceeded / KafkaJSAggregateError.
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const typed = current as Error & { type?: unknown; errors?: unknown; cause?: unknown; originalError?: unknown };
    if (typeof typed.type === 'string') return typed.type;
    if (Array.isArray(typed.errors) && typed.errors.length > 0) current = typed.errors[0];
    else current = typed.originalError ?? typed.cause;
  }
  return undefined;
}

const LEVELS: Record<KafkaClientLogLevel, KafkaLogLevel> = {
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
};

/** Error responses that are part of a normal rebalance; kafkajs logs them at ERROR. */
const ROUTINE_ERRORS = ['The group is rebalancing, so a rejoin is needed', 'Specified group generation id is not valid'];
/** kafkajs warnings about choices made here on purpose (see `producer()`), logged at info. */
const DELIBERATE_WARNINGS = ['Limiting retries for the idempotent producer may invalidate EoS guarantees'];

/** A consumer group member on one topic, with commits left to the batch handler. */
export class KafkaGroupConsumer {
  private started = false;

  constructor(private readonly consumer: Consumer) {}

  /** Connects, subscribes and starts consuming; resolves once the consumer runs (the group join follows). */
  async start(run: GroupConsumerRun): Promise<void> {
    if (this.started) throw new RiskEngineError('KAFKA_CONSUMER_STARTED', 'this Kafka consumer is already started', false);
    this.started = true;
    const { consumer } = this;
    consumer.on(consumer.events.GROUP_JOIN, (event) => run.onAssignment?.(event.payload.memberAssignment[run.topic] ?? []));
    consumer.on(consumer.events.CRASH, (event) => run.onCrash?.(event.payload.error, event.payload.restart));
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: run.topic, fromBeginning: run.fromBeginning });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: run.partitionsConsumedConcurrently ?? 1,
        eachBatch: (payload) => run.eachBatch(payload.batch, batchControl(payload)),
      });
    } catch (error) {
      await this.consumer.disconnect().catch(() => undefined);
      throw toEngineError(error, `kafka consumer start on ${run.topic}`);
    }
  }

  /** Stops fetching, waits for the running batch handlers, then leaves the group so the partitions move at once. */
  async stop(): Promise<void> {
    try {
      await this.consumer.stop();
    } catch (error) {
      throw toEngineError(error, 'kafka consumer stop');
    } finally {
      await this.consumer.disconnect();
    }
  }
}

function batchControl(payload: EachBatchPayload): BatchControl {
  const { topic, partition } = payload.batch;
  return {
    isRunning: () => payload.isRunning(),
    isStale: () => payload.isStale(),
    pause: () => payload.pause(),
    heartbeat: () => payload.heartbeat(),
    commit: async (offset) => {
      payload.resolveOffset(offset);
      const next = (BigInt(offset) + 1n).toString();
      await payload.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: next }] }] });
    },
  };
}

/** Producer acknowledged by all in-sync replicas, connected lazily, shared by the client's publishers. */
export class KafkaProducer {
  private connecting: Promise<void> | undefined;

  constructor(private readonly producer: Producer) {}

  async connect(): Promise<void> {
    this.connecting ??= this.producer.connect().catch((error: unknown) => {
      this.connecting = undefined;
      throw toEngineError(error, 'kafka producer connect');
    });
    await this.connecting;
  }

  /** Resolves once every record is acknowledged by all in-sync replicas (acks = -1). */
  async send(topic: string, records: readonly OutboundRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.connect();
    try {
      await this.producer.send({
        topic,
        acks: -1,
        messages: records.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
      });
    } catch (error) {
      throw toEngineError(error, `kafka produce to ${topic}`);
    }
  }

  async disconnect(): Promise<void> {
    if (this.connecting === undefined) return;
    this.connecting = undefined;
    await this.producer.disconnect();
  }
}

/**
 * kafkajs behind typed options. Consuming goes through `KafkaGroupConsumer`
 * (batches, explicit commits); producing through `KafkaProducer`, which is
 * idempotent. Topic creation (`ensureTopics`,
 * admin CreateTopics) is optional and off unless configured.
 */
export class KafkaClient {
  readonly logger: KafkaLogger;
  private readonly kafka: Kafka;
  private sharedProducer: KafkaProducer | undefined;

  constructor(readonly options: KafkaClientOptions) {
    if (options.brokers.length === 0) throw new RiskEngineError('KAFKA_CONFIG', 'Kafka needs at least one broker', false);
    this.logger = options.logger ?? new JsonLogger(options.logLevel ?? 'warn', 'kafka');
    const logger = this.logger;
    this.kafka = new Kafka({
      brokers: [...options.brokers],
      clientId: options.clientId,
      ssl: options.ssl,
      sasl: options.sasl as SASLOptions | undefined,
      connectionTimeout: options.connectionTimeoutMs ?? 3000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      retry: {
        retries: options.retry?.retries ?? 5,
        initialRetryTime: options.retry?.initialRetryTimeMs ?? 100,
        maxRetryTime: options.retry?.maxRetryTimeMs ?? 5000,
      },
      logLevel: LEVELS[options.logLevel ?? 'warn'],
      socketFactory: noDelaySocketFactory,
      logCreator:
        () =>
        ({ namespace, level, log }: LogEntry) => {
          const fields: Record<string, unknown> = { ...log };
          const message = log.message;
          // Our logger stamps its own time and context.
          delete fields.message;
          delete fields.timestamp;
          delete fields.logger;
          const entry = { kafkajs: namespace, ...fields };
          if (level === KafkaLogLevel.ERROR && ROUTINE_ERRORS.includes(String(fields.error))) logger.info(message, entry);
          else if (level === KafkaLogLevel.ERROR || level === KafkaLogLevel.NOTHING) logger.error(message, entry);
          else if (level === KafkaLogLevel.WARN && !DELIBERATE_WARNINGS.includes(message)) logger.warn(message, entry);
          else if (level === KafkaLogLevel.INFO) logger.info(message, entry);
          else logger.debug(message, entry);
        },
    });
  }

  createConsumer(settings: KafkaConsumerSettings): KafkaGroupConsumer {
    const consumer = this.kafka.consumer({
      groupId: settings.groupId,
      sessionTimeout: settings.sessionTimeoutMs ?? 30_000,
      rebalanceTimeout: settings.rebalanceTimeoutMs ?? 60_000,
      heartbeatInterval: settings.heartbeatIntervalMs ?? 3000,
      maxBytesPerPartition: settings.maxBytesPerPartition,
      maxWaitTimeInMs: settings.maxWaitTimeMs,
      allowAutoTopicCreation: false,
      // Only committed input may be decided: a transactional upstream's aborted records are skipped.
      readUncommitted: false,
    });
    return new KafkaGroupConsumer(consumer);
  }

  /** One producer per client, shared by the alert publisher and the dead-letter sink. */
  producer(): KafkaProducer {
    this.sharedProducer ??= new KafkaProducer(
      this.kafka.producer({
        // The broker drops a batch it already appended when kafkajs retries it (same producer id and sequence), so a
        // lost acknowledgement does not duplicate an alert. kafkajs serialises an idempotent producer's requests per
        // broker; one request in flight keeps its sequence numbers in order.
        idempotent: true,
        maxInFlightRequests: 1,
        // Bounded (kafkajs would retry an idempotent send forever): an outage must reach the consumer's own backoff,
        // which keeps the group heartbeat going; a failed send rolls its sequence numbers back, so the re-send is
        // still recognised by the broker if the first attempt was appended after all.
        retry: {
          retries: this.options.retry?.retries ?? 5,
          initialRetryTime: this.options.retry?.initialRetryTimeMs ?? 100,
          maxRetryTime: this.options.retry?.maxRetryTimeMs ?? 5000,
        },
        allowAutoTopicCreation: false,
        // Java-compatible murmur2 on the key, so a user's records land where any other client would put them.
        createPartitioner: Partitioners.DefaultPartitioner,
      }),
    );
    return this.sharedProducer;
  }

  /** Creates missing topics (CreateTopics via the controller). Off by default: production clusters usually forbid it. */
  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      await admin.createTopics({
        waitForLeaders: true,
        topics: topics.map((t) => ({ topic: t.topic, numPartitions: t.numPartitions ?? 3, replicationFactor: t.replicationFactor ?? -1 })),
      });
    } catch (error) {
      throw toEngineError(error, 'kafka create topics');
    } finally {
      await admin.disconnect();
    }
  }

  /** Offsets committed by `groupId` on `topic`, by partition ("-1" when none). */
  async committedOffsets(groupId: string, topic: string): Promise<Map<number, string>> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return new Map((entry?.partitions ?? []).map((p) => [p.partition, p.offset]));
    } catch (error) {
      throw toEngineError(error, 'kafka fetch committed offsets');
    } finally {
      await admin.disconnect();
    }
  }

  /** High watermark (next offset to be written) by partition. */
  async highWatermarks(topic: string): Promise<Map<number, string>> {
    const offsets = await this.topicOffsets(topic);
    return new Map([...offsets].map(([partition, o]) => [partition, o.high]));
  }

  /** Log start (`low`) and high watermark by partition. */
  async topicOffsets(topic: string): Promise<Map<number, { low: string; high: string }>> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const offsets = await admin.fetchTopicOffsets(topic);
      return new Map(offsets.map((p) => [p.partition, { low: p.low, high: p.high }]));
    } catch (error) {
      throw toEngineError(error, 'kafka fetch topic offsets');
    } finally {
      await admin.disconnect();
    }
  }

  /** Disconnects the shared producer; consumers are stopped by their owners. */
  async close(): Promise<void> {
    const producer = this.sharedProducer;
    this.sharedProducer = undefined;
    if (producer !== undefined) await producer.disconnect();
  }
}

/**
 * kafkajs's own socket factory with TCP_NODELAY added (kafkajs leaves Nagle's
 * algorithm on). With Nagle, a small request written while an earlier one is
 * unacknowledged waits for the peer's delayed ACK, 40 ms on Linux: in some
 * bench runs against librdkafka's mock cluster every OffsetCommit took
 * 41–48 ms, which stalls the partition (the next chunk waits for the commit).
 * kafkajs already batches requests, so TCP has nothing to gain by holding
 * them; librdkafka made the same change to its default in 2025.
 */
const noDelaySocketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? connectTls({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ...ssl }, onConnect)
    : connectTcp({ host, port }, onConnect);
  socket.setKeepAlive(true, 60_000);
  socket.setNoDelay(true);
  return socket;
};
