import { CoalescedRun } from '../shared/coalesced-run';
import { expiryOf, type ListSummary } from './list';
import { ListMatcher } from './list-matcher';
import type { ListRegistry } from './list-registry';
import type { ListStore } from './list-store';
import { yieldToEvents } from './yield-to-events';

export interface ListSyncHooks {
  /** A list now decides at `version` in this process (`how`: built in full, or changed in place by deltas). */
  readonly onChange?: (name: string, version: number, how: 'loaded' | 'delta' | 'removed', entries: number) => void;
  /** The store could not be read; the next trigger (message or poll) tries again. */
  readonly onError?: (error: unknown) => void;
}

/**
 * Keeps a `ListRegistry` on the store's lists. Every trigger (a pub/sub
 * message, a reconnect, a periodic poll, a local write) re-reads every
 * list's version, the source of truth; triggers arriving during a sync are
 * coalesced into one more run. A list behind by small changes gets them
 * applied to its matcher in place; one behind by a large change (a bulk
 * upload), or too far behind, is loaded in full into a new matcher in the
 * background, which then replaces the old one by reference.
 */
export class ListSync {
  private readonly run: CoalescedRun;
  /** When each installed list was created: a list deleted and created again under its name is loaded afresh. */
  private readonly created = new Map<string, string>();

  constructor(
    private readonly store: ListStore,
    private readonly registry: ListRegistry,
    private readonly hooks: ListSyncHooks = {},
  ) {
    this.run = new CoalescedRun(
      () => this.syncOnce(),
      (error) => this.hooks.onError?.(error),
    );
  }

  /** Brings the registry to the store's lists; never rejects (errors go to `onError`). */
  sync(): Promise<void> {
    return this.run.trigger();
  }

  private async syncOnce(): Promise<void> {
    const summaries = await this.store.summaries();
    const present = new Set(summaries.map((s) => s.name));
    for (const name of this.registry.names()) {
      if (present.has(name)) continue;
      this.registry.uninstall(name);
      this.created.delete(name);
      this.hooks.onChange?.(name, 0, 'removed', 0);
    }
    for (const summary of summaries) await this.syncList(summary);
  }

  private async syncList(summary: ListSummary): Promise<void> {
    const current = this.registry.matcher(summary.name);
    const same = current !== undefined && this.created.get(summary.name) === summary.created_at;
    if (same && current.version === summary.version) return;
    if (same && current.version < summary.version) {
      const deltas = await this.store.changesSince(summary.name, current.version);
      if (deltas !== undefined) {
        // Synchronous from here: no event is evaluated while the matcher changes.
        for (const delta of deltas) {
          if (delta.kind === 'add') for (const entry of delta.entries) current.put(entry.value, expiryOf(entry));
          else if (delta.kind === 'remove') for (const value of delta.values) current.remove(value);
          current.version = delta.version;
        }
        this.hooks.onChange?.(summary.name, current.version, 'delta', current.size);
        return;
      }
    }
    await this.load(summary);
  }

  /** Builds the whole list into a new matcher (the old one keeps deciding meanwhile), then swaps it in. */
  private async load(summary: ListSummary): Promise<void> {
    // The version is read before the entries: a change landing during the load is replayed (or reloaded) next time.
    const matcher = new ListMatcher(summary.name, summary.kind, summary.version);
    for await (const batch of this.store.entries(summary.name)) {
      for (const entry of batch) matcher.put(entry.value, expiryOf(entry));
      await yieldToEvents();
    }
    this.registry.install(matcher);
    this.created.set(summary.name, summary.created_at);
    this.hooks.onChange?.(summary.name, summary.version, 'loaded', matcher.size);
  }
}
