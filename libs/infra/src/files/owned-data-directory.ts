import { RiskEngineError } from '@risk/domain';

/**
 * What every DATA_DIR store shares. One process owns a data directory: its
 * store reads the files once (a failed read is retried by the next call),
 * serialises its writes in memory rather than locking on disk, and tells its
 * own subscribers about each write (there is no other writer to watch for).
 *
 * Another process may only read it (`reader`: `backtest --data-dir` reading
 * a live engine's files): it writes nothing and cleans nothing up, since
 * what looks left over (a `.deleted-*` folder) may be the owner's work in
 * progress. Its store checks `owner` before any cleanup; `exclusive` (the
 * writes) refuses.
 */
export class OwnedDataDirectory<Change> {
  private loaded: Promise<void> | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(change: Change) => void>();
  /** False for a reader. */
  readonly owner: boolean;

  constructor(
    private readonly readAll: () => Promise<void>,
    options: { readonly reader?: boolean } = {},
  ) {
    this.owner = options.reader !== true;
  }

  /** Resolves once the files have been read into memory. */
  load(): Promise<void> {
    this.loaded ??= this.readAll().catch((error: unknown) => {
      this.loaded = undefined;
      throw error;
    });
    return this.loaded;
  }

  /** Runs `task` after the load and after every write submitted before it. */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    if (!this.owner)
      return Promise.reject(new RiskEngineError('DATA_DIR_READ_ONLY', 'this data directory is open for reading only', false));
    const run = this.tail.then(() => this.load()).then(task);
    this.tail = run.catch(() => undefined);
    return run;
  }

  subscribe(listener: (change: Change) => void): Promise<() => Promise<void>> {
    this.listeners.add(listener);
    return Promise.resolve(() => {
      this.listeners.delete(listener);
      return Promise.resolve();
    });
  }

  notify(change: Change): void {
    for (const listener of this.listeners) listener(change);
  }

  /** Drops the subscribers and waits for the writes under way. */
  async close(): Promise<void> {
    this.listeners.clear();
    await this.tail.catch(() => undefined);
  }
}
