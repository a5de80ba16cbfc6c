import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { readLineBatches } from '@risk/infra/files/ndjson-lines';
import { linesOf, type ReplayLine, type WireBatch } from './replay-decoded-batch';

/** Messages to the decoding thread: the input's chunks and its end (the batches taken are counted in shared memory). */
export type ToDecoder = { readonly kind: 'chunk'; readonly chunk: Uint8Array } | { readonly kind: 'end' };
/** Messages from it: a chunk taken off its inbox, a decoded batch, the end of the input, or its own failure. */
export type FromDecoder =
  | { readonly kind: 'took' }
  | { readonly kind: 'batch'; readonly batch: WireBatch }
  | { readonly kind: 'end' }
  | { readonly kind: 'failed'; readonly message: string };

/** The input's lines in batches, in order; `next` rejects with the input's error when it cannot be read. */
export interface LineBatches {
  next(): Promise<IteratorResult<ReplayLine[], undefined>>;
  /** Stops the decoding thread, if any; the caller destroys the input. */
  close(): void;
}

/**
 * The replay's input, split into batches of `batchSize` lines. With
 * `decodingThread`, a worker thread splits and decodes the lines (SPEC §1
 * validation, `decodeEvent`) while this thread decides the batches before,
 * so a replay uses a second core; the batches, the line numbers and every
 * line's outcome are the same as when this thread does it all. Only for
 * inputs whose events carry no declared fields (the worker sends SPEC §1's
 * fields only).
 */
export function lineBatches(input: Readable, batchSize: number, decodingThread: boolean): LineBatches {
  if (!decodingThread) {
    const lines = readLineBatches(input, batchSize)[Symbol.asyncIterator]();
    return { next: () => lines.next() as Promise<IteratorResult<ReplayLine[], undefined>>, close: () => undefined };
  }
  return new DecodingThread(input, batchSize);
}

/** Input chunks (1 MiB from a file) sent before the decoder took them: enough to keep it busy, bounded. */
const CHUNKS_AHEAD = 3;
/** Decoded batches not yet taken by the pipeline: a slow pipeline does not let decoded events pile up. */
const BATCHES_AHEAD = 2;
const END = Symbol('end');

class DecodingThread implements LineBatches {
  private readonly worker: Worker;
  /** Decoded batches in line order, then END, or the error that stopped the input or the decoder. */
  private readonly ready: (WireBatch | typeof END | Error)[] = [];
  private arrived: (() => void) | undefined;
  private chunksAhead = 0;
  private chunkTaken: (() => void) | undefined;
  private nextLine = 1;
  private closed = false;
  /** Batches taken, for the decoder's bound: a counter, as a message per batch cost ~1 ms each (under load) to post. */
  private readonly taken = new Int32Array(new SharedArrayBuffer(4));

  constructor(
    private readonly input: Readable,
    batchSize: number,
  ) {
    this.worker = new Worker(join(__dirname, 'replay-decode.worker.js'), {
      workerData: { batchSize, batchesAhead: BATCHES_AHEAD, taken: this.taken.buffer },
    });
    this.worker.on('message', (message: FromDecoder) => this.receive(message));
    this.worker.on('error', (error: Error) => this.queue(new Error(`the decoding thread failed: ${error.message}`)));
    this.worker.on('exit', (code) => {
      if (!this.closed) this.queue(new Error(`the decoding thread stopped (exit code ${code})`));
    });
    void this.pump();
  }

  async next(): Promise<IteratorResult<ReplayLine[], undefined>> {
    while (this.ready.length === 0) await new Promise<void>((resolve) => (this.arrived = resolve));
    const item = this.ready[0];
    if (item instanceof Error) throw item;
    if (item === END) return { done: true, value: undefined };
    this.ready.shift();
    Atomics.add(this.taken, 0, 1);
    Atomics.notify(this.taken, 0);
    const lines = linesOf(item, this.nextLine);
    this.nextLine += lines.length;
    return { done: false, value: lines };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.worker.terminate();
    this.wakePump();
  }

  /** Reads the input here (stdin included) and hands its chunks over, a few at a time. */
  private async pump(): Promise<void> {
    try {
      for await (const chunk of this.input as AsyncIterable<Buffer | string>) {
        if (this.closed) return;
        const bytes = ownedBytes(chunk);
        // Moved, not copied: a structured clone of 1 MiB costs this thread several milliseconds (fresh memory).
        this.worker.postMessage({ kind: 'chunk', chunk: bytes } satisfies ToDecoder, [bytes.buffer]);
        this.chunksAhead++;
        while (this.chunksAhead >= CHUNKS_AHEAD && !this.closed) await new Promise<void>((resolve) => (this.chunkTaken = resolve));
      }
      if (!this.closed) this.worker.postMessage({ kind: 'end' } satisfies ToDecoder);
    } catch (error) {
      this.queue(error as Error);
    }
  }

  private receive(message: FromDecoder): void {
    if (message.kind === 'took') {
      this.chunksAhead--;
      this.wakePump();
    } else if (message.kind === 'batch') this.queue(message.batch);
    else if (message.kind === 'end') this.queue(END);
    else this.queue(new Error(`the decoding thread failed: ${message.message}`));
  }

  private queue(item: WireBatch | typeof END | Error): void {
    // The first error or end is final; a later one (the thread's exit after a failure) adds nothing.
    const last = this.ready[this.ready.length - 1];
    if (last instanceof Error || last === END) return;
    this.ready.push(item);
    const wake = this.arrived;
    this.arrived = undefined;
    wake?.();
  }

  private wakePump(): void {
    const wake = this.chunkTaken;
    this.chunkTaken = undefined;
    wake?.();
  }
}

/**
 * The chunk as bytes that own their whole ArrayBuffer, so that moving it to
 * the decoding thread detaches nothing else: a file stream's chunks already
 * do (one allocation per read); a slice of shared memory (Buffer's pool) or
 * a string is copied.
 */
function ownedBytes(chunk: Buffer | string): Uint8Array {
  if (typeof chunk === 'string') return new Uint8Array(Buffer.from(chunk, 'utf8'));
  if (chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.byteLength > Buffer.poolSize) return chunk;
  return new Uint8Array(chunk);
}
