import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { getHeapStatistics } from 'node:v8';
import { CONFIG_VARIABLES, ConfigError, loadConfig, type ConfigVariableName, type EngineConfig } from './engine-config';

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
  assert.fail(`no problem found in ${JSON.stringify(env)}`);
}

function valueAt(config: EngineConfig, field: string): unknown {
  return field.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], config);
}

/** Turns on the optional sections, so that every variable has a field to land in. */
const ALL_SECTIONS = { KAFKA_BROKERS: 'k1:9092', REDIS_URL: 'redis://r1:6379', ELASTICSEARCH_NODE: 'http://es1:9200' };

/** A valid value other than the default, for every variable of the table. */
const OTHER_VALUES: Record<ConfigVariableName, string> = {
  HOST: '0.0.0.0',
  PORT: '0',
  HTTP_MAX_BODY: '1mb',
  RULES_DIR: '/etc/rules',
  DATA_DIR: '/var/lib/risk',
  RULES_RECONCILE_INTERVAL: '1s',
  LOG_LEVEL: 'debug',
  ALLOWED_LATENESS: '1h',
  MAX_EVENT_TIME_SKEW: '1m',
  DEDUP_RETENTION: '2h',
  LATEST_VALUE_RETENTION: '7d',
  ALERT_THRESHOLD: 'HIGH',
  ALERTS_RECENT_LIMIT: '10',
  VERDICTS_LIMIT: '1000',
  MEMORY_BUDGET: '10%',
  KAFKA_BROKERS: 'k1:9092,k2:9092',
  KAFKA_CLIENT_ID: 'me',
  KAFKA_GROUP_ID: 'group-2',
  KAFKA_EVENTS_TOPIC: 'events-2',
  KAFKA_ALERTS_TOPIC: 'alerts-2',
  KAFKA_DLQ_TOPIC: 'dlq-2',
  KAFKA_SSL: 'true',
  KAFKA_SASL_MECHANISM: 'plain',
  KAFKA_SASL_USERNAME: 'user',
  KAFKA_SASL_PASSWORD: 'secret',
  KAFKA_CREATE_TOPICS: 'yes',
  KAFKA_MAX_BATCH_BYTES: '2048',
  KAFKA_MAX_BATCH_EVENTS: '10',
  KAFKA_MAX_WAIT: '50ms',
  REDIS_URL: 'redis://r2:6380',
  REDIS_CLUSTER_NODES: 'c1:7000,c2:7001',
  REDIS_KEY_PREFIX: 'other:',
  REDIS_STATE_CACHE: '5000',
  ELASTICSEARCH_NODE: 'https://es2:9200',
  ELASTICSEARCH_USERNAME: 'elastic',
  ELASTICSEARCH_PASSWORD: 'changeme',
  ELASTICSEARCH_API_KEY: 'a2V5',
  ELASTICSEARCH_REQUEST_TIMEOUT: '5s',
  ELASTICSEARCH_FLUSH_INTERVAL: '1s',
  ELASTICSEARCH_FLUSH_DOCS: '10',
  ELASTICSEARCH_FLUSH_BYTES: '1kb',
  API_KEYS: 'ops:editor:0123456789abcdef',
  SHUTDOWN_TIMEOUT: '5s',
};

const SASL = { KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'first', KAFKA_SASL_PASSWORD: 'first' };
/** What a variable needs beside it to be valid (a cross-check) or to count at all. */
const COMPANIONS: Partial<Record<ConfigVariableName, Record<string, string>>> = {
  KAFKA_SASL_MECHANISM: { KAFKA_SASL_USERNAME: 'user', KAFKA_SASL_PASSWORD: 'secret' },
  KAFKA_SASL_USERNAME: SASL,
  KAFKA_SASL_PASSWORD: SASL,
  REDIS_CLUSTER_NODES: { REDIS_URL: '' },
};

