import type { Writable } from 'node:stream';
import { AlertPublisher, RejectSink, VerdictSink, type Alert, type RejectedMessage, type Verdict } from '@risk/domain';

/** Writes a chunk and waits for the stream to drain when its buffer is full. */
export async function writeChunk(out: Writable, chunk: string): Promise<void> {
  if (chunk.length === 0) return;
  if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
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

/** Replay rejects file: `{"line", "errors", "raw"}` per rejected line. */
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
      chunk +=
        JSON.stringify({ line: m.source.line, errors: m.errors, raw: typeof m.raw === 'string' ? m.raw : m.raw.toString('utf8') }) + '\n';
    }
    await writeChunk(this.out, chunk);
  }
}

/** Counts alerts (a replay raises no real alerts; they are visible in the verdicts). */
export class CountingAlertPublisher extends AlertPublisher {
  published = 0;
  publish(alerts: readonly Alert[]): Promise<void> {
    this.published += alerts.length;
    return Promise.resolve();
  }
}
