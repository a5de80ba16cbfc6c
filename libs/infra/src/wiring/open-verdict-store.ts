import type { RejectSink, VerdictQuery, VerdictSink } from '@risk/domain';
import type { ElasticsearchConfig } from '../config/engine-config';
import { ElasticsearchClient } from '../elasticsearch/elasticsearch.client';
import { ElasticsearchVerdictQuery } from '../elasticsearch/elasticsearch-verdict.query';
import { ElasticsearchVerdictSink } from '../elasticsearch/elasticsearch-verdict.sink';
import type { SqliteVerdictStore } from '../sqlite/sqlite-verdict.store';

export interface OpenedVerdictStore {
  readonly sink: VerdictSink;
  /** Reads what `sink` wrote (GET /verdicts, /profiles). */
  readonly query: VerdictQuery;
  readonly backend: 'sqlite' | 'elasticsearch';
  /** Readiness probe; absent for the embedded store (it is a local file). */
  readonly check?: () => Promise<{ ok: boolean; detail?: unknown }>;
  /** Closes the client opened here (the sink is flushed by the pipeline before). */
  close(): Promise<void>;
}

export interface VerdictStoreOptions {
  /** Elasticsearch when configured, else the embedded SQLite store. */
  readonly elasticsearch: ElasticsearchConfig | undefined;
  readonly embedded: SqliteVerdictStore;
  /** Where the Elasticsearch sink sends verdicts the cluster refuses for good. */
  readonly rejects: RejectSink;
  /** Runs a start-up step (creating indices), retrying while Elasticsearch is still booting. */
  readonly retryAtStartup: (what: string, step: () => Promise<void>) => Promise<void>;
}

export async function openVerdictStore(options: VerdictStoreOptions): Promise<OpenedVerdictStore> {
  const es = options.elasticsearch;
  if (es === undefined) {
    return { sink: options.embedded, query: options.embedded.query, backend: 'sqlite', close: async () => undefined };
  }
  const client = new ElasticsearchClient({
    node: es.node,
    username: es.username,
    password: es.password,
    apiKey: es.apiKey,
    requestTimeoutMs: es.requestTimeoutMs,
  });
  const sink = new ElasticsearchVerdictSink(client, options.rejects, {
    flushMaxDocs: es.flushMaxDocs,
    flushMaxBytes: es.flushMaxBytes,
    flushIntervalMs: es.flushIntervalMs,
  });
  try {
    await options.retryAtStartup('elasticsearch', () => sink.ensureSetup());
  } catch (error) {
    await client.close();
    throw error;
  }
  return {
    sink,
    query: new ElasticsearchVerdictQuery(client),
    backend: 'elasticsearch',
    check: async () => {
      const health = await sink.health();
      return { ok: health.status === 'green' || health.status === 'yellow', detail: health };
    },
    close: () => client.close(),
  };
}
