import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_MAX_EVENT_TIME_SKEW_MS, TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import {
  knownFacts,
  loadFeatureFile,
  loadRuleFiles,
  MemoryFeatureStore,
  RISK_RANK,
  RiskPipeline,
  RuleSetHolder,
  VerdictSink,
  type AlertPublisher,
  type FeatureStore,
  type RejectSink,
  type Verdict,
} from '@risk/domain';
import { KafkaClient, type KafkaLogger } from '@risk/infra/kafka/kafka.client';

/** Shared by the Kafka integration tests, the crash worker and nothing else. */

export const T0 = Date.parse('2026-11-20T10:00:00.000Z');

export function rulesDir(): string {
  return join(process.cwd(), 'rules');
}

export function newFeatureStore(): MemoryFeatureStore {
  return new MemoryFeatureStore(loadFeatureFile(rulesDir()), TEST_STATE_SETTINGS);
}

export function buildPipeline(
  featureStore: FeatureStore,
  sinks: { verdicts: VerdictSink; alerts: AlertPublisher; rejects: RejectSink },
): RiskPipeline {
  const defs = loadFeatureFile(rulesDir());
  const rules = loadRuleFiles(rulesDir(), knownFacts(defs));
  return new RiskPipeline(featureStore, new RuleSetHolder({ version: 1, rules }), sinks, {
    alertThreshold: 'MEDIUM',
    maxEventTimeSkewMs: TEST_MAX_EVENT_TIME_SKEW_MS,
  });
}

/** Logs only errors to stderr: kafkajs warnings during planned rebalances would drown the test output. */
export const quietLogger: KafkaLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message, fields) => process.stderr.write(JSON.stringify({ level: 'error', msg: message, ...fields }) + '\n'),
};

export function testClient(brokers: readonly string[], clientId: string): KafkaClient {
  return new KafkaClient({ brokers, clientId, logger: quietLogger, retry: { retries: 3, initialRetryTimeMs: 50, maxRetryTimeMs: 500 } });
}

/** Keeps every write, so a test can tell an upsert of the same verdict from a second, different decision. */
export class RecordingVerdictSink extends VerdictSink {
  readonly writes: { instance: string; verdict: Verdict }[] = [];
  private readonly ids = new Set<string>();

  constructor(
    private readonly instance = 'main',
    private readonly delayMs = 0,
    /** Awaited before each write: lets a test hold an instance mid-stream. */
    private readonly beforeWrite?: () => Promise<void>,
  ) {
    super();
  }

  /** The same store seen by another consumer instance (shared, like Elasticsearch). */
  as(instance: string, delayMs = this.delayMs, beforeWrite?: () => Promise<void>): RecordingVerdictSink {
    const view = new RecordingVerdictSink(instance, delayMs, beforeWrite);
    (view as unknown as { writes: unknown }).writes = this.writes;
    (view as unknown as { ids: unknown }).ids = this.ids;
    return view;
  }

  async write(verdicts: readonly Verdict[]): Promise<void> {
    if (this.beforeWrite !== undefined) await this.beforeWrite();
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    for (const verdict of verdicts) {
      this.writes.push({ instance: this.instance, verdict });
      this.ids.add(verdict.event_id);
    }
  }

  get distinctIds(): number {
    return this.ids.size;
  }
}

/** A verdict without its decision timestamp: equal for a redelivered message decided again. */
export function verdictContent(verdict: Verdict): string {
  return JSON.stringify({ ...verdict, decided_at: undefined });
}

/** event_ids whose recorded verdicts differ in content (a real double decision). */
export function conflictingVerdicts(verdicts: Iterable<Verdict>): string[] {
  const seen = new Map<string, string>();
  const conflicts = new Set<string>();
  for (const verdict of verdicts) {
    const content = verdictContent(verdict);
    const before = seen.get(verdict.event_id);
    if (before === undefined) seen.set(verdict.event_id, content);
    else if (before !== content) conflicts.add(verdict.event_id);
  }
  return [...conflicts];
}

export function isAlertDue(verdict: Verdict): boolean {
  return RISK_RANK[verdict.risk_level] >= RISK_RANK.MEDIUM;
}

