import { getHeapStatistics } from 'node:v8';
import { RISK_LEVELS } from '@risk/domain';
import { apiKey, duration, flag, heapShareOrSize, hostPort, integer, list, oneOf, size, text, url, type Parser } from './config-parsers';
import { LOG_LEVELS, SASL_MECHANISMS, type EngineConfig } from './engine-config-types';

/** A dotted path to a value in EngineConfig (`kafka.maxWaitMs`), checked by the compiler. */
type ConfigPath<T, Depth extends 0[] = []> = Depth['length'] extends 3
  ? never
  : {
      [K in keyof T & string]: NonNullable<T[K]> extends string | number | boolean | readonly unknown[]
        ? K
        : K | `${K}.${ConfigPath<NonNullable<T[K]>, [...Depth, 0]>}`;
    }[keyof T & string];

interface Variable<T> {
  /** Markdown, as in the README table. */
  readonly meaning: string;
  readonly parse: Parser<T>;
  /**
   * Where the value lands in EngineConfig: engine-config.spec.ts checks that
   * setting the variable changes it, test/docs/config-usage.test.ts that
   * production code reads it.
   */
  readonly field: ConfigPath<EngineConfig>;
}
/** A variable with a default, written as it would be in the environment. */
export interface Setting<T> extends Variable<T> {
  readonly default: string;
}
/** A variable that may stay unset; `unset` says what that means (README: "(unset: …)"). */
export interface OptionalSetting<T> extends Variable<T> {
  readonly default?: undefined;
  readonly unset?: string;
}
const setting = <T>(row: Setting<T>): Setting<T> => row;
const optional = <T>(row: OptionalSetting<T>): OptionalSetting<T> => row;

/**
 * Every variable the engine reads: its default, meaning, parser and the
 * EngineConfig field it fills. The one source of each default: loadConfig,
 * the README table (test/docs/readme.test.ts) and the adapters' options
 * (passed by the wiring) all follow from it.
 */
