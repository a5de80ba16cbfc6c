import { isUtf8 } from 'node:buffer';
import type { Writable } from 'node:stream';
import { AlertPublisher, RejectSink, VerdictSink, type Alert, type RejectedMessage, type Verdict } from '@risk/domain';

/**
 * Writes a chunk and waits for the stream to drain when its buffer is full.
 * Rejects when the stream fails (disk full, closed pipe): a stream in error
 * never emits 'drain', so waiting for it alone would hang the writer.
 */
export async function writeChunk(out: Writable, chunk: string): Promise<void> {
  if (chunk.length === 0) return;
  if (out.errored !== null) throw out.errored;
  if (out.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const settle = (error?: Error | null): void => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = (): void => settle();
    const onError = (error: Error): void => settle(error);
    const onClose = (): void => settle(out.errored ?? new Error('the output stream closed before its data was written'));
    out.once('drain', onDrain);
    out.once('error', onError);
    out.once('close', onClose);
  });
}

/** Replay output: one verdict per line, in input order. */
export class NdjsonVerdictSink extends VerdictSink {
  written = 0;
  constructor(private readonly out: Writable) {
    super();
  }
  async write(verdicts: readonly Verdict[]): Promise<void> {
    let chunk = '';
    for (const verdict of verdicts) chunk += JSON.stringify(verdict) + '\n';
    this.written += verdicts.length;
    await writeChunk(this.out, chunk);
  }
}

/**
 * Replay rejects file: `{"line", "errors", "raw"}` per rejected line. A line
 * whose bytes are not valid UTF-8 has no faithful JSON string, so it also
 * carries `raw_base64`, the exact bytes (`raw` then shows U+FFFD for them).
 */
export class NdjsonRejectSink extends RejectSink {
  rejected = 0;
  constructor(private readonly out: Writable | undefined) {
    super();
  }
  async reject(messages: readonly RejectedMessage[]): Promise<void> {
    this.rejected += messages.length;
    if (this.out === undefined) return;
    let chunk = '';
    for (const m of messages) {
      chunk += JSON.stringify(rejectRecord(m)) + '\n';
    }
    await writeChunk(this.out, chunk);
  }
}

function rejectRecord(m: RejectedMessage): {
  line: number | undefined;
  errors: RejectedMessage['errors'];
  raw: string;
  raw_base64?: string;
} {
  if (typeof m.raw === 'string') return { line: m.source.line, errors: m.errors, raw: m.raw };
  const record = { line: m.source.line, errors: m.errors, raw: m.raw.toString('utf8') };
  return isUtf8(m.raw) ? record : { ...record, raw_base64: m.raw.toString('base64') };
}

/** Counts alerts (a replay raises no real alerts; they are visible in the verdicts). */
export class CountingAlertPublisher extends AlertPublisher {
  published = 0;
  publish(alerts: readonly Alert[]): Promise<void> {
    this.published += alerts.length;
    return Promise.resolve();
  }
}
