import { NotFoundError } from '@risk/domain';
import type { ListDefinition, ListEntry, ListSummary } from '@risk/domain/lists/list';
import {
  AUDIT_SAMPLE,
  continuation,
  decodeEntry,
  DELTAS_KEPT,
  DELTA_MAX_ENTRIES,
  encodeEntryDetails,
  ListExistsError,
  ListStore,
  type ListAction,
  type ListAuditEntry,
  type ListAuditPage,
  type ListDelta,
} from '@risk/domain/lists/list-store';
import type { PipelineCall, RedisClient, RedisScript } from './redis.client';
import { RedisChannelFollowers } from './redis-channel-followers';

/** Entries per HSET/HDEL in a bulk write, and per HSCAN page when reading. */
const BATCH = 5_000;

/**
 * KEYS: index, versions, updated, audit, entries, deltas. ARGV: name, definition, updated_at, audit body, channel.
 * Entries left by a bulk upload that lost a race with a delete are cleared, so a new list starts empty.
 */
const CREATE = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('UNLINK', KEYS[5], KEYS[6])
redis.call('HSET', KEYS[2], ARGV[1], 1)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('LPUSH', KEYS[4], '{"version":1,' .. string.sub(ARGV[4], 2))
redis.call('PUBLISH', ARGV[5], ARGV[1])
return 1
`;

/**
 * A new version: optional small HSET/HDEL of the change itself, then the
 * version bump, the delta and the audit entry, and the PUBLISH, atomically.
 * KEYS: index, versions, updated, entries, deltas, audit.
 * ARGV: name, updated_at, delta body, audit body, channel, deltas kept, op ('' | 'add' | 'remove'), then fields (and values for add).
 */
const COMMIT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
if ARGV[7] == 'add' then
  for i = 8, #ARGV, 2 do redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1]) end
elseif ARGV[7] == 'remove' then
  for i = 8, #ARGV do redis.call('HDEL', KEYS[4], ARGV[i]) end
end
local v = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('LPUSH', KEYS[5], '{"version":' .. v .. ',' .. string.sub(ARGV[3], 2))
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[6]) - 1)
redis.call('LPUSH', KEYS[6], '{"version":' .. v .. ',' .. string.sub(ARGV[4], 2))
redis.call('PUBLISH', ARGV[5], ARGV[1])
return v
`;

