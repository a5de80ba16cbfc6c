import { formatEventTime, parseEventTime } from '../events/event-time';
import { describe, textProblem } from '../events/text';
import type { FieldError } from '../shared/errors';
import { parseIpRange, type IpRange } from './ip-address';

/** `ip`: IPv4/IPv6 addresses and CIDR ranges; `string`: exact strings (device, user, card, email domain, …). */
export type ListKind = 'ip' | 'string';
export const LIST_KINDS: readonly ListKind[] = ['ip', 'string'];

/** One entry as stored and exported: the canonical value, an optional expiry and note. */
export interface ListEntry {
  readonly value: string;
  /** UTC ISO-8601 with milliseconds; the entry stops matching after it. */
  readonly expires_at: string | null;
  readonly note: string | null;
}

/** What a list is: fixed at creation. */
export interface ListDefinition {
  readonly name: string;
  readonly kind: ListKind;
  readonly description: string | null;
}

/** A list and where it stands: `version` grows by one with every change of its entries. */
export interface ListSummary extends ListDefinition {
  readonly version: number;
  readonly entry_count: number;
  readonly created_at: string;
  readonly created_by: string;
  readonly updated_at: string;
}

/** Bounds on lists (docs/lists.md). */
export const LIST_LIMITS = {
  maxLists: 1000,
  maxEntriesPerList: 5_000_000,
  /** Every instance holds every list in memory (about 120 B an entry): 1,000 full lists would exhaust any heap. */
  maxEntriesInAllLists: 10_000_000,
  maxEntriesPerUpload: 1_000_000,
  maxStringCharacters: 512,
  maxNoteCharacters: 256,
  maxDescriptionCharacters: 1024,
} as const;

const LIST_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Why `name` cannot name a list, or undefined. Names appear in file names and Redis keys. */
export function listNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || !LIST_NAME.test(name))
    return 'must be 1–64 characters of letters, digits, _ . - starting with a letter or digit';
  return undefined;
}

/** Validates a list definition (`POST /lists`); every error names its field. */
export function parseListDefinition(input: unknown): { definition?: ListDefinition; errors: FieldError[] } {
  const errors: FieldError[] = [];
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    return { errors: [{ path: '$', message: 'must be a JSON object' }] };
  const body = input as Record<string, unknown>;
  for (const key of Object.keys(body))
    if (!['name', 'kind', 'description'].includes(key)) errors.push({ path: key, message: 'unknown property' });
  const nameProblem = listNameProblem(body.name);
  if (nameProblem !== undefined) errors.push({ path: 'name', message: nameProblem });
  if (!LIST_KINDS.includes(body.kind as ListKind)) errors.push({ path: 'kind', message: 'must be "ip" or "string"' });
  const description = body.description ?? null;
  if (description !== null) {
    const problem = typeof description === 'string' ? textProblem(description, LIST_LIMITS.maxDescriptionCharacters) : 'must be a string';
    if (problem !== undefined) errors.push({ path: 'description', message: problem });
  }
  if (errors.length > 0) return { errors };
  return { definition: { name: body.name as string, kind: body.kind as ListKind, description: description as string | null }, errors };
}

/** A validated entry, with its expiry as a number and, for `ip` lists, its parsed range. */
export interface ParsedEntry {
  readonly entry: ListEntry;
  /** Epoch ms; +Infinity when it never expires. */
  readonly expiresAtMs: number;
  readonly range?: IpRange;
}

/**
 * Checks a list value and puts it in canonical form: an `ip` value is an
 * address or CIDR range (IPv4-mapped IPv6 becomes IPv4, IPv6 is written as in
 * RFC 5952); a `string` value is kept exactly as given (case-sensitive), 1–512
 * characters of valid Unicode without control characters.
 */
export function parseListValue(kind: ListKind, value: unknown): { value: string; range?: IpRange } | string {
  if (typeof value !== 'string') return `must be a string, not ${describe(value)}`;
  if (kind === 'ip') {
    const range = parseIpRange(value);
    return typeof range === 'string' ? range : { value: range.canonical, range };
  }
  const problem = textProblem(value, LIST_LIMITS.maxStringCharacters, 1) ?? controlCharacterProblem(value);
  return problem ?? { value };
}

function controlCharacterProblem(value: string): string | undefined {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return `must not hold control characters (\\u${c.toString(16).padStart(4, '0')} at ${i + 1})`;
  }
  return undefined;
}

/**
 * One entry of an upload: a bare value (`"203.0.113.7"`) or an object
 * `{value, expires_at?, note?}`. `path` prefixes every error (`[3]`, `line 12`).
 */
export function parseListEntry(kind: ListKind, input: unknown, path: string): ParsedEntry | FieldError[] {
  const errors: FieldError[] = [];
  const at = (field: string): string => (path === '' ? field : `${path}.${field}`);
  let raw: Record<string, unknown>;
  if (typeof input === 'string') raw = { value: input };
  else if (input !== null && typeof input === 'object' && !Array.isArray(input)) raw = input as Record<string, unknown>;
  else
    return [{ path: path === '' ? '$' : path, message: `must be a value or an object {value, expires_at, note}, not ${describe(input)}` }];
  for (const key of Object.keys(raw))
    if (key !== 'value' && key !== 'expires_at' && key !== 'note') errors.push({ path: at(key), message: 'unknown property' });
  const value = parseListValue(kind, raw.value);
  if (typeof value === 'string') errors.push({ path: at('value'), message: value });
  let expiresAtMs = Number.POSITIVE_INFINITY;
  const expires = raw.expires_at ?? null;
  if (expires !== null && expires !== '') {
    expiresAtMs = parseEventTime(expires);
    if (Number.isNaN(expiresAtMs))
      errors.push({ path: at('expires_at'), message: 'must be an ISO-8601 time with a zone (2026-12-31T00:00:00Z) or epoch milliseconds' });
  }
  const note = raw.note ?? null;
  if (note !== null) {
    const problem = typeof note === 'string' ? textProblem(note, LIST_LIMITS.maxNoteCharacters) : `must be a string, not ${describe(note)}`;
    if (problem !== undefined) errors.push({ path: at('note'), message: problem });
  }
  if (errors.length > 0 || typeof value === 'string') return errors;
  return {
    entry: {
      value: value.value,
      expires_at: Number.isFinite(expiresAtMs) ? formatEventTime(expiresAtMs) : null,
      note: note === '' ? null : (note as string | null),
    },
    expiresAtMs,
    range: value.range,
  };
}

/** The expiry of a stored entry as epoch ms (+Infinity when none). */
export function expiryOf(entry: ListEntry): number {
  return entry.expires_at === null ? Number.POSITIVE_INFINITY : Date.parse(entry.expires_at);
}
