import { ConflictError, InvalidInputError, NotFoundError, type FieldError } from '../shared/errors';
import type { RuleDefinition } from '../rules/rule';
import { LIST_LIMITS, parseListDefinition, parseListEntry, parseListValue, type ListEntry, type ListSummary } from './list';
import { rulesUsing } from './list-references';
import type { ListAuditPage, ListStore } from './list-store';
import { yieldToEvents } from './yield-to-events';
import { isCsvHeader, MAX_UPLOAD_ERRORS, parseUploadLine, type UploadFormat, type UploadLine } from './list-upload';

/** Entries handed to the store at a time during a bulk upload: memory stays bounded by one batch. */
const UPLOAD_BATCH = 5_000;

export interface ListAdministrationOptions {
  /** The rules of the active rule set: a list they name cannot be deleted. */
  readonly activeRules: () => Promise<readonly RuleDefinition[]>;
  /** Called after each change this process made, so it decides with it at once (read-your-writes). */
  readonly onChanged?: (name: string) => Promise<void> | void;
}

/**
 * List management on top of a `ListStore`: validates every entry before
 * anything is written (a 400 names each bad line or item, and nothing is
 * applied), enforces the bounds, and refuses to delete a list that a rule of
 * the active rule set names (409 `LIST_IN_USE`, naming the rules).
 */
export class ListAdministration {
  constructor(
    private readonly store: ListStore,
    private readonly options: ListAdministrationOptions,
  ) {}

  list(): Promise<ListSummary[]> {
    return this.store.summaries();
  }

  async get(name: string): Promise<ListSummary> {
    const summary = await this.store.summary(name);
    if (summary === undefined) throw new NotFoundError('list', name);
    return summary;
  }

  /** The names of the lists that exist (a rule may name only these). */
  async names(): Promise<ReadonlySet<string>> {
    return new Set((await this.store.summaries()).map((s) => s.name));
  }

  async create(input: unknown, actor: string): Promise<ListSummary> {
    const { definition, errors } = parseListDefinition(input);
    if (definition === undefined) throw invalid('INVALID_LIST', errors);
    if ((await this.store.summaries()).length >= LIST_LIMITS.maxLists)
      throw invalid('TOO_MANY_LISTS', [{ path: '$', message: `at most ${LIST_LIMITS.maxLists} lists may exist` }]);
    return this.changed(await this.store.create(definition, actor));
  }

  async delete(name: string, actor: string): Promise<void> {
    await this.get(name);
    const using = rulesUsing(await this.options.activeRules(), name);
    if (using.length > 0) {
      throw new ConflictError(
        'LIST_IN_USE',
        `list ${name} is used by rule${using.length > 1 ? 's' : ''} ${using.join(', ')}; change them first`,
        {
          rules: using,
        },
      );
    }
    await this.store.delete(name, actor);
    await this.options.onChanged?.(name);
  }

  /** `POST /lists/:name/entries` with JSON: an array of values or `{value, expires_at, note}` (or `{"entries": [...]}`). */
  async addEntries(name: string, input: unknown, actor: string): Promise<ListSummary> {
    const list = await this.get(name);
    const items = Array.isArray(input) ? input : (input as { entries?: unknown } | null)?.entries;
    if (!Array.isArray(items) || items.length === 0)
      throw invalid('INVALID_LIST_ENTRIES', [{ path: '$', message: 'expected a non-empty JSON array of entries, or {"entries": [...]}' }]);
    const entries: ListEntry[] = [];
    const errors: FieldError[] = [];
    items.forEach((item: unknown, i) => {
      const parsed = parseListEntry(list.kind, item, `[${i}]`);
      if (Array.isArray(parsed)) errors.push(...parsed);
      else entries.push(parsed.entry);
    });
    if (errors.length > 0) throw invalid('INVALID_LIST_ENTRIES', errors.slice(0, MAX_UPLOAD_ERRORS));
    await this.checkRoom(list, entries.length);
    return this.changed(await this.store.add(name, single(entries), actor, 'add'));
  }

  /**
   * Bulk upload (NDJSON or CSV), up to 1,000,000 entries. `lines` is called
   * twice: once to validate every line (nothing is kept), once to write in
   * batches; so memory holds the body's bytes and one batch, never a million
   * parsed entries.
   */
  async upload(name: string, format: UploadFormat, lines: () => Iterable<UploadLine>, actor: string): Promise<ListSummary> {
    const list = await this.get(name);
    const errors: FieldError[] = [];
    let count = 0;
    let seen = 0;
    for (const entry of entriesOf(list, format, lines(), errors)) {
      if (entry !== undefined) count++;
      if (errors.length >= MAX_UPLOAD_ERRORS) break;
      // Blank lines count too: a body of nothing but newlines must not keep the process busy for long.
      if (++seen > 2 * LIST_LIMITS.maxEntriesPerUpload) {
        throw invalid('TOO_MANY_ENTRIES', [{ path: '$', message: `more than ${2 * LIST_LIMITS.maxEntriesPerUpload} lines` }]);
      }
      // Events keep being decided while a large body is checked.
      if (seen % UPLOAD_BATCH === 0) await yieldToEvents();
    }
    if (errors.length > 0) throw invalid('INVALID_LIST_ENTRIES', errors);
    if (count === 0) throw invalid('INVALID_LIST_ENTRIES', [{ path: '$', message: 'the body holds no entry' }]);
    if (count > LIST_LIMITS.maxEntriesPerUpload) {
      throw invalid('TOO_MANY_ENTRIES', [
        { path: '$', message: `${count} entries; one upload holds at most ${LIST_LIMITS.maxEntriesPerUpload}` },
      ]);
    }
    await this.checkRoom(list, count);
    return this.changed(await this.store.add(name, batchesOf(list, format, lines), actor, 'upload'));
  }

