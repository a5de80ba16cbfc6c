import { RejectSink, type RejectedMessage, type Verdict } from '@risk/domain';
import { ElasticsearchClient } from '@risk/infra/elasticsearch/elasticsearch.client';
import { ElasticsearchVerdictSink } from '@risk/infra/elasticsearch/elasticsearch-verdict.sink';

class CountingRejectSink extends RejectSink {
  count = 0;
  override async reject(messages: readonly RejectedMessage[]): Promise<void> {
    this.count += messages.length;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Writes `verdicts` (with their profile updates) through the real sink into the
 * Elasticsearch at `node`, as a consumer with a few partitions would: chunks of
 * one flush size, up to 4 writes outstanding. Uses fresh `bench<time>-*`
 * indices. Throws if any verdict was refused, so a broken mapping cannot pass
 * for a fast one.
 */
export async function benchElasticsearchSink(opts: {
  verdicts: Verdict[];
  node: string;
}): Promise<{ docsPerSec: number; bulkP50Ms: number; bulkP99Ms: number }> {
  const client = new ElasticsearchClient({ node: opts.node, requestTimeoutMs: 60_000, indexPrefix: `bench${Date.now().toString(36)}` });
  const rejects = new CountingRejectSink();
  const durations: number[] = [];
  const chunk = 2_500;
  const sink = new ElasticsearchVerdictSink(client, rejects, {
    flushMaxDocs: chunk,
    flushMaxBytes: 5 * 1024 * 1024,
    flushIntervalMs: 5,
    maxConcurrentBulks: 2,
    onBulk: (info) => durations.push(info.durationMs),
  });
  try {
    await sink.ensureSetup();
    const started = performance.now();
    const outstanding = new Set<Promise<void>>();
    for (let i = 0; i < opts.verdicts.length; i += chunk) {
      const write = sink.write(opts.verdicts.slice(i, i + chunk)).finally(() => outstanding.delete(write));
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
    };
  } finally {
    await client.close();
  }
}
