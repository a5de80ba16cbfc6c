// The decoding thread of `risk-engine replay` (replay-lines.ts starts it): splits the input into lines and decodes
// them while the main thread decides the batches before. Not a module to import.
import { parentPort, workerData } from 'node:worker_threads';
import { decodeEvent } from '@risk/domain/events/event-decoder';
import { readLineBatches, type NdjsonLine } from '@risk/infra/files/ndjson-lines';
import { LINE_BLANK, LINE_INVALID, LINE_UNDECODABLE, LINE_VALID, type WireBatch } from './replay-decoded-batch';
import type { FromDecoder, ToDecoder } from './replay-lines';

const port = parentPort!;
const { batchSize, batchesAhead, taken } = workerData as {
  readonly batchSize: number;
  readonly batchesAhead: number;
  /** One Int32: how many batches the main thread took (replay-lines.ts). */
  readonly taken: SharedArrayBuffer;
};
const takenCount = new Int32Array(taken);

/** Chunks received and not yet split; the main thread sends at most a few ahead. */
const inbox: (Uint8Array | undefined)[] = [];
let chunkArrived: (() => void) | undefined;
/** Batches sent; those not yet taken by the main thread are bounded, and so is the memory a slow pipeline makes this thread hold. */
let sent = 0;

port.on('message', (message: ToDecoder) => {
  inbox.push(message.kind === 'chunk' ? message.chunk : undefined);
  const wake = chunkArrived;
  chunkArrived = undefined;
  wake?.();
});

async function* chunks(): AsyncGenerator<Buffer> {
  for (;;) {
    while (inbox.length === 0) await new Promise<void>((resolve) => (chunkArrived = resolve));
    const chunk = inbox.shift();
    if (chunk === undefined) return;
    send({ kind: 'took' });
    yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
}

function send(message: FromDecoder, transfer?: ArrayBuffer[]): void {
  port.postMessage(message, transfer);
}

/** The same lines, in the same batches, as readLineBatches gives the main thread when it decodes alone. */
async function run(): Promise<void> {
  for await (const lines of readLineBatches(chunks(), batchSize)) {
    const batch = encode(lines);
    // Blocks this thread only: nothing else is due here until the main thread takes a batch.
    for (let seen = Atomics.load(takenCount, 0); sent - seen >= batchesAhead; seen = Atomics.load(takenCount, 0))
      Atomics.wait(takenCount, 0, seen, 1000);
    sent++;
    send({ kind: 'batch', batch }, [batch.kinds.buffer, batch.numbers.buffer, batch.bounds.buffer]);
  }
  send({ kind: 'end' });
}

/** Decodes each line as the pipeline would (no declared fields: replay-lines.ts uses this thread only then). */
function encode(lines: readonly NdjsonLine[]): WireBatch {
  const kinds = new Uint8Array(lines.length);
  const strings: string[] = [];
  const numbers: number[] = [];
  const texts: string[] = [];
  const bounds: number[] = [];
  const undecodable: { bytes: Uint8Array; reason: string }[] = [];
  let end = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (typeof line !== 'string') {
      kinds[i] = LINE_UNDECODABLE;
      undecodable.push({ bytes: line.bytes, reason: line.reason });
      continue;
    }
    // Blank lines carry no event (replay.command.ts skips them); the same test as there.
    if (line.length === 0 || line.trim().length === 0) {
      kinds[i] = LINE_BLANK;
      continue;
    }
    texts.push(line);
    end += line.length;
    bounds.push(end);
    const decoded = decodeEvent(line);
    if (!decoded.ok) {
      kinds[i] = LINE_INVALID;
      continue;
    }
    kinds[i] = LINE_VALID;
    const event = decoded.event;
    strings.push(event.event_id, event.user_id, event.event_type, event.ip_address ?? '', event.device_id ?? '', event.location_city ?? '');
    numbers.push(event.event_time, event.amount ?? NaN);
  }
  return {
    kinds,
    strings,
    numbers: Float64Array.from(numbers),
    text: texts.join(''),
    bounds: Uint32Array.from(bounds),
    undecodable,
  };
}

run().catch((error: unknown) => send({ kind: 'failed', message: error instanceof Error ? error.message : String(error) }));
