import { DependencyUnavailableError, RejectSink, VerdictSink, type FieldError, type RejectedMessage, type Verdict } from '@risk/domain';
import { ElasticsearchClient, EsResponseError, EsUnreachableError, type EsBulkItemResult } from './elasticsearch.client';
import { ensureVerdictIndices, monthlyVerdictIndex, verdictIndexNames, type IndexSettings } from './elasticsearch-verdict.indices';
import { RISK_PROFILE_SCRIPT_ID, type RiskProfileParams } from './risk-profile.script';

export interface ElasticsearchVerdictSinkOptions {
  /** A bulk request is sent once this many verdicts are queued (each with its profile update). Default 5 000. */
  readonly flushMaxDocs?: number;
  /** …or once the queued NDJSON reaches this many bytes; also the bound of one bulk body. Default 5 MiB. */
  readonly flushMaxBytes?: number;
  /** …or this long after the first verdict was queued. Default 200 ms (the ELASTICSEARCH_FLUSH_INTERVAL default). */
  readonly flushIntervalMs?: number;
  /** Bulk requests in flight at once. Default 2. */
  readonly maxConcurrentBulks?: number;
  /** Attempts per action (first try included) before the write fails as retriable. Default 8. */
  readonly maxAttempts?: number;
  /** Backoff before attempt n+1: min(max, base · 2^(n−1)), with ±50 % jitter. Defaults 100 ms / 10 s. */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** Maintain `<prefix>-profiles`. Default true. */
  readonly profiles?: boolean;
  /** Event ids remembered per profile for idempotent counts. Default 200. */
  readonly profileRecentLimit?: number;
  /** Settings of the indices created from the templates. */
  readonly index?: IndexSettings;
  /** Called after every bulk response (or failure): for metrics and the benchmark. */
  readonly onBulk?: (info: BulkInfo) => void;
}

export interface BulkInfo {
  readonly durationMs: number;
  readonly actions: number;
  readonly bytes: number;
  /** 1 for the first try of these actions. */
  readonly attempt: number;
  /** HTTP status of the whole request, 0 when Elasticsearch could not be reached. */
  readonly status: number;
}

/** Counters for metrics; monotonic. */
export interface ElasticsearchSinkCounters {
  /** Verdict documents acknowledged by Elasticsearch. */
  docsWritten: number;
  /** Profile updates acknowledged (including no-ops for already-counted events). */
  profilesUpdated: number;
  /** Actions sent again after a retriable failure (item or whole request). */
  retries: number;
  /** 429 answers, for whole requests or single items. */
  throttled: number;
  /** Actions (verdict or profile) refused for good and handed to the reject sink. */
  rejected: number;
  bulkRequests: number;
  /** write() calls that failed with DependencyUnavailableError. */
  failedWrites: number;
}

export type ElasticsearchHealth =
  { status: 'green' | 'yellow' | 'red'; cluster_name: string; number_of_nodes?: number } | { status: 'unreachable'; error: string };

type ActionKind = 'verdict' | 'profile';

interface Action {
  readonly kind: ActionKind;
  /** Action line + source line, each ending in \n. */
  readonly ndjson: string;
  readonly bytes: number;
  readonly verdict: Verdict;
  readonly ticket: Ticket;
}

/** One write() call: resolves when each of its actions is written or rejected. */
class Ticket {
  readonly promise: Promise<void>;
  private remaining: number;
  private settled = false;
  private resolveFn!: () => void;
  private rejectFn!: (error: unknown) => void;

  constructor(actions: number) {
    this.remaining = actions;
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
  }

  done(): void {
    this.remaining -= 1;
    if (this.remaining === 0 && !this.settled) {
      this.settled = true;
      this.resolveFn();
    }
  }

  fail(error: unknown): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.rejectFn(error);
    return true;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Writes verdicts to Elasticsearch with bulk requests (SPEC §5): document id =
 * event_id in the monthly index of its event_time, so a replay overwrites
 * rather than duplicates; and, per verdict, a scripted upsert of the user's
 * risk profile. Actions are queued across write() calls and sent by count,
 * bytes or interval; each write() resolves once all of its own verdicts are
 * acknowledged (or rejected as unwritable), so the caller can commit its input.
 */
export class ElasticsearchVerdictSink extends VerdictSink {
  readonly counters: ElasticsearchSinkCounters = {
    docsWritten: 0,
    profilesUpdated: 0,
    retries: 0,
    throttled: 0,
    rejected: 0,
    bulkRequests: 0,
    failedWrites: 0,
  };