export interface TestEvent {
  readonly event_id: string;
  readonly user_id: string;
  readonly event_type: string;
  readonly event_time: string;
  readonly device_id?: string;
  readonly location_city?: string;
  readonly ip_address?: string;
  readonly amount?: number;
}

/**
 * Per user: `logins` logins one minute apart on one device and city (from the
 * 6th on, login-burst fires: MEDIUM), then for every third user a login from
 * a new device in a new city (device-and-city-change: HIGH).
 */
export function loginStorm(prefix: string, users: number, logins: number): TestEvent[] {
  const events: TestEvent[] = [];
  for (let u = 0; u < users; u++) {
    const user = `${prefix}-u${u}`;
    for (let i = 0; i < logins; i++) {
      events.push({
        event_id: `${prefix}-${u}-${i}`,
        user_id: user,
        event_type: 'login',
        event_time: new Date(T0 + i * 60_000).toISOString(),
        device_id: `${user}-phone`,
        location_city: 'Paris',
        ip_address: `10.0.${u % 250}.${(i % 250) + 1}`,
      });
    }
    if (u % 3 === 0) {
      events.push({
        event_id: `${prefix}-${u}-ato`,
        user_id: user,
        event_type: 'login',
        event_time: new Date(T0 + logins * 60_000).toISOString(),
        device_id: `${user}-laptop`,
        location_city: 'Lyon',
      });
    }
  }
  return events;
}

/** Round-robin over users, keeping each user's own order, like concurrent traffic. */
export function interleave(events: readonly TestEvent[]): TestEvent[] {
  const byUser = new Map<string, TestEvent[]>();
  for (const e of events) {
    const list = byUser.get(e.user_id) ?? [];
    list.push(e);
    byUser.set(e.user_id, list);
  }
  const queues = [...byUser.values()];
  const out: TestEvent[] = [];
  for (let i = 0; out.length < events.length; i++) for (const q of queues) if (i < q.length) out.push(q[i]);
  return out;
}

export async function produceEvents(client: KafkaClient, topic: string, events: readonly TestEvent[]): Promise<void> {
  const producer = client.producer();
  for (let i = 0; i < events.length; i += 200) {
    await producer.send(
      topic,
      events.slice(i, i + 200).map((e) => ({ key: e.user_id, value: JSON.stringify(e) })),
    );
  }
}

export interface ReadRecord {
  readonly key: string | null;
  readonly value: Buffer;
  readonly headers: Record<string, string>;
  readonly partition: number;
  readonly offset: string;
}

/** Reads a topic from the beginning with a throw-away group until `count` records arrived. */
export async function readTopic(client: KafkaClient, topic: string, count: number, timeoutMs = 30_000): Promise<ReadRecord[]> {
  const records: ReadRecord[] = [];
  const consumer = client.createConsumer({
    groupId: `reader-${topic}-${process.pid}-${Date.now()}`,
    maxWaitTimeMs: 50,
    maxBytesPerPartition: 1024 * 1024,
    heartbeatIntervalMs: 500,
  });
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  try {
    await consumer.start({
      topic,
      fromBeginning: true,
      eachBatch: async (batch, control) => {
        for (const message of batch.messages) {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
          records.push({
            key: message.key?.toString() ?? null,
            value: message.value ?? Buffer.alloc(0),
            headers,
            partition: batch.partition,
            offset: message.offset,
          });
        }
        if (records.length >= count) done();
        // Marks the batch processed, or the next fetch would return it again.
        const last = batch.messages[batch.messages.length - 1];
        if (last !== undefined) await control.commit(last.offset);
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    return records;
  } finally {
    await consumer.stop();
  }
}

/** True when `groupId` has committed every partition of `topic` up to its high watermark (empty partitions need no commit). */
export async function allCommitted(client: KafkaClient, groupId: string, topic: string): Promise<boolean> {
  const [committed, high] = await Promise.all([client.committedOffsets(groupId, topic), client.highWatermarks(topic)]);
  return [...high].every(([partition, offset]) => offset === '0' || committed.get(partition) === offset);
}

export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function loadAlertSchema(): object {
  return JSON.parse(readFileSync(join(process.cwd(), 'schemas', 'alert.schema.json'), 'utf8')) as object;
}
