import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { FeatureStore, RiskEngineError, type StateInput, type StateOutcome } from '@risk/domain';
import { HeapGuard, HeapGuardedFeatureStore } from './heap-guard';

class CountingStore extends FeatureStore {
  applied = 0;
  apply(_partition: string, inputs: readonly StateInput[]): Promise<StateOutcome[]> {
    this.applied += inputs.length;
    return Promise.resolve(inputs.map(() => ({ kind: 'duplicate' }) as const));
  }
  async close(): Promise<void> {}
}

const input: StateInput = {
  event: {
    event_id: 'e',
    user_id: 'u',
    event_type: 'login',
    event_time: 0,
    ip_address: undefined,
    device_id: undefined,
    location_city: undefined,
    amount: undefined,
  },
  messageId: undefined,
};

describe('HeapGuardedFeatureStore', () => {
  it('refuses a batch with a retriable error, before any state change, while the live heap is above the limit', async () => {
    let heap = 50;
    const guard = new HeapGuard(100, () => heap);
    const inner = new CountingStore();
    let refused = 0;
    const store = new HeapGuardedFeatureStore(inner, guard, (n) => (refused += n));
    await store.apply('p', [input]);
    guard.recordLiveHeap(120);
    heap = 130;
    await assert.rejects(store.apply('p', [input, input]), (error: unknown) => {
      assert.ok(error instanceof RiskEngineError);
      assert.equal(error.code, 'MEMORY_PRESSURE');
      assert.equal(error.retriable, true, 'HTTP answers 503 with Retry-After, Kafka pauses and retries');
      return true;
    });
    assert.equal(inner.applied, 1);
    assert.equal(refused, 2);
    // The current heap (live + garbage) falling below the limit clears the condition at once.
    heap = 90;
    await store.apply('p', [input]);
    assert.equal(inner.applied, 2);
  });
});
