import { DependencyUnavailableError, RejectSink, isRetriable, type FieldError, type RejectedMessage } from '@risk/domain';
import { backoffDelay, sleep } from '../retry/retry';
import { DEFAULT_PROFILE_RECENT_LIMIT, type RiskProfileUpdate, type StoredRiskProfile } from '../verdict-query/risk-profile';
import { ElasticsearchClient, EsResponseError, type EsBulkItemResult, type EsVersionedDoc } from './elasticsearch.client';
import { planProfileWrites, type ProfileGroup, type ProfileWrite } from './elasticsearch-profile.writes';
import { verdictIndexNames } from './elasticsearch-verdict.indices';
import {
  addRefusal,
  itemResult,
  type ElasticsearchSinkCounters,
  type ElasticsearchVerdictSinkOptions,
  type Entry,
  type Pending,
} from './elasticsearch-sink.types';

/** Rounds a bulk waits for its sink's other bulks to finish with shared profiles before it goes ahead anyway. */
const MAX_DEFER_ROUNDS = 8;

type RoundResult =
  | { kind: 'done' }
  | { kind: 'failed'; entries: Entry[]; error: unknown }
  | { kind: 'again'; retry: boolean; conflicts: boolean; deferred: Promise<void>[]; lastFailure: string; cause?: unknown };

/**
 * Sends the batches the verdict sink cuts from its queue (elasticsearch-verdict.sink.ts):
 * each one until its verdict documents and profile updates are written, refused
 * (then handed to the reject sink) or out of attempts, with backoff on retriable
 * failures and re-reads on profile conflicts. One sender serves all the sink's
 * concurrent bulks, so that it can keep them off each other's profiles.
 */
export class VerdictBulkSender {
  private readonly profileIndex: string;
  private readonly maxAttempts: number;
  private readonly maxConflictRounds: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly profileRecentLimit: number;
  /** user_id → end of the round of this sender currently reading and writing that profile. */
  private readonly profileClaims = new Map<string, Promise<void>>();

  constructor(
    private readonly client: ElasticsearchClient,
    private readonly rejects: RejectSink,
    private readonly options: ElasticsearchVerdictSinkOptions,
    private readonly counters: ElasticsearchSinkCounters,
  ) {
    this.profileIndex = verdictIndexNames(client.indexPrefix).profileIndex;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.maxConflictRounds = options.maxConflictRounds ?? 16;
    this.backoffBaseMs = options.backoffBaseMs ?? 100;
    this.backoffMaxMs = options.backoffMaxMs ?? 10_000;
    this.profileRecentLimit = options.profileRecentLimit ?? DEFAULT_PROFILE_RECENT_LIMIT;
  }

  /**
   * Sends a batch until every verdict document and profile update is written,
   * rejected, or out of attempts. Each round reads the pending users' profiles,
   * then sends one bulk with the pending documents and the conditional profile
   * writes. A job in backoff keeps its slot: that is the back-pressure.
   */
  async send(batch: Entry[]): Promise<void> {
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

  failAll(entries: readonly Entry[], error: unknown): void {
    for (const entry of entries) {
      if (entry.ticket.fail(error)) this.counters.failedWrites += 1;
    }
  }

  private report(started: number, actions: number, bytes: number, attempt: number, status: number): void {
    this.options.onBulk?.({ durationMs: performance.now() - started, actions, bytes, attempt, status });
  }
}

/** Elasticsearch is unreachable or kept failing: retriable, for the caller to pause and try again. */
export function unavailable(message: string, cause?: unknown): DependencyUnavailableError {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return new DependencyUnavailableError('elasticsearch', `${message}${detail}`, cause === undefined ? undefined : { cause });
}
