import type { FieldError, Verdict } from '@risk/domain';
import type { EsBulkItemResult } from './elasticsearch.client';
import type { IndexSettings } from './elasticsearch-verdict.indices';
import type { RiskProfileUpdate } from '../verdict-query/risk-profile';

// The verdict sink's options, counters and per-batch bookkeeping (elasticsearch-verdict.sink.ts).

export interface ElasticsearchVerdictSinkOptions {
  /** A bulk request is sent once this many verdicts are queued, each with its profile update (ELASTICSEARCH_FLUSH_DOCS). */
  readonly flushMaxDocs: number;
  /** …or once the queued NDJSON reaches this many bytes; also the bound of one bulk body (ELASTICSEARCH_FLUSH_BYTES). */
  readonly flushMaxBytes: number;
  /** …or this long after the first verdict was queued (ELASTICSEARCH_FLUSH_INTERVAL). */
  readonly flushIntervalMs: number;
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
  /**
   * Read-modify-write rounds per profile that may lose to a concurrent writer (409) before the
   * write fails as retriable. Conflict rounds re-read at once (a few ms of jitter, no backoff). Default 16.
   */
  readonly maxConflictRounds?: number;
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
  /** Verdicts whose profile update is acknowledged (including those already counted, which need no write). */
  profilesUpdated: number;
  /** Profile writes that lost to a concurrent writer (409) and were read and computed again. */
  profileConflicts: number;
  /** Verdict documents and profile updates sent again after a retriable failure (item or whole request). */
  retries: number;
  /** 429 answers, for whole requests or single items. */
  throttled: number;
  /** Verdict documents or profile updates refused for good and handed to the reject sink. */
  rejected: number;
  bulkRequests: number;
  /** write() calls that failed with DependencyUnavailableError. */
  failedWrites: number;
}

export type ElasticsearchHealth =
  { status: 'green' | 'yellow' | 'red'; cluster_name: string; number_of_nodes?: number } | { status: 'unreachable'; error: string };

/** One verdict queued by write(): its document action and, when profiles are kept, its profile update. */
export interface Entry {
  readonly verdict: Verdict;
  /** `index` action line + source line, each ending in \n. */
  readonly ndjson: string;
  readonly bytes: number;
  /** undefined when profiles are off; errors when the verdict cannot make a valid profile. */
  readonly profile: RiskProfileUpdate | { readonly errors: readonly FieldError[] } | undefined;
  readonly ticket: Ticket;
}

/** One write() call: resolves when each of its verdicts is written or rejected, and so is its profile update. */
export class Ticket {
  readonly promise: Promise<void>;
  private remaining: number;
  private settled = false;
  private resolveFn!: () => void;
  private rejectFn!: (error: unknown) => void;

  constructor(parts: number) {
    this.remaining = parts;
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

/** What a batch still has to get written: verdict documents, and profile updates grouped by user. */
export interface Pending {
  docs: Entry[];
  profiles: Map<string, Entry[]>;
}

export function itemResult(entry: Readonly<Record<string, EsBulkItemResult>>): EsBulkItemResult {
  return entry.index ?? entry.create ?? entry.update ?? Object.values(entry)[0];
}

/** A refusal for good (mapping, parsing): `<status> <error.type>: <error.reason>` under the index it was meant for. */
export function addRefusal(refused: Map<Entry, FieldError[]>, entry: Entry, path: string, result: EsBulkItemResult): void {
  const errors = refused.get(entry) ?? [];
  errors.push({ path, message: `${result.status} ${result.error?.type ?? 'error'}: ${result.error?.reason ?? 'no reason given'}` });
  refused.set(entry, errors);
}
