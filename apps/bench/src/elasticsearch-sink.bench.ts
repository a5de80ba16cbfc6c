import { RejectSink, type RejectedMessage, type Verdict } from '@risk/domain';
import { ElasticsearchClient } from '@risk/infra/elasticsearch/elasticsearch.client';
import { ensureVerdictIndices, monthlyVerdictIndex } from '@risk/infra/elasticsearch/elasticsearch-verdict.indices';
import { ElasticsearchVerdictSink } from '@risk/infra/elasticsearch/elasticsearch-verdict.sink';
import { percentile } from './stats';

class CountingRejectSink extends RejectSink {
  count = 0;
  override async reject(messages: readonly RejectedMessage[]): Promise<void> {
    this.count += messages.length;
  }
}

export interface SinkRunResult {
  readonly docsPerSec: number;
  readonly bulkP50Ms: number;
  readonly bulkP99Ms: number;
  readonly bulkRequests: number;
  readonly profileConflicts: number;
}

const CHUNK = 2_500;
/** Index settings of every run: one shard, no replica (a single node). */
const INDEX = { shards: 1, replicas: 0 } as const;

function benchClient(node: string, prefix: string): ElasticsearchClient {
  return new ElasticsearchClient({ node, requestTimeoutMs: 60_000, indexPrefix: prefix });
}

/**
 * Writes `verdicts` through the real sink into the Elasticsearch at `node`, as
 * a consumer with a few partitions would: chunks of one flush size, up to 4
 * writes outstanding. Uses fresh `<prefix>-*` indices. With `profiles` the
 * users' risk profiles are read, updated and written under optimistic
 * concurrency too. Throws if any verdict was refused, so a broken mapping
 * cannot pass for a fast one.
 */
export async function benchElasticsearchSink(opts: {
  verdicts: readonly Verdict[];
  node: string;
  prefix: string;
  profiles: boolean;
}): Promise<SinkRunResult> {
  const client = benchClient(opts.node, opts.prefix);
  const rejects = new CountingRejectSink();
  const durations: number[] = [];
  const sink = new ElasticsearchVerdictSink(client, rejects, {
    flushMaxDocs: CHUNK,
    flushMaxBytes: 5 * 1024 * 1024,
    flushIntervalMs: 5,
    maxConcurrentBulks: 2,
    profiles: opts.profiles,
    index: INDEX,
    onBulk: (info) => durations.push(info.durationMs),
  });
  try {
    await sink.ensureSetup();
    const started = performance.now();
    const outstanding = new Set<Promise<void>>();
    for (let i = 0; i < opts.verdicts.length; i += CHUNK) {
      const write = sink.write(opts.verdicts.slice(i, i + CHUNK)).finally(() => outstanding.delete(write));
      outstanding.add(write);
      if (outstanding.size >= 4) await Promise.race(outstanding);
    }
    await Promise.all(outstanding);
    await sink.flush();
    const seconds = (performance.now() - started) / 1000;
    if (rejects.count > 0) throw new Error(`${rejects.count} verdicts were refused by Elasticsearch`);
    durations.sort((a, b) => a - b);
    return {
      docsPerSec: Math.round(opts.verdicts.length / seconds),
      bulkP50Ms: Math.round(percentile(durations, 50) * 10) / 10,
      bulkP99Ms: Math.round(percentile(durations, 99) * 10) / 10,
      bulkRequests: sink.counters.bulkRequests,
      profileConflicts: sink.counters.profileConflicts,
    };
  } finally {
    await client.close();
  }
}

/**
 * The baseline: the same verdict documents, same ids and monthly indices (same
 * templates), indexed with the client's own bulk helper at the same bulk size
 * and concurrency.
 */
export async function benchBulkHelper(opts: {
  verdicts: readonly Verdict[];
  node: string;
  prefix: string;
}): Promise<{ docsPerSec: number }> {
  const client = benchClient(opts.node, opts.prefix);
  try {
    await ensureVerdictIndices(client, INDEX);
    const docs = opts.verdicts as unknown as readonly Record<string, unknown>[];
    const started = performance.now();
    const stats = await client.bulkIndexWithHelper(
      docs,
      (doc) => ({ index: monthlyVerdictIndex(opts.prefix, doc.event_time as string), id: doc.event_id as string }),
      { flushBytes: 3 * 1024 * 1024, concurrency: 2 },
    );
    const seconds = (performance.now() - started) / 1000;
    if (stats.failed > 0) throw new Error(`${stats.failed} documents failed in the bulk helper`);
    return { docsPerSec: Math.round(opts.verdicts.length / seconds) };
  } finally {
    await client.close();
  }
}