describe('loadConfig: defaults', () => {
  it('runs embedded with no environment: every default of the table', () => {
    const heapLimit = getHeapStatistics().heap_size_limit;
    assert.deepEqual(loadConfig({}), {
      http: { host: '127.0.0.1', port: 8080, maxBodyBytes: 64 * 1024 ** 2 },
      rulesDir: 'rules',
      dataDir: 'data',
      rulesReconcileIntervalMs: 5_000,
      logLevel: 'info',
      state: { allowedLatenessMs: 10 * 60_000, dedupRetentionMs: 24 * 3_600_000, latestValueRetentionMs: 30 * 86_400_000 },
      maxEventTimeSkewMs: 5 * 60_000,
      alerts: { threshold: 'MEDIUM', recentLimit: 10_000 },
      verdicts: { limit: 5_000_000 },
      memoryBudgetBytes: Math.floor(heapLimit / 2),
      kafka: undefined,
      redis: undefined,
      elasticsearch: undefined,
      apiKeys: [],
      shutdownTimeoutMs: 30_000,
    } satisfies EngineConfig);
  });

  it('gives each section its defaults once the section is turned on', () => {
    const config = loadConfig(ALL_SECTIONS);
    assert.deepEqual(config.kafka, {
      brokers: ['k1:9092'],
      clientId: 'risk-engine',
      groupId: 'risk-engine',
      eventsTopic: 'user-events',
      alertsTopic: 'risk-alerts',
      deadLetterTopic: 'user-events-dlq',
      ssl: false,
      sasl: undefined,
      createTopics: false,
      maxBatchBytes: 1024 * 1024,
      maxBatchEvents: 500,
      maxWaitMs: 500,
    });
    assert.deepEqual(config.redis, { url: 'redis://r1:6379', clusterNodes: undefined, keyPrefix: 'risk:', stateCache: 100_000 });
    assert.deepEqual(config.elasticsearch, {
      node: 'http://es1:9200',
      username: undefined,
      password: undefined,
      apiKey: undefined,
      requestTimeoutMs: 30_000,
      flushIntervalMs: 200,
      flushMaxDocs: 5000,
      flushMaxBytes: 5 * 1024 ** 2,
    });
  });

  it('reads a blank variable as unset, and a written default as the default', () => {
    const blanks = Object.fromEntries(CONFIG_VARIABLES.map((variable) => [variable.name, '  ']));
    assert.deepEqual(loadConfig(blanks), loadConfig({}));
    const written = Object.fromEntries(
      CONFIG_VARIABLES.flatMap((variable) => (variable.default === undefined ? [] : [[variable.name, variable.default]])),
    );
    assert.deepEqual(loadConfig({ ...ALL_SECTIONS, ...written }), loadConfig(ALL_SECTIONS));
  });
});

describe('loadConfig: the table', () => {
  it('has one other value in this spec for every variable (a new row needs one)', () => {
    assert.deepEqual(Object.keys(OTHER_VALUES).sort(), CONFIG_VARIABLES.map((variable) => variable.name).sort());
  });

  for (const variable of CONFIG_VARIABLES) {
    it(`${variable.name} lands in ${variable.field}`, () => {
      const baseline = { ...ALL_SECTIONS, ...COMPANIONS[variable.name] };
      const changed = loadConfig({ ...baseline, [variable.name]: OTHER_VALUES[variable.name] });
      assert.notDeepEqual(valueAt(changed, variable.field), valueAt(loadConfig(baseline), variable.field));
    });
  }
});

describe('loadConfig: parsers', () => {
  it('reads durations, sizes, integers, flags and choices', () => {
    const config = loadConfig({
      ...ALL_SECTIONS,
      KAFKA_MAX_WAIT: '250',
      HTTP_MAX_BODY: '512KB',
      ELASTICSEARCH_FLUSH_BYTES: '100',
      PORT: '65535',
      KAFKA_SSL: 'On',
      KAFKA_CREATE_TOPICS: '0',
      LOG_LEVEL: 'WARN',
      ALERT_THRESHOLD: 'high',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: 'p:w',
    });
    assert.equal(config.kafka?.maxWaitMs, 250);
    assert.equal(config.http.maxBodyBytes, 512 * 1024);
    assert.equal(config.elasticsearch?.flushMaxBytes, 100);
    assert.equal(config.http.port, 65535);
    assert.equal(config.kafka?.ssl, true);
    assert.equal(config.kafka?.createTopics, false);
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.alerts.threshold, 'HIGH');
    assert.deepEqual(config.kafka?.sasl, { mechanism: 'scram-sha-512', username: 'u', password: 'p:w' });
  });

  it('reads lists without blanks, hashes API keys at once and reads the memory budget as a share or a size', () => {
    const config = loadConfig({
      KAFKA_BROKERS: ' a:1, ,b:2 ',
      REDIS_CLUSTER_NODES: 'c:7000',
      API_KEYS: 'ops:editor:0123456789abcdef:x,ro:viewer:fedcba9876543210',
      MEMORY_BUDGET: '256mb',
    });
    assert.deepEqual(config.kafka?.brokers, ['a:1', 'b:2']);
    assert.deepEqual(config.redis, { url: undefined, clusterNodes: ['c:7000'], keyPrefix: 'risk:', stateCache: 100_000 });
    const sha256 = (key: string): string => createHash('sha256').update(key).digest('hex');
    assert.deepEqual(config.apiKeys, [
      { name: 'ops', role: 'editor', sha256: sha256('0123456789abcdef:x') },
      { name: 'ro', role: 'viewer', sha256: sha256('fedcba9876543210') },
    ]);
    assert.equal(config.memoryBudgetBytes, 256 * 1024 ** 2);
    assert.equal(loadConfig({ MEMORY_BUDGET: '25%' }).memoryBudgetBytes, Math.floor(getHeapStatistics().heap_size_limit / 4));
  });
});