/** KEYS: index, versions, updated, entries, deltas, audit. ARGV: name, audit body, channel. */
const DELETE = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('UNLINK', KEYS[4], KEYS[5])
redis.call('LPUSH', KEYS[6], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1
`;

/** A delta as the script stores it: it splices the version in front. */
type DeltaBody = { kind: 'add'; entries: readonly ListEntry[] } | { kind: 'remove'; values: readonly string[] } | { kind: 'reload' };

interface StoredDefinition extends ListDefinition {
  readonly created_at: string;
  readonly created_by: string;
}

/**
 * Lists in Redis, shared by every instance. Every key carries the hash tag
 * {lists}, so each script touches one slot (and runs on Redis Cluster):
 *
 *   <prefix>{lists}:index            hash  name → definition (kind, description, created)
 *   <prefix>{lists}:versions         hash  name → version
 *   <prefix>{lists}:updated          hash  name → time of the last change
 *   <prefix>{lists}:entries:<name>   hash  value → '' or {"expires_at","note"}
 *   <prefix>{lists}:deltas:<name>    list  the last 100 changes, newest first (small ones with their entries)
 *   <prefix>{lists}:audit:<name>     list  newest first, never trimmed, kept after a delete
 *
 * A small change (≤ 1000 entries) is written, versioned and published in one
 * script. A bulk one is written in HSET pipelines of 5,000 first, then
 * versioned as a `reload`: instances load the list again when they see it.
 */
export class RedisListStore extends ListStore {
  readonly channel: string;
  private readonly keys: { index: string; versions: string; updated: string };
  private readonly prefix: string;
  private readonly createScript: RedisScript;
  private readonly commitScript: RedisScript;
  private readonly deleteScript: RedisScript;
  private readonly followers: RedisChannelFollowers;

  constructor(
    private readonly client: RedisClient,
    keyPrefix: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    super();
    this.prefix = `${keyPrefix}{lists}`;
    this.keys = { index: `${this.prefix}:index`, versions: `${this.prefix}:versions`, updated: `${this.prefix}:updated` };
    this.channel = `${keyPrefix}lists:changed`;
    this.followers = new RedisChannelFollowers(client, this.channel);
    this.createScript = client.defineScript('lists_create', CREATE);
    this.commitScript = client.defineScript('lists_commit', COMMIT);
    this.deleteScript = client.defineScript('lists_delete', DELETE);
  }

  async summaries(): Promise<ListSummary[]> {
    const [index, versions, updated] = await Promise.all([
      this.client.hgetall(this.keys.index),
      this.client.hgetall(this.keys.versions),
      this.client.hgetall(this.keys.updated),
    ]);
    const names = Object.keys(index).sort();
    const counts = await this.client.pipelined(names.map((name) => ({ command: 'hlen', args: [this.entriesKey(name)] })));
    return names.map((name, i) => summaryOf(index[name], versions[name], updated[name], counts[i]));
  }

  async summary(name: string): Promise<ListSummary | undefined> {
    const [definition, version, updated, count] = await this.client.pipelined([
      { command: 'hmget', args: [this.keys.index, name] },
      { command: 'hmget', args: [this.keys.versions, name] },
      { command: 'hmget', args: [this.keys.updated, name] },
      { command: 'hlen', args: [this.entriesKey(name)] },
    ]);
    const text = (definition as (string | null)[])[0];
    if (text === null) return undefined;
    return summaryOf(text, (version as string[])[0], (updated as string[])[0], count);
  }

  async create(definition: ListDefinition, actor: string): Promise<ListSummary> {
    const at = this.now().toISOString();
    const stored: StoredDefinition = { ...definition, created_at: at, created_by: actor };
    const audit = auditBody(definition.name, at, actor, 'create', 0, []);
    const created = await this.createScript.run(
      [
        this.keys.index,
        this.keys.versions,
        this.keys.updated,
        this.auditKey(definition.name),
        this.entriesKey(definition.name),
        this.deltasKey(definition.name),
      ],
      [definition.name, JSON.stringify(stored), at, audit, this.channel],
    );
    if (created !== 1) throw new ListExistsError(definition.name);
    return { ...definition, version: 1, entry_count: 0, created_at: at, created_by: actor, updated_at: at };
  }

  async delete(name: string, actor: string): Promise<void> {
    const at = this.now().toISOString();
    const audit = JSON.stringify({ version: 0, ...JSON.parse(auditBody(name, at, actor, 'delete', 0, [])) });
    const deleted = await this.deleteScript.run(
      [this.keys.index, this.keys.versions, this.keys.updated, this.entriesKey(name), this.deltasKey(name), this.auditKey(name)],
      [name, audit, this.channel],
    );
    if (deleted !== 1) throw new NotFoundError('list', name);
  }

  async add(name: string, batches: AsyncIterable<readonly ListEntry[]>, actor: string, action: 'add' | 'upload'): Promise<ListSummary> {
    await this.mustExist(name);
    // Up to DELTA_MAX_ENTRIES entries go into the versioning script itself; past that, into HSET pipelines first.
    let held: ListEntry[] = [];
    let sample: string[] = [];
    let count = 0;
    for await (const batch of batches) {
      count += batch.length;
      if (sample.length < AUDIT_SAMPLE) sample = [...sample, ...batch.slice(0, AUDIT_SAMPLE).map((e) => e.value)].slice(0, AUDIT_SAMPLE);
      if (count <= DELTA_MAX_ENTRIES) {
        held.push(...batch);
        continue;
      }
      if (held.length > 0) {
        await this.writeBatches(name, held, 'hset');
        held = [];
      }
      await this.writeBatches(name, batch, 'hset');
    }
    if (count > DELTA_MAX_ENTRIES) return this.commit(name, actor, action, count, { kind: 'reload' }, sample, []);
    const fields: string[] = [];
    for (const entry of held) fields.push(entry.value, encodeEntryDetails(entry));
    return this.commit(name, actor, action, count, { kind: 'add', entries: held }, sample, ['add', ...fields]);
  }

  async remove(name: string, values: readonly string[], actor: string): Promise<ListSummary> {
    await this.mustExist(name);
    const sample = values.slice(0, AUDIT_SAMPLE);
    if (values.length <= DELTA_MAX_ENTRIES)
      return this.commit(name, actor, 'remove', values.length, { kind: 'remove', values }, sample, ['remove', ...values]);
    await this.writeBatches(name, values, 'hdel');
    return this.commit(name, actor, 'remove', values.length, { kind: 'reload' }, sample, []);
  }

  async *entries(name: string): AsyncIterable<readonly ListEntry[]> {
    await this.mustExist(name);
    let cursor = '0';
    do {
      const [next, flat] = await this.client.hscan(this.entriesKey(name), cursor, BATCH);
      cursor = next;
      const batch: ListEntry[] = [];
      for (let i = 0; i < flat.length; i += 2) batch.push(decodeEntry(flat[i], flat[i + 1]));
      if (batch.length > 0) yield batch;
    } while (cursor !== '0');
  }

  async changesSince(name: string, version: number): Promise<ListDelta[] | undefined> {
    const [latest, deltas] = await this.client.pipelined([
      { command: 'hmget', args: [this.keys.versions, name] },
      { command: 'lrange', args: [this.deltasKey(name), 0, DELTAS_KEPT - 1] },
    ]);
    const current = (latest as (string | null)[])[0];
    if (current === null) return undefined;
    return continuation(
      (deltas as string[]).map((text) => JSON.parse(text) as ListDelta),
      version,
      Number(current),
    );
  }

  async audit(name: string, limit: number, offset: number): Promise<ListAuditPage> {
    const [total, items] = await this.client.pipelined([
      { command: 'llen', args: [this.auditKey(name)] },
      { command: 'lrange', args: [this.auditKey(name), offset, offset + limit - 1] },
    ]);
    return { total: Number(total), items: (items as string[]).map((text) => JSON.parse(text) as ListAuditEntry) };
  }

  subscribe(listener: (name: string | undefined) => void): Promise<() => Promise<void>> {
    return this.followers.follow(listener);
  }

  close(): Promise<void> {
    return this.followers.close();
  }

  private async commit(
    name: string,
    actor: string,
    action: ListAction,
    count: number,
    delta: DeltaBody,
    sample: readonly string[],
    inline: readonly string[],
  ): Promise<ListSummary> {
    const at = this.now().toISOString();
    const version = await this.commitScript.run(
      [this.keys.index, this.keys.versions, this.keys.updated, this.entriesKey(name), this.deltasKey(name), this.auditKey(name)],
      [name, at, JSON.stringify(delta), auditBody(name, at, actor, action, count, sample), this.channel, DELTAS_KEPT, ...inline],
    );
    if (version === -1) throw new NotFoundError('list', name);
    const summary = await this.summary(name);
    if (summary === undefined) throw new NotFoundError('list', name);
    return summary;
  }

  private async mustExist(name: string): Promise<void> {
    const [found] = (await this.client.pipelined([{ command: 'hmget', args: [this.keys.index, name] }])) as [(string | null)[]];
    if (found[0] === null) throw new NotFoundError('list', name);
  }

  private async writeBatches(name: string, items: readonly (ListEntry | string)[], command: 'hset' | 'hdel'): Promise<void> {
    const key = this.entriesKey(name);
    const calls: PipelineCall[] = [];
    for (let i = 0; i < items.length; i += BATCH) {
      const args: string[] = [key];
      for (const item of items.slice(i, i + BATCH)) {
        if (typeof item === 'string') args.push(item);
        else args.push(item.value, encodeEntryDetails(item));
      }
      calls.push({ command, args });
    }
    await this.client.pipelined(calls);
  }

  private entriesKey(name: string): string {
    return `${this.prefix}:entries:${name}`;
  }

  private deltasKey(name: string): string {
    return `${this.prefix}:deltas:${name}`;
  }

  private auditKey(name: string): string {
    return `${this.prefix}:audit:${name}`;
  }
}

function summaryOf(
  definition: string,
  version: string | undefined | null,
  updated: string | undefined | null,
  count: unknown,
): ListSummary {
  const stored = JSON.parse(definition) as StoredDefinition;
  return {
    name: stored.name,
    kind: stored.kind,
    description: stored.description,
    version: Number(version ?? 1),
    entry_count: Number(count ?? 0),
    created_at: stored.created_at,
    created_by: stored.created_by,
    updated_at: updated ?? stored.created_at,
  };
}

/** The audit entry without its version (the script splices it in, as `{"version":n,` + the rest). */
function auditBody(list: string, at: string, actor: string, action: ListAction, count: number, sample: readonly string[]): string {
  return JSON.stringify({ list, at, actor, action, count, sample });
}
