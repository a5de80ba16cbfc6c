import { referenceRulesEngine } from '@test/support/reference-rules-engine';
import {
  decodeEvent,
  MemoryFeatureStore,
  parseFeatureDefinitions,
  RiskPipeline,
  RuleSetHolder,
  factsOf,
  type FeatureDefinition,
  type InboundMessage,
  type RuleDefinition,
  type RiskEvent,
  type FeatureValues,
} from '@risk/domain';
import { CountingAlertPublisher, NdjsonRejectSink } from '@risk/infra/files/ndjson-file.sinks';
import { VerdictSink, type Verdict } from '@risk/domain';
import { fmt, line, summarize } from './stats';
import { ENGINE_DEFAULTS } from './engine-defaults';

/** Serialises every verdict as the replay would, then drops it: measures the engine, not the disk. */
class SerializingSink extends VerdictSink {
  bytes = 0;
  write(verdicts: readonly Verdict[]): Promise<void> {
    for (const v of verdicts) this.bytes += JSON.stringify(v).length + 1;
    return Promise.resolve();
  }
}

export interface MemoryBenchResult {
  eventsPerSec: number;
  p50Us: number;
  p99Us: number;
  decided: { event: RiskEvent; features: FeatureValues }[];
  /** Verdicts of the first 100,000 events, for the sink benchmark. */
  verdicts: Verdict[];
}

/** Whole pipeline (decode, state, 50 compiled rules, verdict JSON) over the stream, batches of 1,000. */
export async function benchMemoryPipeline(
  lines: readonly string[],
  features: readonly FeatureDefinition[],
  rules: RuleDefinition[],
): Promise<MemoryBenchResult> {
  const run = async (batchSize: number, timeEach: boolean): Promise<{ seconds: number; samples: number[]; pipeline: RiskPipeline }> => {
    const store = new MemoryFeatureStore(features, ENGINE_DEFAULTS.state);
    const pipeline = new RiskPipeline(
      store,
      // As the service builds it: the version's features go to the store with every batch (docs/features.md).
      new RuleSetHolder({ version: 1, rules }, [], undefined, features),
      { verdicts: new SerializingSink(), alerts: new CountingAlertPublisher(), rejects: new NdjsonRejectSink(undefined) },
      { alertThreshold: 'MEDIUM', maxEventTimeSkewMs: ENGINE_DEFAULTS.maxEventTimeSkewMs },
    );
    const samples: number[] = [];
    const started = performance.now();
    for (let i = 0; i < lines.length; i += batchSize) {
      const messages: InboundMessage[] = [];
      for (let j = i; j < Math.min(i + batchSize, lines.length); j++) messages.push({ value: lines[j], source: { line: j + 1 } });
      const t0 = timeEach ? performance.now() : 0;
      await pipeline.process('bench', messages);
      if (timeEach) samples.push((performance.now() - t0) / messages.length);
    }
    return { seconds: (performance.now() - started) / 1000, samples, pipeline };
  };
  await run(1000, false); // warm-up: JIT and allocation sites
  const throughput = await run(1000, false);
  const latency = await run(1, true);
  const { p50, p99 } = summarize(latency.samples);

  // Facts for the reference comparison, from one more decided pass.
  const store = new MemoryFeatureStore(features, ENGINE_DEFAULTS.state);
  const decided: MemoryBenchResult['decided'] = [];
  const verdicts: Verdict[] = [];
  const pipeline = new RiskPipeline(
    store,
    new RuleSetHolder({ version: 1, rules }),
    { verdicts: new SerializingSink(), alerts: new CountingAlertPublisher(), rejects: new NdjsonRejectSink(undefined) },
    { alertThreshold: 'MEDIUM', maxEventTimeSkewMs: ENGINE_DEFAULTS.maxEventTimeSkewMs },
  );
  for (let i = 0; i < Math.min(lines.length, 100_000); i += 1000) {
    const batch = await pipeline.decide(
      'bench',
      lines.slice(i, i + 1000).map((value) => ({ value, source: {} })),
    );
    verdicts.push(...batch.verdicts);
    if (i >= 20_000) continue;
    // The reference sees the same facts as the compiled rules: the decoded event and its features.
    const events = new Map<string, RiskEvent>();
    for (const line of lines.slice(i, i + 1000)) {
      const decoded = decodeEvent(line);
      if (decoded.ok && !events.has(decoded.event.event_id)) events.set(decoded.event.event_id, decoded.event);
    }
    for (const v of batch.verdicts) decided.push({ event: events.get(v.event_id)!, features: v.features });
  }
  return { eventsPerSec: lines.length / throughput.seconds, p50Us: p50 * 1000, p99Us: p99 * 1000, decided, verdicts };
}

