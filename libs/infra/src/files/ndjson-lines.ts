import type { Readable } from 'node:stream';

/**
 * Splits a byte stream into lines without readline's per-line event
 * overhead; yields arrays of lines (1-based numbering is the caller's).
 * A trailing line without a newline is yielded too; '\r\n' is accepted.
 */
export async function* readLineBatches(input: Readable, batchSize: number): AsyncGenerator<string[]> {
  let rest = '';
  let batch: string[] = [];
  input.setEncoding('utf8');
  for await (const chunk of input as AsyncIterable<string>) {
    const text = rest + chunk;
    let start = 0;
    for (;;) {
      const end = text.indexOf('\n', start);
      if (end === -1) break;
      batch.push(text.charCodeAt(end - 1) === 13 ? text.slice(start, end - 1) : text.slice(start, end));
      start = end + 1;
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
    rest = text.slice(start);
  }
  if (rest.length > 0) batch.push(rest.endsWith('\r') ? rest.slice(0, -1) : rest);
  if (batch.length > 0) yield batch;
}
