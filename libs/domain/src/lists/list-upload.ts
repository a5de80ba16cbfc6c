import type { FieldError } from '../shared/errors';
import { parseListEntry, type ListEntry, type ListKind } from './list';

/** How a bulk upload (or a list file in the rules directory) is written. */
export type UploadFormat = 'ndjson' | 'csv';

/** One line of an upload, numbered from 1, already decoded as UTF-8 (undefined when it was not UTF-8). */
export interface UploadLine {
  readonly line: number;
  readonly text: string | undefined;
}

/** A bad upload stops reporting after this many errors: the caller fixes and resends the whole body. */
export const MAX_UPLOAD_ERRORS = 100;

/**
 * Parses one line: NDJSON holds a JSON string or an object
 * `{"value", "expires_at", "note"}`; CSV holds `value[,expires_at[,note]]`
 * (RFC 4180 quotes, one entry per line). Blank lines are skipped
 * (`undefined`). Errors name the line and the field, e.g. `line 12.value`.
 */
export function parseUploadLine(kind: ListKind, format: UploadFormat, line: UploadLine): ListEntry | FieldError[] | undefined {
  const at = `line ${line.line}`;
  if (line.text === undefined) return [{ path: at, message: 'is not valid UTF-8' }];
  const text = line.text.endsWith('\r') ? line.text.slice(0, -1) : line.text;
  if (text.trim() === '') return undefined;
  let input: unknown;
  if (format === 'ndjson') {
    try {
      input = JSON.parse(text);
    } catch (error) {
      return [{ path: at, message: `is not valid JSON: ${(error as Error).message}` }];
    }
  } else {
    const fields = splitCsvLine(text);
    if (typeof fields === 'string') return [{ path: at, message: fields }];
    if (fields.length > 3) return [{ path: at, message: `has ${fields.length} fields; expected value[,expires_at[,note]]` }];
    input = { value: fields[0], expires_at: fields[1] === '' ? null : fields[1], note: fields[2] === '' ? null : fields[2] };
  }
  const parsed = parseListEntry(kind, input, at);
  return Array.isArray(parsed) ? parsed : parsed.entry;
}

/** A CSV header line (`value,expires_at,note`) is skipped when it is the first non-blank line. */
export function isCsvHeader(text: string): boolean {
  const fields = splitCsvLine(text.endsWith('\r') ? text.slice(0, -1) : text);
  return typeof fields !== 'string' && fields[0] === 'value';
}

/** RFC 4180 fields of one line; a reason when a quote is unbalanced. */
export function splitCsvLine(text: string): string[] | string {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (text.charCodeAt(i) === 34 /* " */) {
      let value = '';
      i++;
      for (;;) {
        const quote = text.indexOf('"', i);
        if (quote < 0) return 'has an unterminated quoted field';
        value += text.slice(i, quote);
        if (text.charCodeAt(quote + 1) === 34) {
          value += '"';
          i = quote + 2;
          continue;
        }
        i = quote + 1;
        break;
      }
      fields.push(value);
      if (i === text.length) return fields;
      if (text.charCodeAt(i) !== 44 /* , */) return 'has characters after a closing quote';
      i++;
    } else {
      const comma = text.indexOf(',', i);
      const end = comma < 0 ? text.length : comma;
      const value = text.slice(i, end);
      if (value.includes('"')) return 'has a quote inside an unquoted field';
      fields.push(value);
      if (comma < 0) return fields;
      i = comma + 1;
    }
  }
}

/** One entry as a CSV line (quoted only when needed), for export. */
export function csvLine(entry: ListEntry): string {
  return [entry.value, entry.expires_at ?? '', entry.note ?? ''].map(csvField).join(',');
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) || text.trim() !== text ? `"${text.replace(/"/g, '""')}"` : text;
}
