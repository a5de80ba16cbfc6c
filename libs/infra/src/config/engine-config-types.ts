import type { RiskLevel, StateSettings } from '@risk/domain';
import type { ApiKeyConfig } from './config-parsers';

export type { ApiKeyConfig } from './config-parsers';

/**
 * The whole configuration, validated once at start-up (`loadConfig`,
 * engine-config.ts, from the variables of config-table.ts).
 * Nothing else in the code base reads `process.env`.
 */
export interface EngineConfig {
  readonly http: { readonly host: string; readonly port: number; readonly maxBodyBytes: number };
  readonly rulesDir: string;
  readonly dataDir: string;
  /** How often each instance re-reads the active rule set version, in case a pub/sub message was lost. */
  readonly rulesReconcileIntervalMs: number;
  readonly logLevel: LogLevel;
  /** The domain's own type, so that the usage test sees the stores read each field. */
  readonly state: StateSettings;
  /**
   * Events dated more than this after the instance's clock are rejected
   * (`RiskPipeline`): at most `allowedLatenessMs`, so that one event can never
   * make an on-time event late.
   */
  readonly maxEventTimeSkewMs: number;
  readonly alerts: { readonly threshold: RiskLevel; readonly recentLimit: number };
  /** Embedded mode: verdicts kept in SQLite under dataDir (oldest insertions deleted first). */
  readonly verdicts: { readonly limit: number };
  /** Embedded mode: estimated bytes of in-memory feature state before entities are evicted (MemoryBudget). */
  readonly memoryBudgetBytes: number;
  readonly kafka: KafkaConfig | undefined;
  readonly redis: RedisConfig | undefined;
  readonly elasticsearch: ElasticsearchConfig | undefined;
  readonly apiKeys: readonly ApiKeyConfig[];
  readonly shutdownTimeoutMs: number;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

export interface KafkaConfig {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly groupId: string;
  readonly eventsTopic: string;
  readonly alertsTopic: string;
  readonly deadLetterTopic: string;
  readonly ssl: boolean;
  readonly sasl: { readonly mechanism: (typeof SASL_MECHANISMS)[number]; readonly username: string; readonly password: string } | undefined;
  readonly createTopics: boolean;
  readonly maxBatchBytes: number;
  readonly maxBatchEvents: number;
  /** Fetch long-poll: a real broker answers as soon as data arrives, so this bounds idle polling only. */
  readonly maxWaitMs: number;
}

export interface RedisConfig {
  /** `redis://host:port` for one node; for a cluster, the seed nodes. */
  readonly url: string | undefined;
  readonly clusterNodes: readonly string[] | undefined;
  readonly keyPrefix: string;
  /** Entities per entity field whose state each instance keeps between batches (0: none). */
  readonly stateCache: number;
}

export interface ElasticsearchConfig {
  readonly node: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly apiKey: string | undefined;
  readonly requestTimeoutMs: number;
  readonly flushIntervalMs: number;
  readonly flushMaxDocs: number;
  readonly flushMaxBytes: number;
}
