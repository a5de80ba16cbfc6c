import { PerformanceObserver, constants } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import {
  FeatureStore,
  RiskEngineError,
  type EntityReadOutcome,
  type FeatureValues,
  type RiskEvent,
  type FeatureDefinition,
  type StateInput,
  type StateOutcome,
} from '@risk/domain';

/** Retriable: HTTP answers 503 with Retry-After, the Kafka consumer pauses the partition and retries. */
export class MemoryPressureError extends RiskEngineError {
  constructor() {
    super('MEMORY_PRESSURE', 'the engine is near its heap limit; retry shortly', true);
  }
}

/** Share of the V8 heap limit above which intake is refused (the feature state alone is kept under MEMORY_BUDGET). */
export const PRESSURE_SHARE = 0.85;

/**
 * The last resort of the memory budget. Heap used right after a major
 * garbage collection is the live heap; when it stays above `limitBytes`
 * after the feature state has been evicted down to its budget (requests in
 * flight, a burst of large bodies), new batches are refused instead of
 * letting V8 abort the process. The current heap (live + garbage) is an
 * upper bound, so it clears the condition as soon as it drops below.
 */
export class HeapGuard {
  private liveAfterMajorGc = 0;
  private observer: PerformanceObserver | undefined;

  constructor(
    readonly limitBytes = getHeapStatistics().heap_size_limit * PRESSURE_SHARE,
    private readonly heapUsed: () => number = () => getHeapStatistics().used_heap_size,
  ) {}

  start(): this {
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
          this.liveAfterMajorGc = this.heapUsed();
        }
      }
    });
    this.observer.observe({ entryTypes: ['gc'] });
    return this;
  }

  /** Sets the live-heap sample directly (tests; a caller that just forced a GC). */
  recordLiveHeap(bytes: number): void {
    this.liveAfterMajorGc = bytes;
  }

  get overloaded(): boolean {
    return this.liveAfterMajorGc > this.limitBytes && this.heapUsed() > this.limitBytes;
  }

  stop(): void {
    this.observer?.disconnect();
  }
}

/** Refuses a batch, before any state changes, while the heap guard reports pressure. */
export class HeapGuardedFeatureStore extends FeatureStore {
  constructor(
    private readonly inner: FeatureStore,
    private readonly guard: HeapGuard,
    private readonly onRefused: (events: number) => void = () => undefined,
  ) {
    super();
  }

  apply(partition: string, inputs: readonly StateInput[], definitions?: readonly FeatureDefinition[]): Promise<StateOutcome[]> {
    if (this.guard.overloaded) {
      this.onRefused(inputs.length);
      return Promise.reject(new MemoryPressureError());
    }
    return this.inner.apply(partition, inputs, definitions);
  }

  /** Reads allocate little and change nothing: never refused. */
  override readEntity(entity: string, value: string): Promise<EntityReadOutcome> {
    return this.inner.readEntity(entity, value);
  }

  override preview(event: RiskEvent): Promise<FeatureValues | undefined> {
    return this.inner.preview(event);
  }

  async close(): Promise<void> {
    this.guard.stop();
    await this.inner.close();
  }
}