  private readonly prefix: string;
  private readonly profileIndex: string;
  private readonly maxBatchActions: number;
  private readonly maxBatchBytes: number;
  private readonly flushIntervalMs: number;
  private readonly maxConcurrentBulks: number;
  private readonly maxAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly profiles: boolean;
  private readonly profileRecentLimit: number;

  private queue: Action[] = [];
  private queuedBytes = 0;
  private inFlight = 0;
  private readonly jobs = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  /** Set when the interval fired or flush() was called: send partial batches until the queue is empty. */
  private forced = false;

  constructor(
    private readonly client: ElasticsearchClient,
    private readonly rejects: RejectSink,
    private readonly options: ElasticsearchVerdictSinkOptions = {},
  ) {
    super();
    this.prefix = client.indexPrefix;
    this.profileIndex = verdictIndexNames(this.prefix).profileIndex;
    this.profiles = options.profiles ?? true;
    this.maxBatchActions = (options.flushMaxDocs ?? 5_000) * (this.profiles ? 2 : 1);
    this.maxBatchBytes = options.flushMaxBytes ?? 5 * 1024 * 1024;
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.maxConcurrentBulks = options.maxConcurrentBulks ?? 2;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.backoffBaseMs = options.backoffBaseMs ?? 100;
    this.backoffMaxMs = options.backoffMaxMs ?? 10_000;
    this.profileRecentLimit = options.profileRecentLimit ?? 200;
  }

  /** Index templates and the profile script; call once at start-up before the first write. Idempotent. */
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
      this.enqueue(this.verdictAction(verdict, ticket));
      if (this.profiles) this.enqueue(this.profileAction(verdict, ticket));
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

  private verdictAction(verdict: Verdict, ticket: Ticket): Action {
    const index = monthlyVerdictIndex(this.prefix, verdict.event_time);
    const ndjson = `{"index":{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(verdict.event_id)}}}\n${JSON.stringify(verdict)}\n`;
    return { kind: 'verdict', ndjson, bytes: Buffer.byteLength(ndjson), verdict, ticket };
  }

  private profileAction(verdict: Verdict, ticket: Ticket): Action {
    // retry_on_conflict: another engine instance may update the same profile concurrently.
    const meta = { update: { _index: this.profileIndex, _id: verdict.user_id, retry_on_conflict: 5 } };
    const params: RiskProfileParams = {
      user_id: verdict.user_id,
      event_id: verdict.event_id,
      event_time: verdict.event_time,
      event_time_ms: Date.parse(verdict.event_time),
      risk_level: verdict.risk_level,
      score: verdict.score,
      decided_at: verdict.decided_at,
      max_recent: this.profileRecentLimit,
    };
    const body = { scripted_upsert: true, script: { id: RISK_PROFILE_SCRIPT_ID, params }, upsert: {} };
    const ndjson = `${JSON.stringify(meta)}\n${JSON.stringify(body)}\n`;
    return { kind: 'profile', ndjson, bytes: Buffer.byteLength(ndjson), verdict, ticket };
  }

  private enqueue(action: Action): void {
    this.queue.push(action);
    this.queuedBytes += action.bytes;
  }