export const CONFIG_TABLE = {
  HOST: setting({ default: '127.0.0.1', parse: text, field: 'http.host', meaning: 'HTTP bind address' }),
  PORT: setting({ default: '8080', parse: integer(0, 65535), field: 'http.port', meaning: 'HTTP port (0 = any free port)' }),
  HTTP_MAX_BODY: setting({
    default: '64mb',
    parse: size,
    field: 'http.maxBodyBytes',
    meaning: 'largest HTTP body (NDJSON batches up to 10,000 events)',
  }),
  RULES_DIR: setting({
    default: 'rules',
    parse: text,
    field: 'rulesDir',
    meaning: 'feature definitions (features.json) and seed rules (*.json)',
  }),
  DATA_DIR: setting({
    default: 'data',
    parse: text,
    field: 'dataDir',
    meaning: 'embedded mode: rule versions, audit trail, and engine.sqlite (verdicts, profiles, recent alerts and rejects)',
  }),
  RULES_RECONCILE_INTERVAL: setting({
    default: '5s',
    parse: duration,
    field: 'rulesReconcileIntervalMs',
    meaning: 'how often an instance re-checks the active rule set (pub/sub can drop messages)',
  }),
  LOG_LEVEL: setting({
    default: 'info',
    parse: oneOf(LOG_LEVELS),
    field: 'logLevel',
    meaning: 'debug, info, warn or error (JSON lines on stdout)',
  }),
  ALLOWED_LATENESS: setting({
    default: '10m',
    parse: duration,
    field: 'state.allowedLatenessMs',
    meaning: 'events older than the partition watermark by more are flagged late',
  }),
  MAX_EVENT_TIME_SKEW: setting({
    default: '5m',
    parse: duration,
    field: 'maxEventTimeSkewMs',
    meaning: "events dated further ahead of the instance's clock are rejected (reason `event_time_ahead`); at most `ALLOWED_LATENESS`",
  }),
  DEDUP_RETENTION: setting({
    default: '24h',
    parse: duration,
    field: 'state.dedupRetentionMs',
    meaning: 'how long (event time) an event_id is remembered',
  }),
  LATEST_VALUE_RETENTION: setting({
    default: '30d',
    parse: duration,
    field: 'state.latestValueRetentionMs',
    meaning: "how long a user's latest device/city is remembered",
  }),
  ALERT_THRESHOLD: setting({
    default: 'MEDIUM',
    parse: oneOf(RISK_LEVELS),
    field: 'alerts.threshold',
    meaning: 'verdicts at or above this level raise an alert',
  }),
  ALERTS_RECENT_LIMIT: setting({
    default: '10000',
    parse: integer(1, 10_000_000),
    field: 'alerts.recentLimit',
    meaning: 'embedded mode: alerts kept for GET /alerts',
  }),
  VERDICTS_LIMIT: setting({
    default: '5000000',
    parse: integer(1, 1_000_000_000),
    field: 'verdicts.limit',
    meaning: 'embedded mode: verdicts kept in DATA_DIR/engine.sqlite (oldest deleted first, with profiles left without verdicts)',
  }),
  MEMORY_BUDGET: setting({
    default: '50%',
    parse: heapShareOrSize(getHeapStatistics().heap_size_limit),
    field: 'memoryBudgetBytes',
    meaning: 'in-memory feature state budget: a size (256mb) or a share of the V8 heap limit; above it idle entities are evicted',
  }),
  KAFKA_BROKERS: optional({
    unset: 'HTTP ingest only',
    parse: list(hostPort),
    field: 'kafka.brokers',
    meaning: 'comma-separated brokers; enables the Kafka consumer and producers',
  }),
  KAFKA_CLIENT_ID: setting({ default: 'risk-engine', parse: text, field: 'kafka.clientId', meaning: 'Kafka client id' }),
  KAFKA_GROUP_ID: setting({ default: 'risk-engine', parse: text, field: 'kafka.groupId', meaning: 'consumer group' }),
  KAFKA_EVENTS_TOPIC: setting({ default: 'user-events', parse: text, field: 'kafka.eventsTopic', meaning: 'input topic' }),
  KAFKA_ALERTS_TOPIC: setting({ default: 'risk-alerts', parse: text, field: 'kafka.alertsTopic', meaning: 'alerts topic' }),
  KAFKA_DLQ_TOPIC: setting({ default: 'user-events-dlq', parse: text, field: 'kafka.deadLetterTopic', meaning: 'dead-letter topic' }),
  KAFKA_SSL: setting({ default: 'false', parse: flag, field: 'kafka.ssl', meaning: 'TLS to the brokers' }),
  KAFKA_SASL_MECHANISM: optional({
    parse: oneOf(SASL_MECHANISMS),
    field: 'kafka.sasl',
    meaning: 'plain, scram-sha-256 or scram-sha-512',
  }),
  KAFKA_SASL_USERNAME: optional({ parse: text, field: 'kafka.sasl', meaning: 'SASL user name (required with KAFKA_SASL_MECHANISM)' }),
  KAFKA_SASL_PASSWORD: optional({ parse: text, field: 'kafka.sasl', meaning: 'SASL password (required with KAFKA_SASL_MECHANISM)' }),
  KAFKA_CREATE_TOPICS: setting({
    default: 'false',
    parse: flag,
    field: 'kafka.createTopics',
    meaning: 'create missing topics at start-up',
  }),
  KAFKA_MAX_BATCH_BYTES: setting({
    default: '1048576',
    parse: integer(1024, 256 * 1024 * 1024),
    field: 'kafka.maxBatchBytes',
    meaning: 'max bytes fetched per partition per batch',
  }),
  KAFKA_MAX_BATCH_EVENTS: setting({
    default: '500',
    parse: integer(1, 100_000),
    field: 'kafka.maxBatchEvents',
    meaning: 'events decided per pipeline call',
  }),
  KAFKA_MAX_WAIT: setting({
    default: '500ms',
    parse: duration,
    field: 'kafka.maxWaitMs',
    meaning: 'fetch long-poll; a real broker answers as soon as data arrives',
  }),
  REDIS_URL: optional({
    unset: 'in-memory state',
    parse: url(['rediss?'], 'redis://host:port'),
    field: 'redis.url',
    meaning: 'redis://host:port; enables shared state and rule sets in Redis',
  }),
  REDIS_CLUSTER_NODES: optional({
    parse: list(hostPort),
    field: 'redis.clusterNodes',
    meaning: 'comma-separated host:port seeds of a Redis Cluster (instead of REDIS_URL)',
  }),
  REDIS_KEY_PREFIX: setting({ default: 'risk:', parse: text, field: 'redis.keyPrefix', meaning: 'prefix of every Redis key' }),
  REDIS_STATE_CACHE: setting({
    default: '100000',
    parse: integer(0, 100_000_000),
    field: 'redis.stateCache',
    meaning:
      'entities per entity field (users, IPs, …) whose state an instance keeps between batches; a stale one is caught by the compare-and-set and read again; 0 reads every entity every batch',
  }),
  ELASTICSEARCH_NODE: optional({
    unset: 'verdicts in SQLite under DATA_DIR',
    parse: url(['https?'], 'http(s)://host:port'),
    field: 'elasticsearch.node',
    meaning: 'http(s)://host:9200; enables the verdict store',
  }),
  ELASTICSEARCH_USERNAME: optional({ parse: text, field: 'elasticsearch.username', meaning: 'basic auth user name' }),
  ELASTICSEARCH_PASSWORD: optional({ parse: text, field: 'elasticsearch.password', meaning: 'basic auth password' }),
  ELASTICSEARCH_API_KEY: optional({ parse: text, field: 'elasticsearch.apiKey', meaning: 'API key auth' }),
  ELASTICSEARCH_REQUEST_TIMEOUT: setting({
    default: '30s',
    parse: duration,
    field: 'elasticsearch.requestTimeoutMs',
    meaning: 'per-request timeout',
  }),
  ELASTICSEARCH_FLUSH_INTERVAL: setting({
    default: '200ms',
    parse: duration,
    field: 'elasticsearch.flushIntervalMs',
    meaning: 'bulk flush interval',
  }),
  ELASTICSEARCH_FLUSH_DOCS: setting({
    default: '5000',
    parse: integer(1, 1_000_000),
    field: 'elasticsearch.flushMaxDocs',
    meaning: 'bulk flush size in documents',
  }),
  ELASTICSEARCH_FLUSH_BYTES: setting({
    default: '5mb',
    parse: size,
    field: 'elasticsearch.flushMaxBytes',
    meaning: 'bulk flush size in bytes',
  }),
  API_KEYS: optional({
    unset: 'admin writes refused',
    parse: list(apiKey),
    field: 'apiKeys',
    meaning: 'name:role:key,... with role viewer or editor',
  }),
  SHUTDOWN_TIMEOUT: setting({
    default: '30s',
    parse: duration,
    field: 'shutdownTimeoutMs',
    meaning: 'longest graceful shutdown; past it the process logs it and exits 1',
  }),
};

export type ConfigVariableName = keyof typeof CONFIG_TABLE;

/** What each variable parses to: its parser's type, or undefined too when it may stay unset. */
export type ConfigValues = {
  readonly [K in ConfigVariableName]: (typeof CONFIG_TABLE)[K] extends Setting<infer T>
    ? T
    : (typeof CONFIG_TABLE)[K] extends OptionalSetting<infer T>
      ? T | undefined
      : never;
};

export interface ConfigVariable {
  readonly name: ConfigVariableName;
  /** As written in the environment; undefined when the variable may stay unset. */
  readonly default: string | undefined;
  /** What leaving an optional variable unset means, if anything more than "not used". */
  readonly unset: string | undefined;
  readonly meaning: string;
  readonly field: string;
}

/** The table as rows, in order (the README table lists them the same way). */
export const CONFIG_VARIABLES: readonly ConfigVariable[] = Object.entries(CONFIG_TABLE).map(([name, row]) => ({
  name: name as ConfigVariableName,
  default: row.default,
  unset: 'unset' in row ? row.unset : undefined,
  meaning: row.meaning,
  field: row.field,
}));
