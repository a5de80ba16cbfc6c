import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { InvalidInputError } from '../shared/errors';
import { LIST_LIMITS, type ListEntry, type ListSummary } from './list';
import { ListAdministration } from './list-administration';
import { ListStore } from './list-store';

function summary(name: string, entryCount: number): ListSummary {
  const at = '2026-11-30T00:00:00.000Z';
  return { name, kind: 'string', description: '', version: 1, entry_count: entryCount, created_at: at, created_by: 'test', updated_at: at };
}

/** Holds summaries only; `add` records what reached it. */
class SummaryStore extends ListStore {
  readonly added: string[] = [];
  constructor(private readonly lists: ListSummary[]) {
    super();
  }
  async summaries(): Promise<ListSummary[]> {
    return this.lists;
  }
  async summary(name: string): Promise<ListSummary | undefined> {
    return this.lists.find((l) => l.name === name);
  }
  async add(name: string, batches: AsyncIterable<readonly ListEntry[]>): Promise<ListSummary> {
    for await (const batch of batches) this.added.push(...batch.map((e) => e.value));
    return (await this.summary(name))!;
  }
  create(): Promise<ListSummary> {
    throw new Error('not used');
  }
  delete(): Promise<void> {
    throw new Error('not used');
  }
  remove(): Promise<ListSummary> {
    throw new Error('not used');
  }
  // eslint-disable-next-line require-yield
  async *entries(): AsyncIterable<readonly ListEntry[]> {
    throw new Error('not used');
  }
  changesSince(): Promise<undefined> {
    throw new Error('not used');
  }
  audit(): Promise<never> {
    throw new Error('not used');
  }
  subscribe(): Promise<() => Promise<void>> {
    throw new Error('not used');
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

describe('ListAdministration bounds', () => {
  it('refuses entries that would take all lists together past their bound, and writes nothing', async () => {
    // Three lists each well under the per-list bound, together one entry short of the bound on all lists.
    const third = Math.floor(LIST_LIMITS.maxEntriesInAllLists / 3);
    const rest = LIST_LIMITS.maxEntriesInAllLists - 2 * third - 1;
    assert.ok(third + 2 <= LIST_LIMITS.maxEntriesPerList);
    const store = new SummaryStore([summary('a', third), summary('b', third), summary('c', rest)]);
    const admin = new ListAdministration(store, { activeRules: async () => [] });

    await assert.rejects(admin.addEntries('a', ['x', 'y'], 'alice'), (error: unknown) => {
      assert.ok(error instanceof InvalidInputError);
      assert.equal(error.code, 'TOO_MANY_ENTRIES');
      assert.match(error.message, /all lists together would exceed 10000000 entries/);
      return true;
    });
    assert.deepEqual(store.added, []);

    await admin.addEntries('a', ['x'], 'alice');
    assert.deepEqual(store.added, ['x']);
  });
});
