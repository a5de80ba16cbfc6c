import type { Verdict } from '@risk/domain';
import { TestElasticsearchNode } from '@test/support/elasticsearch-node';
import { benchBulkHelper, benchElasticsearchSink } from './elasticsearch-sink.bench';
import { fmt, line } from './stats';

/**
 * The verdict sink against the client's bulk helper, both on the same real
 * Elasticsearch 8 node (single node, 256 MB heap, started here), in the same
 * run: the ratio is what to compare across machines. BENCH_SINK_VERDICTS
 * bounds the verdicts written per run (default 100,000).
 */
export async function benchSink(all: Verdict[]): Promise<void> {
  const verdicts = all.slice(0, Number(process.env.BENCH_SINK_VERDICTS ?? 100_000));
  const node = await TestElasticsearchNode.start();
  try {
    // Warm-up (JIT on both sides), not measured.
    await benchBulkHelper({ verdicts: verdicts.slice(0, 10_000), node: node.url, prefix: node.prefix('warm') });
    const helper = await benchBulkHelper({ verdicts, node: node.url, prefix: node.prefix('helper') });
    const docsOnly = await benchElasticsearchSink({ verdicts, node: node.url, prefix: node.prefix('sink'), profiles: false });
    const withProfiles = await benchElasticsearchSink({ verdicts, node: node.url, prefix: node.prefix('profiles'), profiles: true });
    const users = new Set(verdicts.map((v) => v.user_id)).size;
    process.stdout.write(
      `\nElasticsearch sink: ${fmt(verdicts.length)} verdicts (${fmt(users)} users) into a real Elasticsearch 8.15.0 node (1 shard, 256 MB heap)\n`,
    );
    line('client bulk helper (baseline)', `${fmt(helper.docsPerSec)} docs/s`);
    line('sink, verdicts only', `${fmt(docsOnly.docsPerSec)} verdicts/s   ${ratio(docsOnly.docsPerSec, helper.docsPerSec)} of the helper`);
    line(
      '  bulk latency',
      `p50 ${fmt(docsOnly.bulkP50Ms, 1)} ms   p99 ${fmt(docsOnly.bulkP99Ms, 1)} ms   (${fmt(docsOnly.bulkRequests)} bulks)`,
    );
    line(
      'sink, verdicts + profiles (default)',
      `${fmt(withProfiles.docsPerSec)} verdicts/s   ${ratio(withProfiles.docsPerSec, helper.docsPerSec)} of the helper`,
    );
    line(
      '  bulk latency',
      `p50 ${fmt(withProfiles.bulkP50Ms, 1)} ms   p99 ${fmt(withProfiles.bulkP99Ms, 1)} ms   (${fmt(withProfiles.bulkRequests)} bulks, ${fmt(withProfiles.profileConflicts)} profile conflicts)`,
    );
  } finally {
    await node.stop();
  }
}

function ratio(value: number, baseline: number): string {
  return `${fmt(value / baseline, 2)}×`;
}
