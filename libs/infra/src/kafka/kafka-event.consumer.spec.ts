import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AlertPublisher,
  MemoryFeatureStore,
  RejectSink,
  RiskPipeline,
  RuleSetHolder,
  VerdictSink,
  type Alert,
  type Verdict,
} from '@risk/domain';
import { TEST_MAX_EVENT_TIME_SKEW_MS, TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import { LOGIN_COUNT_FEATURES as features, loginCountRule as rule } from '@test/support/login-count-rules';
import { KafkaEventConsumer, type KafkaConsumerMetrics } from './kafka-event.consumer';
import type { BatchControl, ConsumedBatch, GroupConsumerRun, KafkaClient, KafkaGroupConsumer } from './kafka.client';

class Verdicts extends VerdictSink {
  readonly written: Verdict[] = [];
  /** Runs at the next write, once (e.g. the partition is revoked while the verdicts are written). */
  onWrite: (() => void) | undefined;
  write(verdicts: readonly Verdict[]): Promise<void> {
    const hook = this.onWrite;
    this.onWrite = undefined;
    hook?.();
    this.written.push(...verdicts);
    return Promise.resolve();
  }
}
class Quiet extends AlertPublisher {
  publish(_alerts: readonly Alert[]): Promise<void> {
    return Promise.resolve();
  }
}
class NoRejects extends RejectSink {
  reject(): Promise<void> {
    return Promise.resolve();
  }
}

/** Rule hits as `risk_engine_rule_hits_total` would count them. */
class HitTally implements KafkaConsumerMetrics {
  readonly hits = new Map<string, number>();
  recordBatch(): void {}
  recordLatency(): void {}
  setConsumerLag(): void {}
  recordRuleHits(verdicts: readonly Verdict[]): void {
    for (const verdict of verdicts) for (const fired of verdict.rules) this.hits.set(fired.id, (this.hits.get(fired.id) ?? 0) + 1);
  }
}

const T0 = Date.UTC(2026, 10, 20, 10);

/** Three logins of one user: `medium` fires on the second and third, `high` on the third. */
const batch: ConsumedBatch = {
  topic: 'user-events',
  partition: 0,
  highWatermark: '3',
  messages: [0, 1, 2].map((i) => ({
    key: Buffer.from('u'),
    value: Buffer.from(JSON.stringify({ event_id: `e-${i}`, user_id: 'u', event_type: 'login', event_time: T0 + i * 60_000 })),
    offset: String(i),
    timestamp: String(T0 + i * 60_000),
  })),
};

/** A consumer over a scripted group: the test hands it batches as kafkajs would (`eachBatch`). */
async function setup(): Promise<{ consumer: KafkaEventConsumer; run: GroupConsumerRun; verdicts: Verdicts; metrics: HitTally }> {
  const verdicts = new Verdicts();
  const metrics = new HitTally();
  const pipeline = new RiskPipeline(
    new MemoryFeatureStore(features, TEST_STATE_SETTINGS),
    new RuleSetHolder({ version: 1, rules: [rule('medium', 'MEDIUM', 2), rule('high', 'HIGH', 3)] }),
    { verdicts, alerts: new Quiet(), rejects: new NoRejects() },
    { alertThreshold: 'MEDIUM', maxEventTimeSkewMs: TEST_MAX_EVENT_TIME_SKEW_MS, now: () => T0 + 30 * 60_000 },
  );
  let run: GroupConsumerRun | undefined;
  const group = {
    start: (r: GroupConsumerRun) => {
      run = r;
      return Promise.resolve();
    },
    stop: () => Promise.resolve(),
  } as unknown as KafkaGroupConsumer;
  const client = { createConsumer: () => group } as unknown as KafkaClient;
  const consumer = new KafkaEventConsumer(
    { client, topic: 'user-events', groupId: 'g', maxBatchEvents: 10, maxBytesPerPartition: 1 << 20, maxWaitTimeMs: 10, metrics },
    pipeline,
  );
  await consumer.start();
  return { consumer, run: run!, verdicts, metrics };
}

function control(overrides: Partial<BatchControl> & { stale?: { value: boolean } } = {}): BatchControl & { committed: string[] } {
  const committed: string[] = [];
  return {
    committed,
    isRunning: () => true,
    isStale: () => overrides.stale?.value ?? false,
    pause: () => () => undefined,
    heartbeat: overrides.heartbeat ?? (() => Promise.resolve()),
    commit: (offset) => {
      committed.push(offset);
      return Promise.resolve();
    },
  };
}

describe('KafkaEventConsumer: rule hits (risk_engine_rule_hits_total) count each event once', () => {
  it('counts a chunk redelivered after it was abandoned uncommitted once, when it is committed', async () => {
    const { consumer, run, verdicts, metrics } = await setup();
    // First delivery: the partition is revoked while its verdicts are written, so the chunk is abandoned uncommitted.
    const stale = { value: false };
    verdicts.onWrite = () => (stale.value = true);
    const first = control({ stale });
    await run.eachBatch(batch, first);
    assert.deepEqual(first.committed, []);
    assert.equal(consumer.stats().abandoned, 1);
    assert.deepEqual([...metrics.hits], [], 'nothing counted for an uncommitted chunk');

    // Kafka redelivers it: the store returns the first outcomes, the verdicts are decided again identically.
    const again = control();
    await run.eachBatch(batch, again);
    assert.deepEqual(again.committed, ['2']);
    const strip = (v: Verdict) => ({ ...v, decided_at: '' });
    assert.deepEqual(verdicts.written.slice(3).map(strip), verdicts.written.slice(0, 3).map(strip));
    assert.deepEqual(Object.fromEntries(metrics.hits), { medium: 2, high: 1 });
  });

  it('counts a committed chunk even when the heartbeat after the commit reports a rebalance', async () => {
    const { consumer, run, metrics } = await setup();
    const rebalancing = control({ heartbeat: () => Promise.reject(new Error('The group is rebalancing, so a rejoin is needed')) });
    await assert.rejects(run.eachBatch(batch, rebalancing), /rebalancing/);
    assert.deepEqual(rebalancing.committed, ['2'], 'committed: the next owner starts after it, nothing is redelivered');
    assert.equal(consumer.stats().accepted, 3);
    assert.deepEqual(Object.fromEntries(metrics.hits), { medium: 2, high: 1 });
  });
});
