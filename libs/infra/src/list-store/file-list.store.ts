import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { NotFoundError } from '@risk/domain';
import type { ListDefinition, ListEntry, ListSummary } from '@risk/domain/lists/list';
import {
  AUDIT_SAMPLE,
  continuation,
  decodeEntry,
  deltaOf,
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
import { newestFirstPage } from '../files/audit-page';
import { appendDurably, readCompleteLines, writeFileDurably } from '../files/durable-files';
import { OwnedDataDirectory } from '../files/owned-data-directory';

const EXPORT_BATCH = 10_000;
/** Small changes are appended to the list's log; past this many lines the snapshot is rewritten. */
const LOG_LINES_BEFORE_COMPACTION = 1000;

interface StoredList {
  summary: ListSummary;
  /** value → `encodeEntryDetails` ('' when the entry has no expiry and no note): compact for a million entries. */
  readonly entries: Map<string, string>;
  deltas: ListDelta[];
  logLines: number;
}

/**
 * The embedded default: lists under `${dataDir}/lists/`, surviving restarts.
 *
 *   <name>/list.json        the definition and when it was created
 *   <name>/entries.ndjson   a snapshot: a {"version": n} line, then one entry per line
 *   <name>/log.ndjson       small changes after the snapshot, one per line, appended and synced
 *   audit.ndjson            every list's audit trail, appended
 *
 * One process owns a data directory (as for rule sets): every list is held
 * in memory and writes are serialised here. A large change rewrites the
 * snapshot (temporary file, fsync, rename), so a crash leaves the previous
 * snapshot and log, never a torn file; a torn last log line is ignored.
 */
export class FileListStore extends ListStore {
  private readonly dir: string;
  private readonly lists = new Map<string, StoredList>();
  private trail: ListAuditEntry[] = [];
  private readonly owned: OwnedDataDirectory<string | undefined>;

  constructor(
    dataDir: string,
    private readonly now: () => Date = () => new Date(),
    /** `reader`: another process's directory, read and never written or cleaned up (OwnedDataDirectory). */
    access: { readonly reader?: boolean } = {},
  ) {
    super();
    this.dir = join(dataDir, 'lists');
    this.owned = new OwnedDataDirectory(() => this.readAll(), access);
  }

  async summaries(): Promise<ListSummary[]> {
    await this.owned.load();
    return [...this.lists.values()].map((l) => l.summary).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async summary(name: string): Promise<ListSummary | undefined> {
    await this.owned.load();
    return this.lists.get(name)?.summary;
  }

  create(definition: ListDefinition, actor: string): Promise<ListSummary> {
    return this.owned.exclusive(async () => {
      if (this.lists.has(definition.name)) throw new ListExistsError(definition.name);
      const at = this.now().toISOString();
      const summary: ListSummary = { ...definition, version: 1, entry_count: 0, created_at: at, created_by: actor, updated_at: at };
      const listDir = join(this.dir, definition.name);
      await mkdir(listDir, { recursive: true });
      await writeFileDurably(join(listDir, 'entries.ndjson'), [JSON.stringify({ version: 1 })]);
      await rm(join(listDir, 'log.ndjson'), { force: true });
      await writeFileDurably(join(listDir, 'list.json'), [JSON.stringify(summary)]);
      this.lists.set(definition.name, { summary, entries: new Map(), deltas: [], logLines: 0 });
      await this.record({ list: definition.name, version: 1, at, actor, action: 'create', count: 0, sample: [] });
      return summary;
    });
  }

  delete(name: string, actor: string): Promise<void> {
    return this.owned.exclusive(async () => {
      this.get(name);
      // Renamed away first, so a crash mid-removal never leaves a half list that loads.
      const doomed = join(this.dir, `.deleted-${name}-${randomBytes(4).toString('hex')}`);
      await rename(join(this.dir, name), doomed);
      this.lists.delete(name);
      await rm(doomed, { recursive: true, force: true });
      await this.record({ list: name, version: 0, at: this.now().toISOString(), actor, action: 'delete', count: 0, sample: [] });
    });
  }

  add(name: string, batches: AsyncIterable<readonly ListEntry[]>, actor: string, action: 'add' | 'upload'): Promise<ListSummary> {
    return this.owned.exclusive(async () => {
      const list = this.get(name);
      const added: ListEntry[] = [];
      let count = 0;
      for await (const batch of batches) {
        for (const entry of batch) {
          list.entries.set(entry.value, encodeEntryDetails(entry));
          if (added.length <= DELTA_MAX_ENTRIES) added.push(entry);
        }
        count += batch.length;
      }
      return this.commit(list, actor, action, count, { entries: added });
    });
  }

  remove(name: string, values: readonly string[], actor: string): Promise<ListSummary> {
    return this.owned.exclusive(async () => {
      const list = this.get(name);
      for (const value of values) list.entries.delete(value);
      return this.commit(list, actor, 'remove', values.length, { values });
    });
  }

  async *entries(name: string): AsyncIterable<readonly ListEntry[]> {
    await this.owned.load();
    const list = this.get(name);
    let batch: ListEntry[] = [];
    for (const [value, details] of list.entries) {
      batch.push(decodeEntry(value, details));
      if (batch.length === EXPORT_BATCH) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  async changesSince(name: string, version: number): Promise<ListDelta[] | undefined> {
    await this.owned.load();
    const list = this.lists.get(name);
    if (list === undefined) return undefined;
    return continuation(list.deltas, version, list.summary.version);
  }

  async audit(name: string, limit: number, offset: number): Promise<ListAuditPage> {
    await this.owned.load();
    return newestFirstPage(
      this.trail.filter((e) => e.list === name),
      limit,
      offset,
    );
  }

  subscribe(listener: (name: string | undefined) => void): Promise<() => Promise<void>> {
    return this.owned.subscribe(listener);
  }

  close(): Promise<void> {
    return this.owned.close();
  }

  /** One new version: a small change is appended to the log, a large one rewrites the snapshot. */
  private async commit(
    list: StoredList,
    actor: string,
    action: ListAction,
    count: number,
    change: { entries?: readonly ListEntry[]; values?: readonly string[] },
  ): Promise<ListSummary> {
    const version = list.summary.version + 1;
    const delta = deltaOf(version, change);
    const listDir = join(this.dir, list.summary.name);
    if (delta.kind === 'reload' || list.logLines >= LOG_LINES_BEFORE_COMPACTION) {
      await writeFileDurably(join(listDir, 'entries.ndjson'), snapshotLines(version, list.entries));
      await rm(join(listDir, 'log.ndjson'), { force: true });
      list.logLines = 0;
    } else {
      await appendDurably(join(listDir, 'log.ndjson'), JSON.stringify(delta) + '\n');
      list.logLines++;
    }
    const at = this.now().toISOString();
    list.summary = { ...list.summary, version, entry_count: list.entries.size, updated_at: at };
    list.deltas = [...list.deltas.slice(-(DELTAS_KEPT - 1)), delta];
    const sample = (change.values ?? change.entries?.map((e) => e.value) ?? []).slice(0, AUDIT_SAMPLE);
    await this.record({ list: list.summary.name, version, at, actor, action, count, sample });
    return list.summary;
  }

  private get(name: string): StoredList {
    const list = this.lists.get(name);
    if (list === undefined) throw new NotFoundError('list', name);
    return list;
  }

  private async record(entry: ListAuditEntry): Promise<void> {
    await appendDurably(join(this.dir, 'audit.ndjson'), JSON.stringify(entry) + '\n');
    this.trail.push(entry);
    this.owned.notify(entry.list);
  }

  private async readAll(): Promise<void> {
    if (this.owned.owner) await mkdir(this.dir, { recursive: true });
    const items = await readdir(this.dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' && !this.owned.owner) return [];
      throw error;
    });
    for (const item of items) {
      if (!item.isDirectory()) continue;
      if (item.name.startsWith('.deleted-')) {
        // A list whose deletion a crash interrupted: its owner finishes it; a reader leaves it to the owner.
        if (this.owned.owner) await rm(join(this.dir, item.name), { recursive: true, force: true });
        continue;
      }
      const list = await readList(join(this.dir, item.name));
      if (list !== undefined) this.lists.set(list.summary.name, list);
    }
    this.trail = [];
    for (const line of await readCompleteLines(join(this.dir, 'audit.ndjson'))) this.trail.push(JSON.parse(line) as ListAuditEntry);
  }
}

function* snapshotLines(version: number, entries: Map<string, string>): Iterable<string> {
  yield JSON.stringify({ version });
  for (const [value, details] of entries) yield JSON.stringify(decodeEntry(value, details));
}

/** A list's directory: the snapshot, then the log's changes after it. Undefined when it holds no list.json. */
async function readList(listDir: string): Promise<StoredList | undefined> {
  let summary: ListSummary;
  try {
    summary = JSON.parse(await readFile(join(listDir, 'list.json'), 'utf8')) as ListSummary;
  } catch {
    return undefined;
  }
  const entries = new Map<string, string>();
  let version = 1;
  let first = true;
  const input = createInterface({ input: createReadStream(join(listDir, 'entries.ndjson')), crlfDelay: Infinity });
  for await (const line of input) {
    if (line === '') continue;
    if (first) {
      version = (JSON.parse(line) as { version: number }).version;
      first = false;
      continue;
    }
    const entry = JSON.parse(line) as ListEntry;
    entries.set(entry.value, encodeEntryDetails(entry));
  }
  const deltas: ListDelta[] = [];
  let logLines = 0;
  for (const line of await readCompleteLines(join(listDir, 'log.ndjson'))) {
    const delta = JSON.parse(line) as ListDelta;
    logLines++;
    if (delta.version <= version) continue;
    if (delta.kind === 'add') for (const entry of delta.entries) entries.set(entry.value, encodeEntryDetails(entry));
    else if (delta.kind === 'remove') for (const value of delta.values) entries.delete(value);
    version = delta.version;
    deltas.push(delta);
  }
  return { summary: { ...summary, version, entry_count: entries.size }, entries, deltas: deltas.slice(-DELTAS_KEPT), logLines };
}
