import { RejectSink, VerdictSink, type Verdict } from '@risk/domain';
import { riskProfileUpdate } from '../verdict-query/risk-profile';
import { ElasticsearchClient } from './elasticsearch.client';
import { VerdictBulkSender, unavailable } from './elasticsearch-verdict.bulk';
import { ensureVerdictIndices, monthlyVerdictIndex } from './elasticsearch-verdict.indices';
import {
  Ticket,
  type ElasticsearchHealth,
  type ElasticsearchSinkCounters,
  type ElasticsearchVerdictSinkOptions,
  type Entry,
} from './elasticsearch-sink.types';

export type { BulkInfo, ElasticsearchHealth, ElasticsearchSinkCounters, ElasticsearchVerdictSinkOptions } from './elasticsearch-sink.types';

/**
 * Writes verdicts to Elasticsearch with bulk requests (SPEC §5): document id =
 * event_id in the monthly index of its event_time, so a replay overwrites
 * rather than duplicates; and the users' risk profiles, read (one `mget` per
 * bulk), updated in TypeScript and written back in the same bulk under
 * optimistic concurrency control. Verdicts are queued across write() calls and
 * sent by count, bytes or interval; each write() resolves once all of its own
 * verdicts and profile updates are acknowledged (or rejected as unwritable),
 * so the caller can commit its input.
 */
export class ElasticsearchVerdictSink extends VerdictSink {
  readonly counters: ElasticsearchSinkCounters = {
    docsWritten: 0,
    profilesUpdated: 0,
    profileConflicts: 0,
    retries: 0,
    throttled: 0,
    rejected: 0,
    bulkRequests: 0,
    failedWrites: 0,
  };

  private readonly prefix: string;
  private readonly maxBatchDocs: number;
  private readonly maxBatchBytes: number;
  private readonly flushIntervalMs: number;
  private readonly maxConcurrentBulks: number;
  private readonly profiles: boolean;
  private readonly sender: VerdictBulkSender;

  private queue: Entry[] = [];
  private queuedBytes = 0;
  private inFlight = 0;
  private readonly jobs = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  /** Set when the interval fired or flush() was called: send partial batches until the queue is empty. */
  private forced = false;

  constructor(
    private readonly client: ElasticsearchClient,
    rejects: RejectSink,
    private readonly options: ElasticsearchVerdictSinkOptions,
  ) {
    super();
    this.prefix = client.indexPrefix;
    this.profiles = options.profiles ?? true;
    this.maxBatchDocs = options.flushMaxDocs;
    this.maxBatchBytes = options.flushMaxBytes;
    this.flushIntervalMs = options.flushIntervalMs;
    this.maxConcurrentBulks = options.maxConcurrentBulks ?? 2;
    this.sender = new VerdictBulkSender(client, rejects, options, this.counters);
  }

  /** Index templates; call once at start-up before the first write. Idempotent. */
  async ensureSetup(): Promise<void> {
    try {
      await ensureVerdictIndices(this.client, this.options.index);
    } catch (error) {
      throw unavailable('setting up index templates failed', error);
    }
  }

  override async write(verdicts: readonly Verdict[]): Promise<void> {
    if (verdicts.length === 0) return;
    const ticket = new Ticket(verdicts.length * (this.profiles ? 2 : 1));
    for (const verdict of verdicts) {
      const index = monthlyVerdictIndex(this.prefix, verdict.event_time);
      const ndjson = `{"index":{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(verdict.event_id)}}}\n${JSON.stringify(verdict)}\n`;
      const bytes = Buffer.byteLength(ndjson);
      this.queue.push({ verdict, ndjson, bytes, profile: this.profiles ? riskProfileUpdate(verdict) : undefined, ticket });
      this.queuedBytes += bytes;
    }
    this.pump();
    return ticket.promise;
  }

  override async flush(): Promise<void> {
    while (this.queue.length > 0 || this.jobs.size > 0) {
      this.forced = true;
      this.pump();
      await Promise.allSettled([...this.jobs]);
    }
  }

  /** For readiness: green and yellow can take writes; red and unreachable cannot. */
  async health(timeoutMs = 2_000): Promise<ElasticsearchHealth> {
    try {
      const health = await this.client.clusterHealth(timeoutMs);
      return { status: health.status, cluster_name: health.cluster_name, number_of_nodes: health.number_of_nodes };
    } catch (error) {
      return { status: 'unreachable', error: error instanceof Error ? error.message : String(error) };
    }
  }

  private pump(): void {
    while (this.inFlight < this.maxConcurrentBulks && this.queue.length > 0) {
      const full = this.queue.length >= this.maxBatchDocs || this.queuedBytes >= this.maxBatchBytes;
      if (!full && !this.forced) break;
      this.startJob(this.cut());
    }
    if (this.queue.length === 0) {
      this.forced = false;
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
    } else if (this.timer === undefined && !this.forced) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.forced = true;
        this.pump();
      }, this.flushIntervalMs);
    }
  }

  /** Takes the next batch off the queue, bounded by count and verdict bytes (at least one verdict). */
  private cut(): Entry[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < this.maxBatchDocs) {
      const next = this.queue[n].bytes;
      if (n > 0 && bytes + next > this.maxBatchBytes) break;
      bytes += next;
      n += 1;
    }
    const batch = this.queue.slice(0, n);
    this.queue = this.queue.slice(n);
    this.queuedBytes -= bytes;
    return batch;
  }

  private startJob(batch: Entry[]): void {
    this.inFlight += 1;
    const job = this.sender
      .send(batch)
      .catch((error: unknown) => this.sender.failAll(batch, unavailable('bulk write failed', error)))
      .finally(() => {
        this.inFlight -= 1;
        this.jobs.delete(job);
        this.pump();
      });
    this.jobs.add(job);
  }
}