  private pump(): void {
    while (this.inFlight < this.maxConcurrentBulks && this.queue.length > 0) {
      const full = this.queue.length >= this.maxBatchActions || this.queuedBytes >= this.maxBatchBytes;
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

  /** Takes the next batch off the queue, bounded by count and bytes (at least one action). */
  private cut(): Action[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < this.maxBatchActions) {
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

  private startJob(batch: Action[]): void {
    this.inFlight += 1;
    const job = this.send(batch)
      .catch((error: unknown) => this.failAll(batch, unavailable('bulk write failed', error)))
      .finally(() => {
        this.inFlight -= 1;
        this.jobs.delete(job);
        this.pump();
      });
    this.jobs.add(job);
  }

  /** Sends a batch until every action is written, rejected, or out of attempts. A job in backoff keeps its slot: that is the back-pressure. */
  private async send(batch: Action[]): Promise<void> {
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt += 1) {
      const body = pending.map((a) => a.ndjson).join('');
      const bytes = pending.reduce((sum, a) => sum + a.bytes, 0);
      const started = performance.now();
      let items: readonly Readonly<Record<string, EsBulkItemResult>>[];
      try {
        this.counters.bulkRequests += 1;
        const response = await this.client.bulk(body);
        this.report(started, pending.length, bytes, attempt, 200);
        items = response.items;
        if (items.length !== pending.length) throw new Error(`bulk answered ${items.length} items for ${pending.length} actions`);
      } catch (error) {
        const status = error instanceof EsResponseError ? error.statusCode : 0;
        this.report(started, pending.length, bytes, attempt, status);
        if (status === 429) this.counters.throttled += 1;
        // A whole request refused with another 4xx (auth, body too large) will not pass by waiting.
        const retriable = error instanceof EsUnreachableError || (error instanceof EsResponseError && error.retriable);
        if (!retriable || attempt >= this.maxAttempts) {
          this.failAll(pending, unavailable(`bulk request failed (attempt ${attempt})`, error));
          return;
        }
        this.counters.retries += pending.length;
        await sleep(this.backoff(attempt));
        continue;
      }

      const retry: Action[] = [];
      let lastFailure = '';
      const rejected: { action: Action; result: EsBulkItemResult }[] = [];
      for (let i = 0; i < pending.length; i += 1) {
        const action = pending[i];
        const entry = items[i];
        const result = entry.index ?? entry.update ?? entry.create ?? Object.values(entry)[0];
        if (result.status < 300) {
          if (action.kind === 'verdict') this.counters.docsWritten += 1;
          else this.counters.profilesUpdated += 1;
          action.ticket.done();
        } else if (isRetriableItem(result.status, action.kind)) {
          if (result.status === 429) this.counters.throttled += 1;
          lastFailure = `${result.status} ${result.error?.type ?? ''}`.trim();
          retry.push(action);
        } else {
          rejected.push({ action, result });
        }
      }
      if (rejected.length > 0) await this.reject(rejected);
      if (retry.length === 0) return;
      if (attempt >= this.maxAttempts) {
        this.failAll(retry, unavailable(`${retry.length} bulk actions still failing after ${attempt} attempts (last: ${lastFailure})`));
        return;
      }
      this.counters.retries += retry.length;
      await sleep(this.backoff(attempt));
      pending = retry;
    }
  }

  /** One message per verdict (its verdict and profile actions may both be refused), then the actions count as done. */
  private async reject(rejected: readonly { action: Action; result: EsBulkItemResult }[]): Promise<void> {
    const byVerdict = new Map<Verdict, FieldError[]>();
    for (const { action, result } of rejected) {
      const errors = byVerdict.get(action.verdict) ?? [];
      errors.push({
        path: result._index ?? action.kind,
        message: `${result.status} ${result.error?.type ?? 'error'}: ${result.error?.reason ?? 'no reason given'}`,
      });
      byVerdict.set(action.verdict, errors);
    }
    const messages: RejectedMessage[] = [...byVerdict].map(([verdict, errors]) => ({
      raw: JSON.stringify(verdict),
      key: verdict.user_id,
      errors,
      source: {},
      stage: 'verdict-sink',
    }));
    try {
      await this.rejects.reject(messages);
    } catch (error) {
      // The verdict is neither written nor kept: the caller must not commit.
      this.failAll(
        rejected.map((r) => r.action),
        error,
      );
      return;
    }
    this.counters.rejected += rejected.length;
    for (const { action } of rejected) action.ticket.done();
  }

  private failAll(actions: readonly Action[], error: unknown): void {
    for (const action of actions) {
      if (action.ticket.fail(error)) this.counters.failedWrites += 1;
    }
  }

  private backoff(attempt: number): number {
    const base = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (attempt - 1));
    return base / 2 + Math.random() * (base / 2);
  }

  private report(started: number, actions: number, bytes: number, attempt: number, status: number): void {
    this.options.onBulk?.({ durationMs: performance.now() - started, actions, bytes, attempt, status });
  }
}

/** 429 and 5xx may pass later; 409 on a profile means concurrent updates outlasted retry_on_conflict. Other 4xx never will. */
function isRetriableItem(status: number, kind: ActionKind): boolean {
  return status === 429 || status >= 500 || (status === 409 && kind === 'profile');
}

function unavailable(message: string, cause?: unknown): DependencyUnavailableError {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return new DependencyUnavailableError('elasticsearch', `${message}${detail}`, cause === undefined ? undefined : { cause });
}
