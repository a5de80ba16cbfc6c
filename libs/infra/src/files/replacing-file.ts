import { randomBytes } from 'node:crypto';
import { unlinkSync, type WriteStream } from 'node:fs';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export type ReplacingFileOpened = { readonly ok: true; readonly file: ReplacingFile } | { readonly ok: false; readonly message: string };
export type ReplacingFileCommitted = { readonly ok: true } | { readonly ok: false; readonly message: string };

/**
 * An output file that only ever appears complete. The data is written to a
 * temporary file in the target's folder (same file system, so the final
 * rename is atomic), synced by `finish` and renamed over the target by
 * `publish`; `discard`
 * removes the temporary file, so a failed or interrupted run leaves the
 * previous file exactly as it was.
 *
 * A target that exists and is not a regular file (`/dev/null`, a named pipe)
 * cannot be replaced by a rename: it is written to directly.
 */
export class ReplacingFile {
  private state: 'writing' | 'finished' | 'published' | 'discarded' = 'writing';

  private constructor(
    /** The path data finally lands at (symbolic links resolved, so a rename replaces the file, not the link). */
    readonly target: string,
    /** The temporary file, or undefined when writing directly to a special file. */
    readonly temporary: string | undefined,
    readonly stream: WriteStream,
    private readonly handle: FileHandle,
  ) {
    // Failures surface through `failure` and on the next write; an unhandled 'error' event would kill the process.
    stream.on('error', () => undefined);
  }

  /**
   * Opens the temporary file next to `target` (a resolved path whose folder
   * exists), with the mode of the file it will replace.
   */
  static async open(target: string, display: string): Promise<ReplacingFileOpened> {
    const existing = await stat(target).then(
      (stats) => stats,
      () => undefined,
    );
    if (existing !== undefined && !existing.isFile()) {
      const direct = await open(target, 'w').then(
        (handle) => handle,
        (error: NodeJS.ErrnoException) => error,
      );
      if (direct instanceof Error) return { ok: false, message: `cannot open ${display}: ${describeFsError(direct)}` };
      return { ok: true, file: new ReplacingFile(target, undefined, writeStreamOf(direct), direct) };
    }
    const temporary = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    // 'wx': never reuse a file someone else created under that name.
    const handle = await open(temporary, 'wx', existing === undefined ? 0o666 : existing.mode & 0o7777).then(
      (opened) => opened,
      (error: NodeJS.ErrnoException) => error,
    );
    if (handle instanceof Error) {
      return { ok: false, message: `cannot write ${display}: cannot create a file in ${dirname(target)}: ${describeFsError(handle)}` };
    }
    return { ok: true, file: new ReplacingFile(target, temporary, writeStreamOf(handle), handle) };
  }

  /** The write error the stream met, if any. */
  get failure(): Error | undefined {
    return this.stream.errored ?? undefined;
  }

  /** Flushes and syncs the data to disk and closes the file; `publish` then puts it in place. */
  async finish(display: string): Promise<ReplacingFileCommitted> {
    if (this.state !== 'writing') return { ok: false, message: `cannot write ${display}: the file was already closed` };
    const ended = await new Promise<Error | undefined>((resolve) => {
      if (this.stream.errored !== null) return resolve(this.stream.errored);
      this.stream.once('error', resolve);
      this.stream.end(() => resolve(undefined));
    });
    if (ended !== undefined) return this.fail(display, ended);
    // Durable before it replaces the previous file: a crash after the rename must not leave an empty file.
    const closed = await (this.temporary === undefined ? Promise.resolve() : this.handle.sync())
      .then(() => this.releaseStream())
      .then(() => this.handle.close())
      .then(
        () => undefined,
        (error: Error) => error,
      );
    if (closed !== undefined) return this.fail(display, closed);
    this.state = 'finished';
    return { ok: true };
  }

  /** Renames the finished temporary file over the target. */
  async publish(display: string): Promise<ReplacingFileCommitted> {
    if (this.state !== 'finished') return { ok: false, message: `cannot write ${display}: the file was not finished` };
    this.state = 'published';
    if (this.temporary === undefined) return { ok: true };
    const renamed = await rename(this.temporary, this.target).then(
      () => undefined,
      (error: Error) => error,
    );
    if (renamed === undefined) return { ok: true };
    await unlink(this.temporary).catch(() => undefined);
    return { ok: false, message: `cannot write ${display}: ${describeFsError(renamed)}` };
  }

  /**
   * Drops what was written: closes the stream and removes the temporary file
   * (nothing once published). Synchronous so that a signal handler can call
   * it; safe to call twice.
   */
  discard(): void {
    if (this.state === 'published' || this.state === 'discarded') return;
    const wasOpen = this.state === 'writing';
    this.state = 'discarded';
    this.stream.destroy();
    if (wasOpen) this.handle.close().catch(() => undefined);
    if (this.temporary === undefined) return;
    try {
      unlinkSync(this.temporary);
    } catch {
      // Already gone.
    }
  }

  /** A stream holds a reference on its FileHandle until it closes, and `handle.close()` waits for it. */
  private releaseStream(): Promise<void> {
    return new Promise((resolve) => {
      if (this.stream.closed) return resolve();
      this.stream.once('close', () => resolve());
      this.stream.destroy();
    });
  }

  private fail(display: string, error: Error): ReplacingFileCommitted {
    this.discard();
    return { ok: false, message: `cannot write ${display}: ${describeFsError(error)}` };
  }
}

/** The handle stays open after the stream ends, so that `finish` can sync it before closing. */
function writeStreamOf(handle: FileHandle): WriteStream {
  return handle.createWriteStream({ autoClose: false, highWaterMark: 1 << 20 });
}

/** `ENOSPC: no space left on device, write` → `no space left on device (ENOSPC)`. */
export function describeFsError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === undefined) return error.message;
  if (code === 'EPIPE') return 'the reader closed the pipe (EPIPE)';
  const text = error.message.replace(new RegExp(`^${code}: `), '').replace(/, \w+( '.*')?$/, '');
  return `${text} (${code})`;
}
