import {
  DependencyUnavailableError,
  RejectSink,
  VerdictSink,
  isRetriable,
  type FieldError,
  type RejectedMessage,
  type Verdict,
} from '@risk/domain';
import { backoffDelay, sleep } from '../retry/retry';
import { ElasticsearchClient, EsResponseError, type EsBulkItemResult, type EsVersionedDoc } from './elasticsearch.client';
import { ensureVerdictIndices, monthlyVerdictIndex, verdictIndexNames } from './elasticsearch-verdict.indices';
import {
  DEFAULT_PROFILE_RECENT_LIMIT,
  riskProfileUpdate,
  type RiskProfileUpdate,
  type StoredRiskProfile,
} from '../verdict-query/risk-profile';
import { planProfileWrites, type ProfileGroup, type ProfileWrite } from './elasticsearch-profile.writes';
import {
  Ticket,
  addRefusal,
  itemResult,
  type ElasticsearchHealth,
  type ElasticsearchSinkCounters,
  type ElasticsearchVerdictSinkOptions,
  type Entry,
  type Pending,
} from './elasticsearch-sink.types';

export type { BulkInfo, ElasticsearchHealth, ElasticsearchSinkCounters, ElasticsearchVerdictSinkOptions } from './elasticsearch-sink.types';

/** Rounds a bulk waits for its sink's other bulks to finish with shared profiles before it goes ahead anyway. */
const MAX_DEFER_ROUNDS = 8;

