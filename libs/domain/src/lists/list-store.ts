import { ConflictError } from '../shared/errors';
import type { ListDefinition, ListEntry, ListSummary } from './list';

/** What changed a list; `upload` is a bulk add (NDJSON or CSV). */
export type ListAction = 'create' | 'add' | 'upload' | 'remove' | 'delete';

/**
 * One line of a list's audit trail: who changed what, how many entries, and
 * a few of the values (not full copies: an upload may hold a million).
 */
export interface ListAuditEntry {
  readonly list: string;
  /** The list version after the change (0 after a delete). */
  readonly version: number;
  readonly at: string;
  readonly actor: string;
  readonly action: ListAction;
  /** Entries the change named (added, re-dated or removed). */
  readonly count: number;
  /** Up to `AUDIT_SAMPLE` of those values. */
  readonly sample: readonly string[];
}

export const AUDIT_SAMPLE = 10;

/**
 * A change as other instances replay it: small changes carry their entries,
 * so an instance applies them to its matcher in place; a large one
 * (`reload`) makes it load the whole list again.
 */
export type ListDelta =
  | { readonly version: number; readonly kind: 'add'; readonly entries: readonly ListEntry[] }
  | { readonly version: number; readonly kind: 'remove'; readonly values: readonly string[] }
  | { readonly version: number; readonly kind: 'reload' };

/** Changes with at most this many entries are replayed in place by other instances; larger ones reload the list. */
export const DELTA_MAX_ENTRIES = 1000;
/** Deltas kept per list: an instance further behind reloads the list. */
export const DELTAS_KEPT = 100;

export interface ListAuditPage {
  readonly total: number;
  readonly items: readonly ListAuditEntry[];
}

/**
 * Where lists live (Redis when configured, else files under DATA_DIR). Every
 * entry change bumps the list's version by one and appends an audit entry;
 * entries are written in batches, so a bulk upload never holds more than one
 * batch in flight. Callers validate entries first (nothing invalid reaches a store).
 */
export abstract class ListStore {
  abstract summaries(): Promise<ListSummary[]>;
  abstract summary(name: string): Promise<ListSummary | undefined>;
  /** 409 `LIST_EXISTS` when the name is taken. */
  abstract create(definition: ListDefinition, actor: string): Promise<ListSummary>;
  /** Deletes the list and its entries; its audit trail stays. */
  abstract delete(name: string, actor: string): Promise<void>;
  /** Adds (or re-dates) entries, batch by batch, as one new version. */
  abstract add(name: string, batches: AsyncIterable<readonly ListEntry[]>, actor: string, action: 'add' | 'upload'): Promise<ListSummary>;
  /** Removes values (canonical); absent ones are ignored. One new version. */
  abstract remove(name: string, values: readonly string[], actor: string): Promise<ListSummary>;
  /** Every entry, in batches (export, loading a matcher). */
  abstract entries(name: string): AsyncIterable<readonly ListEntry[]>;
  /**
   * The changes after `version`, oldest first, or `undefined` when they are
   * not all known (or one was large): then the caller reloads the list.
   */
  abstract changesSince(name: string, version: number): Promise<ListDelta[] | undefined>;
  abstract audit(name: string, limit: number, offset: number): Promise<ListAuditPage>;
  /**
   * Calls `listener` with a list's name when it changed (any instance), and
   * with `undefined` when notifications may have been missed. Best effort:
   * watchers also poll.
   */
  abstract subscribe(listener: (name: string | undefined) => void): Promise<() => Promise<void>>;
  abstract close(): Promise<void>;
}

export class ListExistsError extends ConflictError {
  constructor(name: string) {
    super('LIST_EXISTS', `list ${name} already exists`);
  }
}

/** The entry's expiry and note, as stored beside its value: '' when it has neither. */
export function encodeEntryDetails(entry: ListEntry): string {
  if (entry.expires_at === null && entry.note === null) return '';
  return JSON.stringify({ expires_at: entry.expires_at, note: entry.note });
}

export function decodeEntry(value: string, details: string): ListEntry {
  if (details === '') return { value, expires_at: null, note: null };
  const parsed = JSON.parse(details) as { expires_at: string | null; note: string | null };
  return { value, expires_at: parsed.expires_at ?? null, note: parsed.note ?? null };
}

/** The delta other instances replay for a change (a `reload` when it is large). */
export function deltaOf(version: number, change: { entries?: readonly ListEntry[]; values?: readonly string[] }): ListDelta {
  if (change.values !== undefined)
    return change.values.length <= DELTA_MAX_ENTRIES ? { version, kind: 'remove', values: change.values } : { version, kind: 'reload' };
  const entries = change.entries ?? [];
  return entries.length <= DELTA_MAX_ENTRIES ? { version, kind: 'add', entries } : { version, kind: 'reload' };
}

/** Keeps the deltas that continue `version` without a gap; `undefined` when one is missing or is a reload. */
export function continuation(deltas: readonly ListDelta[], version: number, latest: number): ListDelta[] | undefined {
  const after = deltas.filter((d) => d.version > version).sort((a, b) => a.version - b.version);
  let expected = version + 1;
  for (const delta of after) {
    if (delta.version !== expected || delta.kind === 'reload') return undefined;
    expected++;
  }
  return expected === latest + 1 ? after : undefined;
}