  /** `DELETE /lists/:name/entries`: an array of values (or `{"values": [...]}`), in any form of the value. */
  async removeEntries(name: string, input: unknown, actor: string): Promise<ListSummary> {
    const list = await this.get(name);
    const items = Array.isArray(input) ? input : (input as { values?: unknown } | null)?.values;
    if (!Array.isArray(items) || items.length === 0)
      throw invalid('INVALID_LIST_ENTRIES', [{ path: '$', message: 'expected a non-empty JSON array of values, or {"values": [...]}' }]);
    const values: string[] = [];
    const errors: FieldError[] = [];
    items.forEach((item: unknown, i) => {
      const parsed = parseListValue(list.kind, item);
      if (typeof parsed === 'string') errors.push({ path: `[${i}]`, message: parsed });
      else values.push(parsed.value);
    });
    if (errors.length > 0) throw invalid('INVALID_LIST_ENTRIES', errors.slice(0, MAX_UPLOAD_ERRORS));
    return this.changed(await this.store.remove(name, values, actor));
  }

  /** Every entry, in batches, for export. */
  async export(name: string): Promise<{ summary: ListSummary; batches: AsyncIterable<readonly ListEntry[]> }> {
    const summary = await this.get(name);
    return { summary, batches: this.store.entries(name) };
  }

  async audit(name: string, limit: number, offset: number): Promise<ListAuditPage> {
    return this.store.audit(name, limit, offset);
  }

  /** 400 when the list, or all lists together, would pass their bound (entries re-dated count as added: an upper bound). */
  private async checkRoom(list: ListSummary, adding: number): Promise<void> {
    if (list.entry_count + adding > LIST_LIMITS.maxEntriesPerList) {
      throw invalid('TOO_MANY_ENTRIES', [
        { path: '$', message: `list ${list.name} would exceed ${LIST_LIMITS.maxEntriesPerList} entries (it holds ${list.entry_count})` },
      ]);
    }
    const held = (await this.store.summaries()).reduce((sum, summary) => sum + summary.entry_count, 0);
    if (held + adding > LIST_LIMITS.maxEntriesInAllLists) {
      throw invalid('TOO_MANY_ENTRIES', [
        { path: '$', message: `all lists together would exceed ${LIST_LIMITS.maxEntriesInAllLists} entries (they hold ${held})` },
      ]);
    }
  }

  /** Answers once this instance decides with the change (read-your-writes). */
  private async changed(summary: ListSummary): Promise<ListSummary> {
    await this.options.onChanged?.(summary.name);
    return summary;
  }
}

/** Each line's entry (undefined for a blank or header line); bad lines add their errors to `errors`. */
function* entriesOf(
  list: ListSummary,
  format: UploadFormat,
  lines: Iterable<UploadLine>,
  errors: FieldError[],
): Iterable<ListEntry | undefined> {
  let first = true;
  for (const line of lines) {
    if (first && format === 'csv' && line.text !== undefined && line.text.trim() !== '') {
      first = false;
      if (isCsvHeader(line.text)) continue;
    }
    const parsed = parseUploadLine(list.kind, format, line);
    if (Array.isArray(parsed)) {
      errors.push(...parsed);
      yield undefined;
    } else yield parsed;
  }
}

async function* batchesOf(list: ListSummary, format: UploadFormat, lines: () => Iterable<UploadLine>): AsyncIterable<readonly ListEntry[]> {
  const errors: FieldError[] = [];
  let batch: ListEntry[] = [];
  for (const entry of entriesOf(list, format, lines(), errors)) {
    if (entry === undefined) continue;
    batch.push(entry);
    if (batch.length === UPLOAD_BATCH) {
      yield batch;
      batch = [];
      await yieldToEvents();
    }
  }
  if (batch.length > 0) yield batch;
}

async function* single(entries: readonly ListEntry[]): AsyncIterable<readonly ListEntry[]> {
  yield entries;
}

function invalid(code: string, errors: readonly FieldError[]): InvalidInputError {
  const shown = errors.slice(0, 5).map((e) => `${e.path}: ${e.message}`);
  const more = errors.length > 5 ? `; and ${errors.length - 5} more` : '';
  return new InvalidInputError(code, shown.join('; ') + more, errors);
}