describe('loadConfig: the error list', () => {
  it('names every bad variable at once, in table order, each with what it expected', () => {
    assert.deepEqual(
      problemsOf({
        PORT: '65536',
        HTTP_MAX_BODY: 'big',
        LOG_LEVEL: 'verbose',
        ALLOWED_LATENESS: 'later',
        ALERT_THRESHOLD: 'SEVERE',
        MEMORY_BUDGET: '90%',
        KAFKA_BROKERS: 'nohost,ok:1,also bad',
        KAFKA_SSL: 'maybe',
        KAFKA_MAX_BATCH_EVENTS: '1.5',
        REDIS_URL: 'http://r:6379',
        ELASTICSEARCH_NODE: 'es:9200',
        API_KEYS: 'ops:admin:0123456789abcdef',
        SHUTDOWN_TIMEOUT: '-1s',
      }),
      [
        'PORT: expected an integer from 0 to 65535, got "65536"',
        'HTTP_MAX_BODY: expected a size such as 512kb or 5mb, got "big"',
        'LOG_LEVEL: expected debug, info, warn or error, got "verbose"',
        'ALLOWED_LATENESS: invalid duration "later": expected e.g. 500ms, 30s, 10m, 1h, 7d',
        'ALERT_THRESHOLD: expected LOW, MEDIUM or HIGH, got "SEVERE"',
        'MEMORY_BUDGET: expected a share from 1% to 80% of the heap limit, got "90%"',
        'KAFKA_BROKERS: "nohost" is not host:port; "also bad" is not host:port',
        'KAFKA_SSL: expected true or false, got "maybe"',
        'KAFKA_MAX_BATCH_EVENTS: expected an integer from 1 to 100000, got "1.5"',
        'REDIS_URL: expected redis://host:port, got "http://r:6379"',
        'ELASTICSEARCH_NODE: expected http(s)://host:port, got "es:9200"',
        'API_KEYS: each entry must be name:role:key with role viewer or editor and a key of at least 16 characters',
        'SHUTDOWN_TIMEOUT: invalid duration "-1s": expected e.g. 500ms, 30s, 10m, 1h, 7d',
      ],
    );
  });

  it('checks a variable even when its section is off', () => {
    assert.deepEqual(problemsOf({ KAFKA_MAX_WAIT: 'soon' }), [
      'KAFKA_MAX_WAIT: invalid duration "soon": expected e.g. 500ms, 30s, 10m, 1h, 7d',
    ]);
  });

  it('applies the cross-variable checks after the parsers, and skips a check whose input is already wrong', () => {
    assert.deepEqual(
      problemsOf({ KAFKA_BROKERS: 'k:1', KAFKA_SASL_MECHANISM: 'plain', REDIS_URL: 'redis://r:1', REDIS_CLUSTER_NODES: 'c:1' }),
      [
        'KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with KAFKA_SASL_MECHANISM',
        'set REDIS_URL or REDIS_CLUSTER_NODES, not both',
      ],
    );
    assert.deepEqual(problemsOf({ MAX_EVENT_TIME_SKEW: '1d', ALLOWED_LATENESS: 'x' }), [
      'ALLOWED_LATENESS: invalid duration "x": expected e.g. 500ms, 30s, 10m, 1h, 7d',
    ]);
  });
});

describe('loadConfig: MAX_EVENT_TIME_SKEW', () => {
  it('defaults to 5 minutes and reads a duration', () => {
    assert.equal(loadConfig({}).maxEventTimeSkewMs, 5 * 60_000);
    assert.equal(loadConfig({ MAX_EVENT_TIME_SKEW: '90s' }).maxEventTimeSkewMs, 90_000);
    assert.equal(loadConfig({ MAX_EVENT_TIME_SKEW: '0' }).maxEventTimeSkewMs, 0);
  });

  it('refuses a skew above the allowed lateness: one event could then make on-time events late', () => {
    assert.throws(
      () => loadConfig({ MAX_EVENT_TIME_SKEW: '2d' }),
      (error: unknown) => error instanceof ConfigError && /MAX_EVENT_TIME_SKEW: must not exceed ALLOWED_LATENESS/.test(error.message),
    );
    assert.equal(loadConfig({ MAX_EVENT_TIME_SKEW: '30m', ALLOWED_LATENESS: '1h' }).maxEventTimeSkewMs, 30 * 60_000);
    assert.throws(() => loadConfig({ MAX_EVENT_TIME_SKEW: 'soon' }), /MAX_EVENT_TIME_SKEW: invalid duration/);
  });
});