/** json-rules-engine evaluating the same rules on the same facts (SPEC semantics: absent fact → false). */
export async function benchJsonRulesEngine(
  rules: readonly RuleDefinition[],
  decided: MemoryBenchResult['decided'],
  limit: number,
): Promise<{ evaluationsPerSec: number }> {
  const engine = referenceRulesEngine();
  for (const rule of rules) {
    if (rule.enabled) engine.addRule({ name: rule.id, priority: rule.priority, conditions: rule.conditions as never, event: rule.event });
  }
  const sample = decided.slice(0, limit);
  const started = performance.now();
  for (const d of sample) await engine.run(factsOf(d.event, d.features) as Record<string, unknown>);
  return { evaluationsPerSec: sample.length / ((performance.now() - started) / 1000) };
}

export function printMemory(result: MemoryBenchResult, reference: { evaluationsPerSec: number }, events: number, ruleCount: number): void {
  process.stdout.write(
    `\nin-memory pipeline: ${fmt(events)} events, ${ruleCount} rules (decode → state → compiled rules → verdict JSON)\n`,
  );
  line('throughput', `${fmt(result.eventsPerSec)} events/s   (target ≥ 100,000)`);
  line('per-event latency (batch of 1)', `p50 ${fmt(result.p50Us, 1)} µs   p99 ${fmt(result.p99Us, 1)} µs`);
  line('json-rules-engine, same rules and facts', `${fmt(reference.evaluationsPerSec)} evaluations/s (rules only)`);
  line('ratio (whole pipeline / jre rules only)', `${fmt(result.eventsPerSec / reference.evaluationsPerSec, 1)}×`);
}

/** The default features plus eleven over five entity keys (user, IP, device, city, user+device): issue 13's wide set. */
export function wideFeatures(defaults: readonly FeatureDefinition[]): FeatureDefinition[] {
  const extra = parseFeatureDefinitions({
    features: [
      { name: 'ip_events_1h', entity: 'ip_address', aggregate: 'count', window: '1h' },
      { name: 'ip_users_24h', entity: 'ip_address', aggregate: 'distinct', field: 'user_id', window: '24h' },
      { name: 'ip_payments_1h', entity: 'ip_address', aggregate: 'sum', field: 'amount', event_types: ['payment'], window: '1h' },
      { name: 'device_events_1h', entity: 'device_id', aggregate: 'count', window: '1h' },
      { name: 'device_cities_24h', entity: 'device_id', aggregate: 'distinct', field: 'location_city', window: '24h' },
      { name: 'device_max_amount_24h', entity: 'device_id', aggregate: 'max', field: 'amount', window: '24h' },
      { name: 'city_events_10m', entity: 'location_city', aggregate: 'count', window: '10m' },
      { name: 'city_users_1h', entity: 'location_city', aggregate: 'distinct', field: 'user_id', window: '1h' },
      { name: 'user_device_events_24h', entity: ['user_id', 'device_id'], aggregate: 'count', window: '24h' },
      { name: 'user_device_since_last', entity: ['user_id', 'device_id'], aggregate: 'since_last', window: '24h' },
      { name: 'user_avg_payment_24h', entity: 'user_id', aggregate: 'avg', field: 'amount', event_types: ['payment'], window: '24h' },
    ],
  });
  return [...defaults, ...extra];
}

/** Best wall-clock rate and least CPU time of the process per event over the counted passes. */
export interface ThroughputFigures {
  eventsPerSec: number;
  /** CPU time (user + system) of the process per event: less sensitive than wall time to other work on the machine. */
  cpuUsPerEvent: number;
}

/** The whole in-memory pipeline at batches of 1,000, best of `runs` passes after a warm-up. */
export async function benchMemoryThroughput(
  lines: readonly string[],
  features: readonly FeatureDefinition[],
  rules: RuleDefinition[],
  runs = 2,
  /** As the service: the rule set version's features go to the store with every batch (docs/features.md). */
  versioned = false,
): Promise<ThroughputFigures> {
  let best = 0;
  let leastCpu = Infinity;
  for (let run = 0; run <= runs; run++) {
    const pipeline = new RiskPipeline(
      new MemoryFeatureStore(features, ENGINE_DEFAULTS.state),
      versioned ? new RuleSetHolder({ version: 1, rules }, [], undefined, features) : new RuleSetHolder({ version: 1, rules }),
      { verdicts: new SerializingSink(), alerts: new CountingAlertPublisher(), rejects: new NdjsonRejectSink(undefined) },
      { alertThreshold: 'MEDIUM', maxEventTimeSkewMs: ENGINE_DEFAULTS.maxEventTimeSkewMs },
    );
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < lines.length; i += 1000) {
      const messages: InboundMessage[] = [];
      for (let j = i; j < Math.min(i + 1000, lines.length); j++) messages.push({ value: lines[j], source: { line: j + 1 } });
      await pipeline.process('bench', messages);
    }
    const seconds = (performance.now() - started) / 1000;
    const { user, system } = process.cpuUsage(cpu);
    // The first pass warms up the JIT and is not counted.
    if (run > 0) {
      best = Math.max(best, lines.length / seconds);
      leastCpu = Math.min(leastCpu, (user + system) / lines.length);
    }
  }
  return { eventsPerSec: best, cpuUsPerEvent: leastCpu };
}