type RoundResult =
  | { kind: 'done' }
  | { kind: 'failed'; entries: Entry[]; error: unknown }
  | { kind: 'again'; retry: boolean; conflicts: boolean; deferred: Promise<void>[]; lastFailure: string; cause?: unknown };

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
  private readonly profileIndex: string;
  private readonly maxBatchDocs: number;
  private readonly maxBatchBytes: number;
  private readonly flushIntervalMs: number;
  private readonly maxConcurrentBulks: number;
  private readonly maxAttempts: number;
  private readonly maxConflictRounds: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly profiles: boolean;
  private readonly profileRecentLimit: number;

  private queue: Entry[] = [];
  private queuedBytes = 0;
  private inFlight = 0;
  private readonly jobs = new Set<Promise<void>>();
  /** user_id → end of the round of this sink currently reading and writing that profile. */
  private readonly profileClaims = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  /** Set when the interval fired or flush() was called: send partial batches until the queue is empty. */
  private forced = false;

  constructor(
    private readonly client: ElasticsearchClient,
    private readonly rejects: RejectSink,
    private readonly options: ElasticsearchVerdictSinkOptions,
  ) {
    super();
    this.prefix = client.indexPrefix;
    this.profileIndex = verdictIndexNames(this.prefix).profileIndex;
    this.profiles = options.profiles ?? true;
    this.maxBatchDocs = options.flushMaxDocs;
    this.maxBatchBytes = options.flushMaxBytes;
    this.flushIntervalMs = options.flushIntervalMs;
    this.maxConcurrentBulks = options.maxConcurrentBulks ?? 2;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.maxConflictRounds = options.maxConflictRounds ?? 16;
    this.backoffBaseMs = options.backoffBaseMs ?? 100;
    this.backoffMaxMs = options.backoffMaxMs ?? 10_000;
    this.profileRecentLimit = options.profileRecentLimit ?? DEFAULT_PROFILE_RECENT_LIMIT;
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
    const job = this.send(batch)
      .catch((error: unknown) => this.failAll(batch, unavailable('bulk write failed', error)))
      .finally(() => {
        this.inFlight -= 1;
        this.jobs.delete(job);
        this.pump();
      });
    this.jobs.add(job);
  }

  /**
   * Sends a batch until every verdict document and profile update is written,
   * rejected, or out of attempts. Each round reads the pending users' profiles,
   * then sends one bulk with the pending documents and the conditional profile
   * writes. A job in backoff keeps its slot: that is the back-pressure.
   */
  private async send(batch: Entry[]): Promise<void> {
    const refused = new Map<Entry, FieldError[]>();
    const pending: Pending = { docs: batch, profiles: new Map() };
    for (const entry of batch) {
      if (entry.profile === undefined) continue;
      if ('errors' in entry.profile) {
        const detail = entry.profile.errors.map((e) => `${e.path} ${e.message}`).join('; ');
        refused.set(entry, [{ path: this.profileIndex, message: `profile update not written: ${detail}` }]);
        continue;
      }
      const list = pending.profiles.get(entry.verdict.user_id) ?? [];
      list.push(entry);
      pending.profiles.set(entry.verdict.user_id, list);
    }
    let attempt = 1;
    let conflictRounds = 0;
    let deferRounds = 0;
    while (pending.docs.length > 0 || pending.profiles.size > 0) {
      const round = await this.round(pending, attempt, refused, deferRounds >= MAX_DEFER_ROUNDS);
      // A failing reject sink fails only the refused verdicts' writes; the rest of the batch goes on.
      if (refused.size > 0) await this.reject(refused);
      if (round.kind === 'failed') {
        this.failAll(round.entries, round.error);
        return;
      }
      if (round.kind === 'done') return;
      if (!round.retry && !round.conflicts) {
        // Only profiles another bulk of this sink is writing are left: wait for its round, then read them.
        deferRounds += 1;
        if (round.deferred.length > 0) await Promise.race(round.deferred);
        continue;
      }
      if (!round.retry) {
        conflictRounds += 1;
        if (conflictRounds >= this.maxConflictRounds) {
          const entries = [...pending.profiles.values()].flat();
          this.failAll(entries, unavailable(`${entries.length} profile updates still conflicting after ${conflictRounds} rounds`));
          return;
        }
        // A little jitter so that writers racing on the same profiles do not keep colliding in step.
        await sleep(Math.random() * 2 * conflictRounds);
        continue;
      }
      if (attempt >= this.maxAttempts) {
        this.failAll(
          [...pending.docs, ...[...pending.profiles.values()].flat()],
          unavailable(`bulk actions still failing after ${attempt} attempts (last: ${round.lastFailure})`, round.cause),
        );
        return;
      }
      // Equal jitter: half the wait fixed, half random.
      await sleep(backoffDelay(attempt, { initialMs: this.backoffBaseMs, maxMs: this.backoffMaxMs, jitter: 0.5 }));
      attempt += 1;
    }
  }

  /**
   * Claims the pending users no other bulk of this sink is reading and writing
   * right now, then runs one round for them; the others are deferred to a later
   * round. Without this the sink's own concurrent bulks, which often share users,
   * would keep losing to each other with 409s. Claims last one round only, so
   * bulks never wait on each other in a cycle; `force` ignores them (optimistic
   * concurrency still keeps the result right).
   */
  private async round(pending: Pending, attempt: number, refused: Map<Entry, FieldError[]>, force: boolean): Promise<RoundResult> {
    let release!: () => void;
    const roundEnd = new Promise<void>((resolve) => (release = resolve));
    const claimed = new Set<string>();
    const deferred: Promise<void>[] = [];
    for (const user of pending.profiles.keys()) {
      const holder = this.profileClaims.get(user);
      if (holder !== undefined && !force) {
        deferred.push(holder);
      } else {
        this.profileClaims.set(user, roundEnd);
        claimed.add(user);
      }
    }
    try {
      return await this.claimedRound(pending, claimed, deferred, attempt, refused);
    } finally {
      for (const user of claimed) if (this.profileClaims.get(user) === roundEnd) this.profileClaims.delete(user);
      release();
    }
  }

  /**
   * One read (mget) of the claimed users' profiles and one bulk. Updates
   * `pending` to what is left and adds refused items to `refused`. `again`:
   * something is left; `retry` when something failed retriably (backoff),
   * `conflicts` when a profile lost to a concurrent writer (re-read at once).
   */
  private async claimedRound(
    pending: Pending,
    claimed: ReadonlySet<string>,
    deferred: Promise<void>[],
    attempt: number,
    refused: Map<Entry, FieldError[]>,
  ): Promise<RoundResult> {
    const all = () => [...pending.docs, ...[...pending.profiles.values()].flat()];
    const retryWhole = (error: unknown, status: number) => {
      if (status === 429) this.counters.throttled += 1;
      // A whole request refused with another 4xx (auth, body too large) will not pass by waiting.
      if (!isRetriable(error) || attempt >= this.maxAttempts) {
        return { kind: 'failed' as const, entries: all(), error: unavailable(`bulk request failed (attempt ${attempt})`, error) };
      }
      this.counters.retries += pending.docs.length + [...pending.profiles.values()].reduce((n, l) => n + l.length, 0);
      return { kind: 'again' as const, retry: true, conflicts: false, deferred, lastFailure: String(status), cause: error };
    };

    let writes: ProfileWrite<Entry>[] = [];
    if (claimed.size > 0) {
      let read: EsVersionedDoc<StoredRiskProfile>[];
      try {
        read = await this.client.mget<StoredRiskProfile>(this.profileIndex, [...claimed]);
      } catch (error) {
        return retryWhole(error, error instanceof EsResponseError ? error.statusCode : 0);
      }
      const groups: ProfileGroup<Entry>[] = [...claimed].map((userId) => ({
        userId,
        updates: pending.profiles.get(userId)!.map((entry) => ({ update: entry.profile as RiskProfileUpdate, owner: entry })),
      }));
      const plan = planProfileWrites(this.profileIndex, groups, new Map(read.map((doc) => [doc.id, doc])), this.profileRecentLimit);
      for (const entry of plan.unchanged) this.profileDone(entry);
      for (const write of plan.writes) pending.profiles.delete(write.userId);
      for (const entry of plan.unchanged) pending.profiles.delete(entry.verdict.user_id);
      writes = plan.writes;
    }
    const docs = pending.docs;
    if (docs.length === 0 && writes.length === 0) {
      return pending.profiles.size === 0 ? { kind: 'done' } : { kind: 'again', retry: false, conflicts: false, deferred, lastFailure: '' };
    }

    const body = docs.map((e) => e.ndjson).join('') + writes.map((w) => w.ndjson).join('');
    const bytes = Buffer.byteLength(body);
    const started = performance.now();
    let items: readonly Readonly<Record<string, EsBulkItemResult>>[];
    try {
      this.counters.bulkRequests += 1;
      const response = await this.client.bulk(body);
      this.report(started, docs.length + writes.length, bytes, attempt, 200);
      items = response.items;
      if (items.length !== docs.length + writes.length) {
        throw new Error(`bulk answered ${items.length} items for ${docs.length + writes.length} actions`);
      }
    } catch (error) {
      const status = error instanceof EsResponseError ? error.statusCode : 0;
      this.report(started, docs.length + writes.length, bytes, attempt, status);
      for (const write of writes) pending.profiles.set(write.userId, [...write.owners]);
      return retryWhole(error, status);
    }

    let lastFailure = '';
    let retriable = 0;
    let conflicts = 0;
    const retryDocs: Entry[] = [];
    for (let i = 0; i < docs.length; i += 1) {
      const result = itemResult(items[i]);
      if (result.status < 300) {
        this.counters.docsWritten += 1;
        docs[i].ticket.done();
      } else if (result.status === 429 || result.status >= 500) {
        if (result.status === 429) this.counters.throttled += 1;
        lastFailure = `${result.status} ${result.error?.type ?? ''}`.trim();
        retryDocs.push(docs[i]);
        retriable += 1;
      } else {
        addRefusal(refused, docs[i], result._index ?? 'verdict', result);
      }
    }
    for (let i = 0; i < writes.length; i += 1) {
      const write = writes[i];
      const result = itemResult(items[docs.length + i]);
      if (result.status < 300) {
        for (const entry of write.owners) this.profileDone(entry);
      } else if (result.status === 409) {
        // Another writer changed the profile since the read: read it again and recompute.
        this.counters.profileConflicts += 1;
        pending.profiles.set(write.userId, [...write.owners]);
        conflicts += write.owners.length;
      } else if (result.status === 429 || result.status >= 500) {
        if (result.status === 429) this.counters.throttled += 1;
        lastFailure = `${result.status} ${result.error?.type ?? ''}`.trim();
        pending.profiles.set(write.userId, [...write.owners]);
        retriable += write.owners.length;
      } else {
        for (const entry of write.owners) addRefusal(refused, entry, result._index ?? this.profileIndex, result);
      }
    }
    pending.docs = retryDocs;
    if (retryDocs.length === 0 && pending.profiles.size === 0) return { kind: 'done' };
    this.counters.retries += retriable + conflicts;
    return { kind: 'again', retry: retriable > 0, conflicts: conflicts > 0, deferred, lastFailure };
  }

  private profileDone(entry: Entry): void {
    this.counters.profilesUpdated += 1;
    entry.ticket.done();
  }

  /**
   * One message per verdict (its document and its profile update may both be refused), then
   * both count as done. When the reject sink fails, those verdicts' writes fail with its error.
   */
  private async reject(refused: Map<Entry, FieldError[]>): Promise<void> {
    const entries = [...refused];
    refused.clear();
    const messages: RejectedMessage[] = entries.map(([entry, errors]) => ({
      raw: JSON.stringify(entry.verdict),
      key: entry.verdict.user_id,
      errors,
      source: {},
      stage: 'verdict-sink',
    }));
    try {
      await this.rejects.reject(messages);
    } catch (error) {
      // The verdict is neither written nor kept: the caller must not commit.
      this.failAll(
        entries.map(([entry]) => entry),
        error,
      );
      return;
    }
    for (const [entry, errors] of entries) {
      this.counters.rejected += errors.length;
      for (let i = 0; i < errors.length; i += 1) entry.ticket.done();
    }
  }

  private failAll(entries: readonly Entry[], error: unknown): void {
    for (const entry of entries) {
      if (entry.ticket.fail(error)) this.counters.failedWrites += 1;
    }
  }

  private report(started: number, actions: number, bytes: number, attempt: number, status: number): void {
    this.options.onBulk?.({ durationMs: performance.now() - started, actions, bytes, attempt, status });
  }
}

function unavailable(message: string, cause?: unknown): DependencyUnavailableError {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return new DependencyUnavailableError('elasticsearch', `${message}${detail}`, cause === undefined ? undefined : { cause });
}
