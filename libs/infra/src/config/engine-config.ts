import { CONFIG_TABLE, type ConfigValues, type ConfigVariableName, type OptionalSetting, type Setting } from './config-table';
import type { EngineConfig } from './engine-config-types';

export {
  LOG_LEVELS,
  type ApiKeyConfig,
  type ElasticsearchConfig,
  type EngineConfig,
  type KafkaConfig,
  type LogLevel,
  type RedisConfig,
} from './engine-config-types';
export { CONFIG_TABLE, CONFIG_VARIABLES, type ConfigValues, type ConfigVariable, type ConfigVariableName } from './config-table';

// Loads the configuration: every variable of CONFIG_TABLE (config-table.ts)
// parsed, the rules across variables checked, and the values placed in
// EngineConfig (engine-config-types.ts). Importers take all three from here.

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Rules across variables, checked once each variable has parsed. A check
 * runs only when every variable it reads parsed, so one mistake is reported once.
 */
const CROSS_CHECKS: ReadonlyArray<{
  readonly reads: readonly ConfigVariableName[];
  readonly problem: (v: ConfigValues) => string | undefined;
}> = [
  {
    // A skew above the lateness would let one accepted event, dated that far
    // ahead, push the watermark past the present: on-time events would be late.
    reads: ['MAX_EVENT_TIME_SKEW', 'ALLOWED_LATENESS'],
    problem: (v) =>
      v.MAX_EVENT_TIME_SKEW > v.ALLOWED_LATENESS
        ? `MAX_EVENT_TIME_SKEW: must not exceed ALLOWED_LATENESS (${v.ALLOWED_LATENESS} ms), got ${v.MAX_EVENT_TIME_SKEW} ms`
        : undefined,
  },
  {
    reads: ['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'],
    problem: (v) =>
      v.KAFKA_SASL_MECHANISM !== undefined && (v.KAFKA_SASL_USERNAME === undefined || v.KAFKA_SASL_PASSWORD === undefined)
        ? 'KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with KAFKA_SASL_MECHANISM'
        : undefined,
  },
  {
    reads: ['REDIS_URL', 'REDIS_CLUSTER_NODES'],
    problem: (v) =>
      v.REDIS_URL !== undefined && v.REDIS_CLUSTER_NODES !== undefined ? 'set REDIS_URL or REDIS_CLUSTER_NODES, not both' : undefined,
  },
];

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Parses every variable of CONFIG_TABLE (blank counts as unset), then applies
 * the cross-variable checks; throws one ConfigError listing every problem.
 */
export function loadConfig(env: Env): EngineConfig {
  const problems: string[] = [];
  const failed = new Set<ConfigVariableName>();
  const values: Record<string, unknown> = {};
  for (const [name, row] of Object.entries(CONFIG_TABLE) as Array<[ConfigVariableName, Setting<unknown> | OptionalSetting<unknown>]>) {
    const written = env[name]?.trim();
    const textValue = written === undefined || written === '' ? row.default : written;
    if (textValue === undefined) continue;
    try {
      values[name] = row.parse(textValue);
    } catch (error) {
      problems.push(`${name}: ${(error as Error).message}`);
      failed.add(name);
    }
  }
  const parsed = values as ConfigValues;
  for (const check of CROSS_CHECKS) {
    if (check.reads.some((name) => failed.has(name))) continue;
    const problem = check.problem(parsed);
    if (problem !== undefined) problems.push(problem);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return engineConfig(parsed);
}

function engineConfig(v: ConfigValues): EngineConfig {
  return {
    http: { host: v.HOST, port: v.PORT, maxBodyBytes: v.HTTP_MAX_BODY },
    rulesDir: v.RULES_DIR,
    dataDir: v.DATA_DIR,
    rulesReconcileIntervalMs: v.RULES_RECONCILE_INTERVAL,
    logLevel: v.LOG_LEVEL,
    state: {
      allowedLatenessMs: v.ALLOWED_LATENESS,
      dedupRetentionMs: v.DEDUP_RETENTION,
      latestValueRetentionMs: v.LATEST_VALUE_RETENTION,
    },
    maxEventTimeSkewMs: v.MAX_EVENT_TIME_SKEW,
    alerts: { threshold: v.ALERT_THRESHOLD, recentLimit: v.ALERTS_RECENT_LIMIT },
    verdicts: { limit: v.VERDICTS_LIMIT },
    memoryBudgetBytes: v.MEMORY_BUDGET,
    kafka:
      v.KAFKA_BROKERS === undefined
        ? undefined
        : {
            brokers: v.KAFKA_BROKERS,
            clientId: v.KAFKA_CLIENT_ID,
            groupId: v.KAFKA_GROUP_ID,
            eventsTopic: v.KAFKA_EVENTS_TOPIC,
            alertsTopic: v.KAFKA_ALERTS_TOPIC,
            deadLetterTopic: v.KAFKA_DLQ_TOPIC,
            ssl: v.KAFKA_SSL,
            sasl:
              v.KAFKA_SASL_MECHANISM === undefined
                ? undefined
                : // The cross-check guarantees both credentials.
                  { mechanism: v.KAFKA_SASL_MECHANISM, username: v.KAFKA_SASL_USERNAME ?? '', password: v.KAFKA_SASL_PASSWORD ?? '' },
            createTopics: v.KAFKA_CREATE_TOPICS,
            maxBatchBytes: v.KAFKA_MAX_BATCH_BYTES,
            maxBatchEvents: v.KAFKA_MAX_BATCH_EVENTS,
            maxWaitMs: v.KAFKA_MAX_WAIT,
          },
    redis:
      v.REDIS_URL === undefined && v.REDIS_CLUSTER_NODES === undefined
        ? undefined
        : { url: v.REDIS_URL, clusterNodes: v.REDIS_CLUSTER_NODES, keyPrefix: v.REDIS_KEY_PREFIX, stateCache: v.REDIS_STATE_CACHE },
    elasticsearch:
      v.ELASTICSEARCH_NODE === undefined
        ? undefined
        : {
            node: v.ELASTICSEARCH_NODE,
            username: v.ELASTICSEARCH_USERNAME,
            password: v.ELASTICSEARCH_PASSWORD,
            apiKey: v.ELASTICSEARCH_API_KEY,
            requestTimeoutMs: v.ELASTICSEARCH_REQUEST_TIMEOUT,
            flushIntervalMs: v.ELASTICSEARCH_FLUSH_INTERVAL,
            flushMaxDocs: v.ELASTICSEARCH_FLUSH_DOCS,
            flushMaxBytes: v.ELASTICSEARCH_FLUSH_BYTES,
          },
    apiKeys: v.API_KEYS ?? [],
    shutdownTimeoutMs: v.SHUTDOWN_TIMEOUT,
  };
}
